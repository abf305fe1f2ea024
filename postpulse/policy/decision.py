"""Policy decisions: the outcome, a stable reason code, and a message a user understands.

Every denial carries a reason code (stable, for code and audit queries) and a message (for
people). ``Decision.audit_event`` says which audit event type the executor records for it:
``rate_limit_hit`` for the rate-limit deferrals, ``policy_block`` for every other denial,
``None`` when allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Outcome = Literal["allow", "defer", "reject"]
OUTCOMES: tuple[str, ...] = ("allow", "defer", "reject")


class ReasonCode(StrEnum):
    """Stable reason codes. ``str`` subclasses: compare and store them as plain strings."""

    ALLOWED = "allowed"
    # request problems (reject)
    UNKNOWN_ACTION_TYPE = "unknown_action_type"
    ACCOUNT_MISMATCH = "account_mismatch"
    # switches and account state
    GLOBAL_PAUSE = "global_pause"  # defer, retry_at None (until resumed)
    ACCOUNT_NOT_AUTHORIZED = "account_not_authorized"  # reject
    ACCOUNT_INACTIVE = "account_inactive"  # defer, retry_at None (until reactivated)
    NEEDS_RELOGIN = "needs_relogin"  # defer, retry_at None (until logged in again)
    ACCOUNT_FROZEN = "account_frozen"  # defer, retry_at = frozen_until
    EXPIRED = "expired"  # reject
    NOT_APPROVED = "not_approved"  # defer, retry_at None (until approved)
    # content
    BLOCKLISTED_USER = "blocklisted_user"  # reject
    BLOCKLISTED_POST = "blocklisted_post"  # reject
    BLOCKLISTED_KEYWORD = "blocklisted_keyword"  # reject
    BLOCKLISTED_DOMAIN = "blocklisted_domain"  # reject
    OPTED_OUT = "opted_out"  # reject (a user-blocklist entry added_by 'opt_out')
    NOT_ALLOWLISTED = "not_allowlisted"  # reject: the account acts only on allowlisted users/tags
    ALREADY_DONE = "already_done"  # reject (idempotency)
    # pacing
    QUIET_HOURS = "quiet_hours"  # defer to the end of quiet hours
    RATE_LIMIT_HOUR = "rate_limit_hour"  # defer until the hour window frees up
    RATE_LIMIT_DAY = "rate_limit_day"  # defer until the day window frees up
    ACTION_TYPE_DISABLED = "action_type_disabled"  # reject: limit set to 0 for this type


#: reason codes audited as ``rate_limit_hit``; every other denial is ``policy_block``.
RATE_LIMIT_REASONS = frozenset({ReasonCode.RATE_LIMIT_HOUR, ReasonCode.RATE_LIMIT_DAY})


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason_code: str
    message: str
    retry_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Decision.outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.outcome != "defer" and self.retry_at is not None:
            raise ValueError("Decision.retry_at is only meaningful for outcome 'defer'")

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def audit_event(self) -> str | None:
        """``None`` (allowed), ``"rate_limit_hit"`` or ``"policy_block"``."""
        if self.outcome == "allow":
            return None
        return "rate_limit_hit" if self.reason_code in RATE_LIMIT_REASONS else "policy_block"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for audit entries and Dagster metadata (no secrets in it)."""
        return {
            "outcome": self.outcome,
            "reason_code": str(self.reason_code),
            "message": self.message,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "details": self.details,
        }

    @classmethod
    def allow(cls, message: str = "Allowed: all policy checks passed.", **details: Any) -> Decision:
        return cls("allow", ReasonCode.ALLOWED, message, None, details)

    @classmethod
    def defer(
        cls, reason_code: str, message: str, retry_at: datetime | None = None, **details: Any
    ) -> Decision:
        return cls("defer", reason_code, message, retry_at, details)

    @classmethod
    def reject(cls, reason_code: str, message: str, **details: Any) -> Decision:
        return cls("reject", reason_code, message, None, details)
