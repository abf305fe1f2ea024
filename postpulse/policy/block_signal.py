"""Block signals from a platform, and the cool-down (freeze) they trigger.

Users' first complaint about automation tools is being blocked for acting too fast. When the
platform signals a block, postpulse stops acting for that account for a cool-down
(``AccountSettings.cool_down_minutes``, default 24 h) and tells the user, instead of retrying
into a ban. ``classify_failure`` recognises three signals:

- ``action_blocked``: the page shows an "action blocked" / "try again later" / "we restrict
  certain activity" notice;
- ``not_persisted``: the action looked done, but after a reload it is not there (a like that
  does not stick is a classic silent block);
- ``rate_limited``: ``REPEATED_429_THRESHOLD`` or more HTTP 429 responses in a row.

The executor freezes the account with ``frozen_until = freeze_until(now, settings, signal)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .rate_limits import fmt_utc
from .settings import AccountSettings

REPEATED_429_THRESHOLD = 3

#: lower-case fragments of the notices platforms show when they block an action
BLOCK_NOTICES: tuple[str, ...] = (
    "action blocked",
    "action was blocked",
    "try again later",
    "we restrict certain activity",
    "we limit how often",
    "temporarily blocked",
    "temporarily restricted",
    "you've been temporarily",
    "you have been temporarily",
    "unusual activity",
    "suspicious activity",
    "too many requests",
    "you're doing that too much",
    "slow down",
    "rate limit exceeded",
    "feature is temporarily unavailable",
)

#: actions whose effect must be visible after a reload
VERIFIABLE_ACTIONS = frozenset(
    {"like", "unlike", "comment", "reply", "follow", "unfollow", "dm_send", "delete_comment", "publish"}
)


class BlockSignalKind(StrEnum):
    ACTION_BLOCKED = "action_blocked"
    NOT_PERSISTED = "not_persisted"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class BlockSignal:
    kind: BlockSignalKind
    reason: str  # for the user and the audit trail
    retry_after: timedelta | None = None  # the platform's own Retry-After, if any
    evidence: dict[str, Any] = field(default_factory=dict)


def classify_failure(
    *,
    action_type: str | None = None,
    page_text: str | None = None,
    status_codes: Sequence[int] = (),
    retry_after_seconds: float | None = None,
    verified_after_reload: bool | None = None,
) -> BlockSignal | None:
    """Is this failure a block signal? ``None`` when it is an ordinary failure.

    - ``page_text``: visible text of the page/toast after the action (or the API error message);
    - ``status_codes``: the HTTP statuses of the latest consecutive attempts, oldest first;
    - ``retry_after_seconds``: the last ``Retry-After`` header, if any;
    - ``verified_after_reload``: False when the action was not visible after a reload.
    """
    if page_text:
        low = page_text.casefold()
        for notice in BLOCK_NOTICES:
            if notice in low:
                return BlockSignal(
                    BlockSignalKind.ACTION_BLOCKED,
                    f'The platform showed a block notice ("{notice}"): it is limiting this '
                    "account's activity.",
                    evidence={"notice": notice},
                )
    trailing_429 = 0
    for code in reversed(status_codes):
        if code != 429:
            break
        trailing_429 += 1
    if trailing_429 >= REPEATED_429_THRESHOLD:
        ra = (
            timedelta(seconds=retry_after_seconds)
            if retry_after_seconds and retry_after_seconds > 0
            else None
        )
        return BlockSignal(
            BlockSignalKind.RATE_LIMITED,
            f"The platform answered 'too many requests' (HTTP 429) {trailing_429} times in a row.",
            retry_after=ra,
            evidence={"consecutive_429": trailing_429},
        )
    if verified_after_reload is False and (action_type is None or action_type in VERIFIABLE_ACTIONS):
        what = action_type or "action"
        return BlockSignal(
            BlockSignalKind.NOT_PERSISTED,
            f"The {what} did not stick: it was gone after reloading the page, which is how "
            "platforms silently block actions.",
            evidence={"action_type": action_type},
        )
    return None


def freeze_until(now: datetime, settings: AccountSettings, signal: BlockSignal | None = None) -> datetime:
    """End of the cool-down: ``now + cool_down_minutes``, or later if the platform asked so."""
    until = now + timedelta(minutes=settings.cool_down_minutes)
    if signal is not None and signal.retry_after is not None:
        until = max(until, now + signal.retry_after)
    return until


def freeze_message(signal: BlockSignal, until: datetime) -> str:
    """What to tell the user when an account is frozen."""
    return (
        f"{signal.reason} postpulse paused all actions of this account until {fmt_utc(until)} "
        "to avoid a ban. Queued actions are deferred, not lost."
    )
