from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from postpulse.policy import (
    AccountSettings,
    AccountState,
    ActionRequest,
    Blocklist,
    BlocklistEntry,
    InMemoryIdempotency,
    InMemoryUsageCounter,
    PolicyEngine,
    ReasonCode,
    auto_approves,
    opt_out_entry_for,
    text_hash,
)

NOON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # a Monday, outside default quiet hours (UTC)


def account(**kw):
    base = dict(
        account_id="acc-1",
        platform="instagram",
        is_authorized=True,
        is_active=True,
        settings=AccountSettings.parse({"quiet_hours": {"enabled": True, "start_hour": 22, "end_hour": 7}}),
        timezone="UTC",
    )
    base.update(kw)
    return AccountState(**base)


def request(**kw):
    base = dict(
        action_id="act-1",
        account_id="acc-1",
        platform="instagram",
        action_type="like",
        target_type="post",
        target_id="P1",
        target_username="someone",
        approved=True,
    )
    base.update(kw)
    return ActionRequest(**base)


@pytest.fixture
def parts():
    usage = InMemoryUsageCounter()
    idem = InMemoryIdempotency()
    bl = Blocklist(
        [
            BlocklistEntry("user", "spammer", reason="spam account", id="blk-1"),
            BlocklistEntry("keyword", "giveaway", id="blk-2"),
            BlocklistEntry("domain", "evil.org", id="blk-3"),
            BlocklistEntry("post", "PBAD", id="blk-4"),
            opt_out_entry_for("instagram", "quitter"),
        ]
    )
    return bl, usage, idem


@pytest.fixture
def engine(parts):
    bl, usage, idem = parts
    return PolicyEngine(bl, usage=usage, idempotency=idem)


def test_allowed(engine):
    d = engine.decide(request(), account(), NOON)
    assert d.outcome == "allow" and d.reason_code == ReasonCode.ALLOWED and d.audit_event is None
    assert d.details["action_id"] == "act-1"


def test_global_pause_comes_first(parts):
    bl, usage, idem = parts
    e = PolicyEngine(bl, usage=usage, idempotency=idem, global_paused=True)
    d = e.decide(request(target_username="spammer"), account(is_authorized=False), NOON)
    assert (d.outcome, d.reason_code, d.retry_at) == ("defer", ReasonCode.GLOBAL_PAUSE, None)
    assert d.audit_event == "policy_block"


@pytest.mark.parametrize(
    "req, acc, outcome, code",
    [
        ({"action_type": "poke"}, {}, "reject", ReasonCode.UNKNOWN_ACTION_TYPE),
        ({"account_id": "acc-2"}, {}, "reject", ReasonCode.ACCOUNT_MISMATCH),
        ({}, {"is_authorized": False}, "reject", ReasonCode.ACCOUNT_NOT_AUTHORIZED),
        ({"expires_at": NOON}, {}, "reject", ReasonCode.EXPIRED),
        ({"target_username": "@Spammer"}, {}, "reject", ReasonCode.BLOCKLISTED_USER),
        (
            {"target_username": "quitter", "action_type": "dm_send", "params": {"text": "hi"}},
            {},
            "reject",
            ReasonCode.OPTED_OUT,
        ),
        ({"target_username": "quitter"}, {}, "reject", ReasonCode.OPTED_OUT),
        ({"target_id": "PBAD"}, {}, "reject", ReasonCode.BLOCKLISTED_POST),
        ({"target_text": "Huge GIVEAWAY today"}, {}, "reject", ReasonCode.BLOCKLISTED_KEYWORD),
        ({"target_url": "https://www.evil.org/p/1"}, {}, "reject", ReasonCode.BLOCKLISTED_DOMAIN),
        ({}, {"is_active": False}, "defer", ReasonCode.ACCOUNT_INACTIVE),
        ({}, {"needs_relogin": True}, "defer", ReasonCode.NEEDS_RELOGIN),
        ({"approved": False}, {}, "defer", ReasonCode.NOT_APPROVED),
    ],
)
def test_denials(engine, req, acc, outcome, code):
    d = engine.decide(request(**req), account(**acc), NOON)
    assert (d.outcome, d.reason_code) == (outcome, code)
    assert d.message and len(d.message) > 20
    assert d.audit_event == "policy_block"
    if outcome == "reject":
        assert d.retry_at is None


def test_blocklist_details_name_the_entry(engine):
    d = engine.decide(request(target_username="spammer"), account(), NOON)
    assert d.details["entry_id"] == "blk-1" and d.details["entry_type"] == "user"
    assert "spam account" in d.message and "blk-1" in d.message


def test_opt_out_message_and_no_dm_text_in_details(engine):
    d = engine.decide(
        request(target_username="quitter", action_type="dm_send", params={"text": "secret words"}),
        account(),
        NOON,
    )
    assert "opted out" in d.message
    assert "secret words" not in repr(d.to_dict())


