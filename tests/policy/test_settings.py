import json

import pytest

from postpulse.policy.actions import ACTION_TYPES
from postpulse.policy.settings import (
    DEFAULT_RATE_LIMITS,
    AccountSettings,
    RateLimit,
    SettingsError,
    auto_approves,
)


def test_defaults_are_conservative_and_cover_every_action_type():
    s = AccountSettings.parse(None)
    assert set(s.rate_limits) == set(ACTION_TYPES)
    for action, limit in s.rate_limits.items():
        assert 0 < limit.per_hour <= 20, action
        assert limit.per_hour <= limit.per_day <= 200, action
    assert s.limit_for("like") == RateLimit(20, 200)
    assert s.limit_for("dm_send") == RateLimit(5, 30)
    assert s.limit_for("publish") == RateLimit(2, 10)
    assert not any(s.auto_approve.values())
    assert s.quiet_hours.enabled and (s.quiet_hours.start_hour, s.quiet_hours.end_hour) == (23, 7)
    assert s.cool_down_minutes == 24 * 60
    assert AccountSettings.parse({}) == s == AccountSettings.parse("null")


def test_camel_case_settings_shape():
    raw = {
        "rateLimit": {"likesPerHour": 12, "commentsPerHour": 3, "dmsPerHour": 2, "likesPerDay": 90},
        "quietHours": {"enabled": True, "startHour": 22, "endHour": 7, "timezone": "Europe/Berlin"},
        "autoApprove": {"likes": True, "comments": False, "dms": False},
    }
    s = AccountSettings.parse(json.dumps(raw))
    assert s.limit_for("like") == RateLimit(12, 90)
    assert s.limit_for("comment") == RateLimit(3, DEFAULT_RATE_LIMITS["comment"].per_day)
    assert s.limit_for("dm_send").per_hour == 2
    assert s.limit_for("follow") == DEFAULT_RATE_LIMITS["follow"]
    assert (s.quiet_hours.start_hour, s.quiet_hours.end_hour, s.quiet_hours.timezone) == (
        22,
        7,
        "Europe/Berlin",
    )
    assert auto_approves(s, "like") and not auto_approves(s, "comment") and not auto_approves(s, "follow")


def test_camel_null_quiet_hours_turns_them_off():
    assert AccountSettings.parse({"quietHours": None}).quiet_hours.enabled is False


def test_snake_case_shape_round_trips():
    raw = {
        "rate_limits": {"like": {"per_hour": 5}, "follow": {"per_hour": 3, "per_day": 20}},
        "quiet_hours": {"enabled": False, "start_hour": 1, "end_hour": 6},
        "auto_approve": {"like": True},
        "cool_down_minutes": 90,
        "something_else": {"kept": True},
    }
    s = AccountSettings.parse(raw)
    assert s.limit_for("like") == RateLimit(5, 200)
    assert s.limit_for("follow") == RateLimit(3, 20)
    assert s.quiet_hours.enabled is False
    assert s.auto_approves("like") and not s.auto_approves("dm_send")
    assert s.cool_down_minutes == 90
    assert s.unknown_keys == ("something_else",)
    again = AccountSettings.parse(s.to_dict())
    assert again.rate_limits == s.rate_limits and again.quiet_hours == s.quiet_hours


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"rate_limits": {"like": {"per_hour": -1}}}, "rate_limits.like.per_hour"),
        ({"rate_limits": {"like": {"per_hour": "ten"}}}, "rate_limits.like.per_hour"),
        ({"rate_limits": {"like": {"per_hour": True}}}, "rate_limits.like.per_hour"),
        ({"rate_limits": {"like": {"per_day": 10**9}}}, "rate_limits.like.per_day"),
        ({"rate_limits": {"like": {"perHour": 3}}}, "rate_limits.like.perHour"),
        ({"rate_limits": {"likes": {"per_hour": 3}}}, "rate_limits.likes"),
        ({"rateLimit": {"likesPerMinute": 3}}, "rateLimit.likesPerMinute"),
        ({"quietHours": {"startHour": 25}}, "quietHours.startHour"),
        ({"quietHours": {"timezone": "Mars/Olympus"}}, "quietHours.timezone"),
        ({"quiet_hours": {"start_hour": 5, "end_hour": 5}}, "quiet_hours.end_hour"),
        ({"quiet_hours": {"enabled": "yes"}}, "quiet_hours.enabled"),
        ({"autoApprove": {"hugs": True}}, "autoApprove.hugs"),
        ({"auto_approve": {"like": "true"}}, "auto_approve.like"),
        ({"cool_down_minutes": 0}, "cool_down_minutes"),
        ({"rate_limits": {}, "rateLimit": {}}, "rateLimit"),
        ("{not json", "(root)"),
        ([1, 2], "(root)"),
    ],
)
def test_invalid_settings_name_the_key(raw, key):
    with pytest.raises(SettingsError) as info:
        AccountSettings.parse(raw, source="accounts.settings of acc-1234abcd")
    assert info.value.key == key
    assert repr(key) in str(info.value)
    assert "acc-1234abcd" in str(info.value)
