"""One alert: what happened, a key that makes it unique, and a link to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "run_failed",
    "account_frozen",
    "session_expired",
    "watch_over_budget",
    "check_failed",
    "checkbacks_overdue",
    "digest",
)
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Alert:
    kind: str
    dedup_key: str  # the same key is never raised twice (e.g. run_failed:<run id>)
    title: str
    body: str = ""
    severity: str = "warning"
    link: str | None = None
    workspace_id: str | None = None
    account_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.dedup_key:
            raise ValueError("an alert needs a dedup_key")

    def text(self) -> str:
        """Plain text for e-mail bodies and chat messages."""
        parts = [self.title]
        if self.body:
            parts.append(self.body)
        if self.link:
            parts.append(self.link)
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.dedup_key,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "link": self.link,
            "workspace_id": self.workspace_id,
            "account_id": self.account_id,
            "details": self.details,
        }
