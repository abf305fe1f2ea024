"""Errors meant for the user: one line saying what is wrong and how to fix it."""


class PostpulseError(Exception):
    """An error with a message fit for the user; the CLI prints it and exits non-zero."""

    def __init__(self, message: str, *, fix: str | None = None):
        self.fix = fix
        super().__init__(message if not fix else f"{message} — fix: {fix}")


class StoreUnavailable(PostpulseError):
    pass


class AlreadyRunning(PostpulseError):
    pass


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers add detail lines), else its type name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
