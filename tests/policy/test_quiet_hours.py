from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from postpulse.policy.quiet_hours import QuietHours, TimezoneError

BERLIN = ZoneInfo("Europe/Berlin")


def local(tz, *args):
    return datetime(*args, tzinfo=tz)


def test_across_midnight():
    qh = QuietHours(True, 22, 7, "Europe/Berlin")
    assert qh.is_quiet(local(BERLIN, 2026, 3, 10, 23, 30))
    assert qh.is_quiet(local(BERLIN, 2026, 3, 10, 3, 0))
    assert qh.is_quiet(local(BERLIN, 2026, 3, 10, 22, 0))
    assert not qh.is_quiet(local(BERLIN, 2026, 3, 10, 7, 0))
    assert not qh.is_quiet(local(BERLIN, 2026, 3, 10, 21, 59))
    # 23:30 -> tomorrow 07:00; 03:00 -> today 07:00
    assert qh.next_allowed_time(local(BERLIN, 2026, 3, 10, 23, 30)) == local(BERLIN, 2026, 3, 11, 7, 0)
    assert qh.next_allowed_time(local(BERLIN, 2026, 3, 10, 3, 0)) == local(BERLIN, 2026, 3, 10, 7, 0)
    noon = local(BERLIN, 2026, 3, 10, 12, 0)
    assert qh.next_allowed_time(noon) == noon


def test_same_day_window_and_account_timezone_default():
    qh = QuietHours(True, 1, 6, None)
    now = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 11:00 in Tokyo, 02:00 UTC
    assert qh.is_quiet(now, None)  # UTC by default
    assert not qh.is_quiet(now, "Asia/Tokyo")
    assert qh.next_allowed_time(now) == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def test_input_in_other_timezone_is_converted():
    qh = QuietHours(True, 22, 7, "America/New_York")
    now = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 00:00 in New York (EDT, UTC-4)
    assert qh.is_quiet(now)
    assert qh.next_allowed_time(now) == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


def test_dst_spring_forward_night_is_one_hour_shorter():
    qh = QuietHours(True, 22, 7, "Europe/Berlin")
    start = local(BERLIN, 2026, 3, 28, 22, 0)  # DST starts 2026-03-29 02:00 -> 03:00
    end = qh.next_allowed_time(start + timedelta(minutes=1))
    assert end == local(BERLIN, 2026, 3, 29, 7, 0)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=8)


def test_dst_fall_back_night_is_one_hour_longer():
    qh = QuietHours(True, 22, 7, "Europe/Berlin")
    start = local(BERLIN, 2026, 10, 24, 22, 0)  # DST ends 2026-10-25 03:00 -> 02:00
    end = qh.next_allowed_time(start)
    assert end.astimezone(BERLIN).hour == 7
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=10)


def test_end_hour_inside_the_skipped_hour():
    # quiet 22 -> 2 on the night 02:00 does not exist: quiet ends at the change (03:00 CEST)
    qh = QuietHours(True, 22, 2, "Europe/Berlin")
    now = local(BERLIN, 2026, 3, 29, 1, 30)
    end = qh.next_allowed_time(now)
    assert end > now
    assert not qh.is_quiet(end)
    assert end == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # == 03:00 CEST


def test_every_minute_of_a_dst_week_is_consistent():
    qh = QuietHours(True, 22, 7, "America/New_York")
    t = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    while t < datetime(2026, 3, 11, tzinfo=UTC):
        n = qh.next_allowed_time(t)
        assert n >= t and not qh.is_quiet(n)
        if qh.is_quiet(t):
            assert n - t <= timedelta(hours=9)
            assert n.astimezone(ZoneInfo("America/New_York")).hour == 7
        t += timedelta(minutes=13)


def test_disabled_and_invalid():
    assert not QuietHours(False, 0, 23).is_quiet(datetime(2026, 1, 1, 3, tzinfo=UTC))
    with pytest.raises(ValueError, match="start_hour"):
        QuietHours(True, 24, 7)
    with pytest.raises(ValueError, match="differ"):
        QuietHours(True, 7, 7)
    with pytest.raises(TimezoneError, match="Nowhere/Land"):
        QuietHours(True, 22, 7, "Nowhere/Land")
    with pytest.raises(ValueError, match="aware"):
        QuietHours().is_quiet(datetime(2026, 1, 1))
