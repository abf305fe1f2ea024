from datetime import UTC, datetime, timedelta

from postpulse.policy import AccountSettings, BlockSignalKind, classify_failure, freeze_message, freeze_until

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_action_blocked_notice():
    s = classify_failure(
        action_type="like", page_text="Action Blocked. Try Again Later. We restrict certain activity"
    )
    assert s.kind == BlockSignalKind.ACTION_BLOCKED and "block notice" in s.reason


def test_like_that_did_not_stick():
    s = classify_failure(action_type="like", verified_after_reload=False)
    assert s.kind == BlockSignalKind.NOT_PERSISTED and "like did not stick" in s.reason
    assert classify_failure(action_type="like", verified_after_reload=True) is None


def test_repeated_429s():
    assert classify_failure(status_codes=[429, 429]) is None
    assert classify_failure(status_codes=[429, 429, 200]) is None
    s = classify_failure(status_codes=[500, 429, 429, 429], retry_after_seconds=7200)
    assert s.kind == BlockSignalKind.RATE_LIMITED and s.retry_after == timedelta(hours=2)


def test_ordinary_failures_are_not_block_signals():
    assert classify_failure(action_type="like", page_text="Page not found", status_codes=[500, 502]) is None


def test_freeze_until_uses_cool_down_or_longer_retry_after():
    s = AccountSettings.parse({"cool_down_minutes": 60})
    assert freeze_until(NOW, s) == NOW + timedelta(hours=1)
    sig = classify_failure(status_codes=[429] * 3, retry_after_seconds=3 * 3600)
    until = freeze_until(NOW, s, sig)
    assert until == NOW + timedelta(hours=3)
    assert freeze_until(NOW, AccountSettings()) == NOW + timedelta(hours=24)
    msg = freeze_message(sig, until)
    assert "2026-05-01 15:00:00 UTC" in msg and "deferred, not lost" in msg
