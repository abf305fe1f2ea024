"""The two errors of the mapping layer: a bad mapping file, and a bad value in a record."""

from __future__ import annotations

from postpulse.errors import PostpulseError

from ..counts import BadCount
from ..timeparse import BadTime


class MappingError(PostpulseError):
    """A mapping file is invalid; the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str | None, problem: str):
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem, fix="see postpulse/ingest/mappings/README.md")


class BadValue(ValueError):
    """A present value of the wrong type or shape; becomes a Rejected record."""

    def __init__(self, field: str, value: object, reason: str):
        self.field, self.value, self.reason = field, value, reason
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{field}: {reason} (got {shown})")


BAD_VALUE_ERRORS = (BadValue, BadCount, BadTime)
