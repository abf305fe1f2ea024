"""Shared CLI helpers: one console, one way to fail."""

from __future__ import annotations

import functools
import sys
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

from postpulse.errors import PostpulseError
from postpulse.safe_text import CONTROL_CODEPOINTS

console = Console()
err_console = Console(stderr=True)


_CONTROL = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in (*CONTROL_CODEPOINTS, *range(0x0A, 0x0E))
}  # and line breaks: one line per message


def plain(text: str) -> str:
    """``text`` safe to show on one terminal line: control characters (a newline, an escape
    sequence in a file name, a bidirectional override) written as ``\\xNN`` / ``\\uNNNN``,
    undecodable bytes of a file name as ``\\udcNN``."""
    text = text.translate(_CONTROL)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero (file names and values in the message
    are never read as markup, and their control characters are shown escaped)."""
    err_console.print(
        f"[bold red]error:[/bold red] {escape(plain(message))}", highlight=False, soft_wrap=True
    )
    sys.exit(code)


def guarded(fn):
    """``fn`` with its user errors (``PostpulseError``) ending the command as one line, exit 1."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PostpulseError as exc:
            fail(str(exc))

    return run


def open_store(*, keep_running: bool = False):
    """The store for a CLI command, with user-facing errors."""
    from postpulse.store.database import connect_store

    return connect_store(keep_running=keep_running)
