"""Errors of the publishing area: one line naming the item, variant or row and the fix."""

from __future__ import annotations

from postpulse.errors import PostpulseError


class PublishingError(PostpulseError):
    pass


class NotFound(PublishingError):
    pass


class InvalidTransition(PublishingError):
    pass


class MediaError(PublishingError):
    pass


class ValidationFailed(PublishingError):
    """One or more rules broken; ``problems`` lists every one (the message shows the first)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more, fix="edit the item or the variant, then schedule again")