def test_auto_approve(engine):
    s = AccountSettings.parse({"autoApprove": {"likes": True}, "quietHours": None})
    assert auto_approves(s, "like") and not auto_approves(s, "follow")
    assert engine.decide(request(approved=False), account(settings=s), NOON).outcome == "allow"
    assert (
        engine.decide(
            request(approved=False, action_type="follow", target_id="u9"), account(settings=s), NOON
        ).reason_code
        == ReasonCode.NOT_APPROVED
    )


def test_frozen_account_defers_to_frozen_until(engine):
    until = NOON + timedelta(hours=5)
    d = engine.decide(request(), account(frozen_until=until, frozen_reason="action blocked notice"), NOON)
    assert (d.outcome, d.reason_code, d.retry_at) == ("defer", ReasonCode.ACCOUNT_FROZEN, until)
    assert "action blocked notice" in d.message
    assert engine.decide(request(), account(frozen_until=NOON - timedelta(seconds=1)), NOON).allowed


def test_quiet_hours_in_account_timezone(engine):
    # 12:00 UTC is 21:00 in Tokyo (outside 22-7), 13:30 UTC is 22:30 (inside)
    acc = account(timezone="Asia/Tokyo")
    assert engine.decide(request(), acc, NOON).allowed
    d = engine.decide(request(), acc, NOON + timedelta(hours=1, minutes=30))
    assert (d.outcome, d.reason_code) == ("defer", ReasonCode.QUIET_HOURS)
    assert d.retry_at == datetime(2026, 5, 4, 22, 0, tzinfo=UTC)  # 07:00 Tokyo next day
    assert "Asia/Tokyo" in d.message


def test_rate_limits_and_audit_event(parts):
    bl, usage, idem = parts
    e = PolicyEngine(bl, usage=usage, idempotency=idem)
    s = AccountSettings.parse({"rate_limits": {"like": {"per_hour": 2, "per_day": 3}}, "quiet_hours": None})
    acc = account(settings=s)
    usage.record("acc-1", "like", NOON - timedelta(minutes=30))
    usage.record("acc-1", "like", NOON - timedelta(minutes=20))
    d = e.decide(request(target_id="P2"), acc, NOON)
    assert (d.reason_code, d.audit_event) == (ReasonCode.RATE_LIMIT_HOUR, "rate_limit_hit")
    assert d.retry_at == NOON + timedelta(minutes=30, seconds=1)
    assert d.details["limit"] == 2 and d.details["action_id"] == "act-1"
    usage.record("acc-1", "like", NOON - timedelta(hours=3))
    d = e.decide(request(target_id="P2"), acc, NOON)
    assert d.reason_code == ReasonCode.RATE_LIMIT_DAY
    assert d.retry_at == NOON + timedelta(hours=21, seconds=1)
    # other action types and accounts are counted separately
    assert e.decide(request(action_type="follow", target_id="u1"), acc, NOON).allowed


def test_limit_zero_disables_the_type(engine):
    s = AccountSettings.parse({"rate_limits": {"dm_send": {"per_hour": 0}}})
    d = engine.decide(request(action_type="dm_send", params={"text": "x"}), account(settings=s), NOON)
    assert (d.outcome, d.reason_code) == ("reject", ReasonCode.ACTION_TYPE_DISABLED)


def test_idempotency(parts):
    bl, usage, idem = parts
    e = PolicyEngine(bl, usage=usage, idempotency=idem)
    idem.record_success("acc-1", "like", "P1")
    idem.record_success("acc-1", "comment", "P1", text_hash("Nice shot!"))
    d = e.decide(request(), account(), NOON)
    assert (d.outcome, d.reason_code) == ("reject", ReasonCode.ALREADY_DONE)
    assert e.decide(request(target_id="P2"), account(), NOON).allowed
    c = request(action_type="comment", params={"text": "  nice   SHOT! "})
    assert e.decide(c, account(), NOON).reason_code == ReasonCode.ALREADY_DONE
    assert e.decide(replace(c, params={"text": "Love the light"}), account(), NOON).allowed
    # unlike is not idempotency-checked
    assert e.decide(request(action_type="unlike"), account(), NOON).allowed


def test_deferral_past_expiry_is_rejected_as_expired(engine):
    d = engine.decide(request(expires_at=NOON + timedelta(hours=1)), account(), NOON.replace(hour=23))
    # 23:00 is quiet until 07:00, after the expiry
    assert d.outcome == "reject"
    d2 = engine.decide(request(expires_at=NOON.replace(hour=23, minute=30)), account(), NOON.replace(hour=23))
    assert (d2.outcome, d2.reason_code) == ("reject", ReasonCode.EXPIRED)
    assert d2.details["deferred_reason"] == ReasonCode.QUIET_HOURS


def test_naive_now_is_refused(engine):
    with pytest.raises(ValueError, match="aware"):
        engine.decide(request(), account(), datetime(2026, 1, 1))


def test_decision_to_dict_is_json_ready(engine):
    import json

    d = engine.decide(request(), account(frozen_until=NOON + timedelta(hours=1)), NOON)
    out = json.loads(json.dumps(d.to_dict()))
    assert out["reason_code"] == "account_frozen" and out["retry_at"].startswith("2026-05-04T13:00")
