"""The small value types a compiled mapping is made of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .paths import Getter


@dataclass(slots=True)
class BuildContext:
    format: str
    file_captured_at: datetime | None = None
    """Capture time carried by the file's own data (e.g. TikTok ``extra.now``)."""
    reference_time: datetime | None = None
    """For relative times: file-name capture time, else the caller's ``captured_at``."""
    mappings: Any = None
    """The MappingSet in use (expanders build nested records with other mappings)."""


@dataclass(slots=True)
class MediaSpec:
    path: Getter
    fields: dict[str, Any]
    skip_if: Getter | None


@dataclass(slots=True)
class CommentSpec:
    path: Getter | None
    fields: dict[str, Any]
    author: dict[str, Any]
    replies: Getter | None
