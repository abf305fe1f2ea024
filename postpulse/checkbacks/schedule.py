"""Check-back schedules: when a tracked post is fetched again.

A schedule is a list of offsets after the post's publication (``1h``, ``6h``, ``24h``, ``72h``,
``7d``, ``30d``). The schedule in force for a post is, first match wins:

1. the post's own ``posts.check_schedule`` (non-empty JSON array of offsets),
2. its account's ``accounts.settings.check_schedule``,
3. the platform default in :data:`DEFAULT_SCHEDULES`.

Slot *k* falls at ``anchor + offset_k`` where the anchor is ``posted_at`` (or, when unknown,
``tracking_started_at``). After a check at time *t* every slot at or before *t* counts as done
(overdue slots after downtime are collapsed into that one check, never replayed one by one);
``next_check_at`` is the first slot after *t*; when none is left, tracking is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from postpulse.errors import PostpulseError

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_OFFSET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)

STANDARD = ("1h", "6h", "24h", "72h", "7d", "30d")
DEFAULT_SCHEDULES: dict[str, tuple[str, ...]] = {
    "tiktok": STANDARD,
    "instagram": STANDARD,
    "threads": STANDARD,
    "x": ("1h", "6h", "24h", "72h", "7d"),  # tweets decay fastest
    "linkedin": ("6h", "24h", "72h", "7d", "30d"),  # LinkedIn posts keep growing for weeks
    "facebook": STANDARD,
    "youtube": ("6h", "24h", "72h", "7d", "30d"),
}

# A failed fetch is retried after 5 min, 10 min, 20 min, ... at most 6 h later.
BACKOFF_BASE_S = 300
BACKOFF_MAX_S = 6 * 3600


class ScheduleError(PostpulseError):
    pass


def parse_offset(value: str | int | float) -> int:
    """``"6h"`` -> 21600 seconds; plain numbers are seconds."""
    if isinstance(value, bool):
        raise ScheduleError(f"check-back offset {value!r} is not a duration", fix="use e.g. 1h, 24h, 7d")
    if isinstance(value, (int, float)):
        seconds = int(value)
    else:
        m = _OFFSET_RE.match(str(value))
        if not m:
            raise ScheduleError(
                f"check-back offset {value!r} is not a duration",
                fix="use a number with a unit: 30m, 1h, 24h, 7d, 2w",
            )
        seconds = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if seconds <= 0 or seconds > 5 * 365 * 86400:
        raise ScheduleError(f"check-back offset {value!r} must be between 1 s and 5 years")
    return seconds


def parse_schedule(spec: str | Iterable[str | int | float] | None) -> list[str]:
    """A normalized schedule (sorted, unique offsets as given) from ``"1h,24h,7d"`` or a list."""
    if spec is None:
        return []
    items = [s for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec)
    pairs = sorted(
        {parse_offset(s): (s.strip() if isinstance(s, str) else f"{int(s)}s") for s in items}.items()
    )
    return [label for _, label in pairs]


def offsets_seconds(schedule: Sequence[str | int | float]) -> list[int]:
    return sorted({parse_offset(s) for s in schedule})


def resolve_schedule(
    platform: str, post_schedule: Sequence | None = None, account_settings: dict | None = None
) -> list[str]:
    """The schedule in force: post's own, else the account's, else the platform default."""
    if post_schedule:
        return list(post_schedule)
    acc = (account_settings or {}).get("check_schedule") if isinstance(account_settings, dict) else None
    if acc:
        return parse_schedule(acc)
    return list(DEFAULT_SCHEDULES.get(platform, STANDARD))


@dataclass(frozen=True, slots=True)
class SlotState:
    checks_completed: int
    next_check_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.next_check_at is None


def slot_state(offsets: Sequence[int], anchor: datetime, checked_at: datetime) -> SlotState:
    """After a check at ``checked_at``: slots done (all at or before it) and the next slot."""
    done = 0
    for off in offsets:
        if anchor + timedelta(seconds=off) <= checked_at:
            done += 1
        else:
            return SlotState(done, anchor + timedelta(seconds=off))
    return SlotState(done, None)


def start_state(offsets: Sequence[int], anchor: datetime, now: datetime) -> SlotState:
    """When tracking starts at ``now`` (a snapshot was just taken): same rule as after a check."""
    return slot_state(offsets, anchor, now)


def backoff(failures: int) -> timedelta:
    """Delay before retrying a failed fetch, after ``failures`` consecutive failures (>= 1)."""
    return timedelta(seconds=min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, min(failures - 1, 20))))
