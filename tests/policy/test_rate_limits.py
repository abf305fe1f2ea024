from datetime import UTC, datetime, timedelta

from postpulse.policy.decision import ReasonCode
from postpulse.policy.rate_limits import (
    InMemoryUsageCounter,
    UsageCounter,
    WindowedUsageCounter,
    check_rate_limits,
)
from postpulse.policy.settings import RateLimit

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_in_memory_counter_is_windowed_protocol():
    c = InMemoryUsageCounter()
    assert isinstance(c, UsageCounter) and isinstance(c, WindowedUsageCounter)
    for m in (5, 10, 70):
        c.record("acc-1", "like", NOW - timedelta(minutes=m))
    assert c.count_actions("acc-1", "like", NOW - timedelta(hours=1)) == 2
    assert c.count_actions("acc-1", "like", NOW - timedelta(days=1)) == 3
    assert c.count_actions("acc-1", "follow", NOW - timedelta(days=1)) == 0
    assert c.oldest_action_in_window("acc-1", "like", NOW - timedelta(hours=1)) == NOW - timedelta(minutes=10)
    assert c.oldest_action_in_window("acc-1", "like", NOW - timedelta(hours=1), 1) == NOW - timedelta(
        minutes=5
    )
    assert c.oldest_action_in_window("acc-1", "like", NOW - timedelta(hours=1), 2) is None


def test_under_limit_is_none():
    c = InMemoryUsageCounter()
    for m in range(2):
        c.record("a", "like", NOW - timedelta(minutes=m + 1))
    assert check_rate_limits(c, "a", "like", RateLimit(3, 10), NOW) is None


def test_hour_limit_defers_until_oldest_leaves_window():
    c = InMemoryUsageCounter()
    for m in (50, 40, 30):
        c.record("a", "like", NOW - timedelta(minutes=m))
    d = check_rate_limits(c, "a", "like", RateLimit(3, 10), NOW)
    assert d is not None and d.outcome == "defer" and d.reason_code == ReasonCode.RATE_LIMIT_HOUR
    assert d.audit_event == "rate_limit_hit"
    assert d.retry_at == NOW + timedelta(minutes=10, seconds=1)
    assert d.details == {"window": "hour", "count": 3, "limit": 3}
    # at retry_at the window really has room
    assert check_rate_limits(c, "a", "like", RateLimit(3, 10), d.retry_at) is None
    assert "Hourly limit" in d.message


def test_over_limit_after_lowering_it_waits_for_enough_to_age_out():
    c = InMemoryUsageCounter()
    for m in (55, 45, 35, 25, 15):
        c.record("a", "like", NOW - timedelta(minutes=m))
    d = check_rate_limits(c, "a", "like", RateLimit(2, 100), NOW)
    # 5 in window, limit 2: room once 4 have aged out -> the 4th oldest (25 min ago) + 1 h
    assert d.retry_at == NOW + timedelta(minutes=35, seconds=1)
    assert check_rate_limits(c, "a", "like", RateLimit(2, 100), d.retry_at) is None


def test_day_limit():
    c = InMemoryUsageCounter()
    for h in (20, 15, 10, 5):
        c.record("a", "follow", NOW - timedelta(hours=h))
    d = check_rate_limits(c, "a", "follow", RateLimit(10, 4), NOW)
    assert d.reason_code == ReasonCode.RATE_LIMIT_DAY
    assert d.retry_at == NOW + timedelta(hours=4, seconds=1)
    assert "Daily limit" in d.message


class CountOnly:
    """A UsageCounter without oldest_action_in_window: retry falls back to now + window."""

    def __init__(self, n):
        self.n = n
        self.calls = []

    def count_actions(self, account_id, action_type, since):
        self.calls.append(since)
        return self.n


def test_fallback_retry_is_now_plus_window():
    c = CountOnly(7)
    d = check_rate_limits(c, "a", "dm_send", RateLimit(5, 30), NOW)
    assert d.reason_code == ReasonCode.RATE_LIMIT_HOUR and d.retry_at == NOW + timedelta(hours=1)
    d = check_rate_limits(CountOnly(30), "a", "dm_send", RateLimit(5, 30), NOW)
    assert d.reason_code == ReasonCode.RATE_LIMIT_DAY and d.retry_at == NOW + timedelta(days=1)


def test_hour_query_skipped_when_day_count_is_below_hour_limit():
    c = CountOnly(3)
    assert check_rate_limits(c, "a", "like", RateLimit(20, 200), NOW) is None
    assert c.calls == [NOW - timedelta(days=1)]
