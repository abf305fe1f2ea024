"""The world: determinism, the login rule, growth curves, scheduled posts, state changes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from postpulse.sandbox.formats import item_for
from postpulse.sandbox.world import METRICS, PLATFORMS, WorldError, build_world, our_accounts, password_for

from .conftest import FIXED_NOW, small_world


def _dump(world) -> str:
    items = {
        p: [
            item_for(world, post, FIXED_NOW, "http://sandbox.test")
            for post in world.visible_posts(p, FIXED_NOW)
        ]
        for p in PLATFORMS
    }
    return json.dumps({"summary": world.summary(), "items": items}, sort_keys=True)


def test_same_inputs_give_identical_world_and_json():
    a = build_world(seed=11, profiles=5, posts_per_profile=4, now=FIXED_NOW)
    b = build_world(seed=11, profiles=5, posts_per_profile=4, now=FIXED_NOW)
    assert _dump(a) == _dump(b)
    c = build_world(seed=12, profiles=5, posts_per_profile=4, now=FIXED_NOW)
    assert _dump(a) != _dump(c)


def test_default_world_shape_and_accounts():
    w = build_world(now=FIXED_NOW)
    assert (w.seed, w.profiles_per_platform, w.posts_per_profile) == (7, 8, 6)
    for p in PLATFORMS:
        ours = our_accounts(p)
        assert ours == [f"demo_{p}", f"demo2_{p}"]
        assert all(w.profiles[p][u].is_ours for u in ours)
        assert len([x for x in w.profiles[p].values() if not x.is_ours]) == 8
        visible = w.visible_posts(p, FIXED_NOW)
        assert len(visible) == 10 * 6  # 8 profiles + 2 of ours, 6 posts each
        assert all(FIXED_NOW - timedelta(days=14) <= x.posted_at <= FIXED_NOW for x in visible)
        assert any(x.hashtags for x in visible) and any(x.mentions for x in visible)
        if p in ("instagram", "tiktok"):
            assert all(x.media for x in visible)
        assert any(c.parent_id for c in w.comments[p].values()), "some comments have replies"
        assert w.threads_of(p, f"demo_{p}"), "our account has DM threads"
        assert w.following_of(p, f"demo_{p}")
    assert password_for("demo_x") == "sandbox-demo_x" == w.profiles["x"]["demo_x"].password


def test_growth_curve_is_monotone_fast_then_flat():
    w = small_world()
    for p in PLATFORMS:
        for post in w.visible_posts(p, FIXED_NOW)[:5]:
            t0 = post.posted_at
            grid = [t0 + timedelta(minutes=m) for m in range(-60, 60 * 24 * 30, 97)]
            series = [w.metrics(post, t) for t in grid]
            for name in METRICS[p]:
                if name not in series[0]:
                    continue
                values = [s[name] for s in series]
                assert values == sorted(values), f"{p} {name} decreased"
                assert values[0] == 0, "nothing before posting"
            main = "like" if p == "linkedin" else ("plays" if p == "tiktok" else "likes")

            def at(h, post=post, t0=t0, main=main):
                return w.metrics(post, t0 + timedelta(hours=h))[main]

            final = post.finals[main]
            if final >= 200:
                first_day, second_day = at(24) - at(0), at(48) - at(24)
                assert first_day > second_day, "grows fast at first"
                assert at(24 * 30) >= 0.97 * final - 1, "flattens near its final size"
                assert at(1) < at(24) < at(24 * 7) or at(24) == at(24 * 7) == final


def test_scheduled_posts_appear_when_the_clock_passes_them():
    w = small_world(future_days=5)
    before = w.visible_posts("x", FIXED_NOW)
    later = w.visible_posts("x", FIXED_NOW + timedelta(days=3))
    assert len(later) > len(before)
    assert all(x in later for x in before)
    assert small_world(future_days=0).summary()["platforms"]["x"]["posts_scheduled_after_now"] == 0


def test_actions_change_state_and_metrics():
    w = small_world()
    post = w.visible_posts("instagram", FIXED_NOW)[0]
    likes0 = w.metrics(post, FIXED_NOW)["likes"]
    assert w.like("instagram", "demo_instagram", post.post_id, FIXED_NOW) is True
    assert w.like("instagram", "demo_instagram", post.post_id, FIXED_NOW) is False  # idempotent
    assert w.metrics(post, FIXED_NOW)["likes"] == likes0 + 1
    w.unlike("instagram", "demo_instagram", post.post_id, FIXED_NOW)
    assert w.metrics(post, FIXED_NOW)["likes"] == likes0
    c0 = w.metrics(post, FIXED_NOW)["comments"]
    c = w.add_comment("instagram", "demo_instagram", post.post_id, "Nice #shot @someone", FIXED_NOW)
    assert w.metrics(post, FIXED_NOW)["comments"] == c0 + 1
    with pytest.raises(WorldError) as exc:
        w.delete_comment("instagram", "demo2_instagram", c.comment_id, FIXED_NOW)
    assert exc.value.status == 403
    w.delete_comment("instagram", "demo_instagram", c.comment_id, FIXED_NOW)
    assert w.metrics(post, FIXED_NOW)["comments"] == c0
    w.adjust_metrics("instagram", post.post_id, likes=-5)
    assert w.metrics(post, FIXED_NOW)["likes"] == max(0, likes0 - 5)
    with pytest.raises(WorldError):
        w.adjust_metrics("instagram", post.post_id, nonsense=1)
    new = w.publish("instagram", "demo_instagram", "Hello #sandbox", FIXED_NOW)
    assert new.hashtags == ["sandbox"] and w.find_post("instagram", new.ids["shortcode"]) is new
    state = w.state()["accounts"]["instagram:demo_instagram"]
    assert state["published"] == [new.post_id]
    assert [x["deleted"] for x in state["comments"]] == [True]


def test_lookups_by_any_id_and_bad_values():
    w = small_world()
    li = w.visible_posts("linkedin", FIXED_NOW)[0]
    assert w.find_post("linkedin", li.ids["activity_urn"]) is li
    assert w.find_post("linkedin", li.ids["full_urn"]) is li
    assert w.find_post("linkedin", li.ids["activity"]) is li
    w.delete_post("linkedin", li.post_id)
    with pytest.raises(WorldError, match="was deleted"):
        w.post("linkedin", li.post_id, FIXED_NOW)
    with pytest.raises(WorldError, match="unknown platform"):
        w.visible_posts("myspace", FIXED_NOW)
    for bad in ("", "   ", None, "x" * 6000):
        with pytest.raises(WorldError):
            w.add_comment("x", "demo_x", w.visible_posts("x", FIXED_NOW)[0].post_id, bad, FIXED_NOW)
    with pytest.raises(ValueError):
        build_world(profiles=-1)
    with pytest.raises(ValueError):
        build_world(seed="7")  # type: ignore[arg-type]
