"""Rate limits per account and action type over sliding 1-hour and 24-hour windows.

Counts come from a ``UsageCounter`` (the database implementation counts successful and
in-progress attempts in ``action_attempts``, so limits hold across processes and machines).
Sliding windows rather than calendar hours/days: a calendar window lets a burst straddle
midnight at twice the daily limit.

When a window is full, the action is deferred to the moment the window has room again: if the
counter also implements ``WindowedUsageCounter.oldest_action_in_window``, that is exactly when
the oldest action that must age out leaves the window; otherwise ``now + window`` (safe, late).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from .decision import Decision, ReasonCode
from .settings import RateLimit

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: added to the computed free-up instant so that the retry lands strictly after it
RETRY_MARGIN = timedelta(seconds=1)


def fmt_utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@runtime_checkable
class UsageCounter(Protocol):
    def count_actions(self, account_id: str, action_type: str, since: datetime) -> int:
        """Actions of this type by this account at or after ``since`` (success + in progress)."""
        ...


@runtime_checkable
class WindowedUsageCounter(UsageCounter, Protocol):
    def oldest_action_in_window(
        self, account_id: str, action_type: str, since: datetime, offset: int = 0
    ) -> datetime | None:
        """Time of the ``offset``-th (0-based) oldest counted action at or after ``since``.

        SQL: ``... WHERE attempted_at >= :since ORDER BY attempted_at OFFSET :offset LIMIT 1``.
        """
        ...


class InMemoryUsageCounter:
    """A ``WindowedUsageCounter`` in process memory: for tests, the benchmark, dry runs.

    Not for production: in-memory counts do not hold across processes; the
    executor counts attempts in the store under an advisory lock instead.
    """

    def __init__(self) -> None:
        self._times: dict[tuple[str, str], list[datetime]] = defaultdict(list)

    def record(self, account_id: str, action_type: str, at: datetime) -> None:
        bisect.insort(self._times[(account_id, action_type)], at)

    def count_actions(self, account_id: str, action_type: str, since: datetime) -> int:
        times = self._times.get((account_id, action_type))
        if not times:
            return 0
        return len(times) - bisect.bisect_left(times, since)

    def oldest_action_in_window(
        self, account_id: str, action_type: str, since: datetime, offset: int = 0
    ) -> datetime | None:
        times = self._times.get((account_id, action_type), [])
        i = bisect.bisect_left(times, since) + offset
        return times[i] if i < len(times) else None


def _retry_at(
    usage: UsageCounter,
    account_id: str,
    action_type: str,
    now: datetime,
    window: timedelta,
    count: int,
    limit: int,
) -> datetime:
    since = now - window
    oldest = getattr(usage, "oldest_action_in_window", None)
    if oldest is not None:
        # room for one more once (count - limit + 1) actions have left the window
        t = oldest(account_id, action_type, since, count - limit)
        if t is not None:
            return max(t + window + RETRY_MARGIN, now + RETRY_MARGIN)
    return now + window


def check_rate_limits(
    usage: UsageCounter, account_id: str, action_type: str, limit: RateLimit, now: datetime
) -> Decision | None:
    """A deferral when the day or the hour window is full, else None."""
    day_count = usage.count_actions(account_id, action_type, now - DAY)
    if day_count >= limit.per_day:
        retry = _retry_at(usage, account_id, action_type, now, DAY, day_count, limit.per_day)
        return Decision.defer(
            ReasonCode.RATE_LIMIT_DAY,
            f"Daily limit reached: {day_count} of {limit.per_day} {action_type} actions in the last "
            f"24 hours for this account. Deferred to {fmt_utc(retry)}, when the window "
            "has room again. Raise the limit in the account settings only if you are sure.",
            retry,
            window="day",
            count=day_count,
            limit=limit.per_day,
        )
    # the hour count never exceeds the day count: skip the query when it cannot reach the limit
    hour_count = (
        usage.count_actions(account_id, action_type, now - HOUR) if day_count >= limit.per_hour else 0
    )
    if hour_count >= limit.per_hour:
        retry = _retry_at(usage, account_id, action_type, now, HOUR, hour_count, limit.per_hour)
        return Decision.defer(
            ReasonCode.RATE_LIMIT_HOUR,
            f"Hourly limit reached: {hour_count} of {limit.per_hour} {action_type} actions in the "
            f"last hour for this account. Deferred to {fmt_utc(retry)}.",
            retry,
            window="hour",
            count=hour_count,
            limit=limit.per_hour,
        )
    return None
