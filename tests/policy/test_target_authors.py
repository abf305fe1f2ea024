"""The policy on the people an action touches: the author of the targeted post or replied-to
comment (not only the name given with the action), and the per-account allowlist mode."""

from datetime import UTC, datetime

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
    SettingsError,
    opt_out_entry_for,
)

NOON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def account(settings=None):
    return AccountState(
        account_id="acc-1",
        platform="x",
        is_authorized=True,
        is_active=True,
        settings=AccountSettings.parse({"quiet_hours": None, **(settings or {})}),
        timezone="UTC",
    )


def request(**kw):
    base = dict(
        action_id="act-1",
        account_id="acc-1",
        platform="x",
        action_type="like",
        target_type="post",
        target_id="P1",
        approved=True,
    )
    base.update(kw)
    return ActionRequest(**base)


@pytest.fixture
def engine():
    bl = Blocklist([BlocklistEntry("user", "spammer", id="blk-1"), opt_out_entry_for("x", "quitter")])
    return PolicyEngine(bl, usage=InMemoryUsageCounter(), idempotency=InMemoryIdempotency())


@pytest.mark.parametrize("action_type", ["like", "comment"])
def test_opted_out_author_of_the_post_is_refused(engine, action_type):
    params = {"text": "nice"} if action_type == "comment" else {}
    d = engine.decide(
        request(action_type=action_type, target_authors=("Quitter",), params=params), account(), NOON
    )
    assert d.outcome == "reject" and d.reason_code == ReasonCode.OPTED_OUT
    assert d.details["field"] == "target_author"
    # the same request without the author passes: the author is what decides
    assert engine.decide(request(action_type=action_type, params=params), account(), NOON).allowed


def test_reply_to_a_blocklisted_commenter_is_refused(engine):
    r = request(
        action_type="reply",
        target_type="comment",
        target_id="C1",
        target_authors=("spammer", "friend"),
        params={"text": "thanks"},
    )
    d = engine.decide(r, account(), NOON)
    assert d.reason_code == ReasonCode.BLOCKLISTED_USER and "author of the target" in d.message


def test_named_user_and_author_are_both_checked(engine):
    d = engine.decide(request(target_username="friend", target_authors=("@quitter",)), account(), NOON)
    assert d.reason_code == ReasonCode.OPTED_OUT


ALLOW = {"allowlist": {"users": ["@Ana"], "tags": ["#Customers"]}}


def test_allowlist_admits_users_and_tags_only(engine):
    acc = account(ALLOW)
    assert engine.decide(request(target_authors=("ana",)), acc, NOON).allowed
    assert engine.decide(request(target_authors=("bo",), target_tags=("customers",)), acc, NOON).allowed
    d = engine.decide(request(target_authors=("bo",)), acc, NOON)
    assert d.outcome == "reject" and d.reason_code == ReasonCode.NOT_ALLOWLISTED
    assert "@ana" in d.message and "@bo" in d.message
    # a follow: the named user counts
    assert engine.decide(
        request(action_type="follow", target_type="user", target_username="ana"), acc, NOON
    ).allowed
    # for a post, a name given by hand does not open the allowlist
    d = engine.decide(request(target_username="ana", target_authors=("bo",)), acc, NOON)
    assert d.reason_code == ReasonCode.NOT_ALLOWLISTED


def test_allowlist_waits_for_an_unknown_author_and_spares_our_own_actions(engine):
    acc = account(ALLOW)
    assert engine.decide(request(author_pending=True), acc, NOON).allowed  # checked before acting
    assert engine.check_target(request(target_authors=("bo",)), acc, NOON) is not None
    assert engine.decide(request(action_type="unlike", target_authors=("bo",)), acc, NOON).allowed
    pub = request(action_type="publish", target_type="publication", params={"text": "hello"})
    assert engine.decide(pub, acc, NOON).allowed


def test_blocklist_wins_over_allowlist(engine):
    acc = account({"allowlist": {"users": ["quitter"]}})
    assert engine.decide(request(target_authors=("quitter",)), acc, NOON).reason_code == ReasonCode.OPTED_OUT


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"allowlist": {"user": ["a"]}}, "allowlist.user"),
        ({"allowlist": {"users": "ana"}}, "allowlist.users"),
        ({"allowlist": {"tags": [""]}}, "allowlist.tags"),
        ({"allowlist": []}, "allowlist"),
    ],
)
def test_allowlist_settings_are_validated(bad, key):
    with pytest.raises(SettingsError) as err:
        AccountSettings.parse(bad)
    assert err.value.key == key


def test_allowlist_round_trips():
    s = AccountSettings.parse(ALLOW)
    assert s.allowlist.enabled and AccountSettings.parse(s.to_dict()).allowlist == s.allowlist
    assert not AccountSettings.parse({}).allowlist.enabled
