"""Workspaces, accounts linked to their profiles, manual and rule-based tags, profile
snapshots from imports: against the real store, with sandbox-shaped exports through the real
import."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postpulse.agency import rules as R
from postpulse.agency import tags as T
from postpulse.agency import workspaces as W
from postpulse.agency.errors import AgencyError
from postpulse.agency.links import link_account
from postpulse.engagement import repository as repo
from tests.agency.helpers import NOW, load, rows, scalar, world


def _expected(w, platform: str, pred) -> set[str]:
    return {p.post_id for p in w.visible_posts(platform, w.now) if pred(p)}


def _tagged(engine, tag: str, source_like: str = "%") -> set[str]:
    return {
        r[0]
        for r in rows(
            engine,
            "SELECT p.platform_post_id FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
            "JOIN tags t ON t.id = pt.tag_id WHERE t.name = :t AND pt.source LIKE :s",
            t=tag,
            s=source_like,
        )
    }


def test_workspaces_and_archived_refuse_accounts(engine):
    with engine.begin() as conn:
        ws = W.add_workspace(conn, "acme", timezone="Europe/Berlin")
        acc = repo.add_account(conn, platform="x", username="demo_x")
        W.move_account(conn, acc["id"], "acme")
        W.rename_workspace(conn, "acme", "Acme Ltd")
        W.add_workspace(conn, "old")
        W.archive_workspace(conn, "old")
    assert ws["timezone"] == "Europe/Berlin"
    assert (
        scalar(engine, "SELECT w.name FROM accounts a JOIN workspaces w ON w.id = a.workspace_id")
        == "Acme Ltd"
    )
    with pytest.raises(AgencyError, match="archived"), engine.begin() as conn:
        W.move_account(conn, acc["id"], "old")
    assert scalar(engine, "SELECT workspace_id FROM accounts") == ws["id"]  # unchanged
    with pytest.raises(AgencyError, match="unknown time zone"), engine.begin() as conn:
        W.add_workspace(conn, "bad", timezone="Mars/Olympus")
    with pytest.raises(AgencyError, match="no workspace named 'nope'; workspaces: Acme Ltd, old"):
        with engine.begin() as conn:
            W.get_workspace(conn, "nope")
    assert scalar(engine, "SELECT count(*) FROM workspaces") == 2


def test_import_links_our_posts_and_linking_later_links_back(engine, tmp_path):
    w = world()
    with engine.begin() as conn:
        repo.add_account(conn, platform="tiktok", username="demo_tiktok")
    load(engine, tmp_path, "tiktok", w)
    ours = _expected(w, "tiktok", lambda p: p.author == "demo_tiktok")
    linked = {r[0] for r in rows(engine, "SELECT platform_post_id FROM posts WHERE account_id IS NOT NULL")}
    assert ours and linked == ours
    # an account added after its posts were imported: they are linked back
    with engine.begin() as conn:
        acc = repo.add_account(conn, platform="tiktok", username="demo2_tiktok")
        got = link_account(conn, acc["id"])
    second = _expected(w, "tiktok", lambda p: p.author == "demo2_tiktok")
    assert got.profiles == 1 and got.posts == len(second)
    assert {
        r[0] for r in rows(engine, "SELECT platform_post_id FROM posts WHERE account_id = :a", a=acc["id"])
    } == second


@pytest.mark.parametrize("batch", [R.SCAN_BATCH, 2], ids=["one-batch", "batches-of-2"])
def test_rule_applied_at_import_and_reapplied_exactly_when_changed(engine, tmp_path, monkeypatch, batch):
    monkeypatch.setattr(R, "SCAN_BATCH", batch)  # many batches: each written while the next is matched
    w = world()
    with engine.begin() as conn:
        T.add_tag(conn, "coffee")
        rule, res = R.add_rule(conn, "coffee", R.RuleSpec(hashtags=("#Barista", "latteart")))
    assert res.added == 0  # nothing stored yet
    load(engine, tmp_path, "instagram", w)
    want = _expected(w, "instagram", lambda p: {"barista", "latteart"} & set(p.hashtags))
    assert want and _tagged(engine, "coffee") == want
    assert rows(engine, "SELECT DISTINCT source, confidence FROM post_tags") == [(f"rule:{rule['id']}", 1.0)]

    # a manual tag on a post the rule does not give stays whatever the rule does
    manual = next(iter(_expected(w, "instagram", lambda p: "python" in p.hashtags)))
    with engine.begin() as conn:
        T.assign(conn, "coffee", posts=[f"instagram:{manual}"])
    # narrower rule: keyword instead of hashtags, only one author
    with engine.begin() as conn:
        _, res = R.update_rule(
            conn, rule["id"], R.RuleSpec(keywords=("latteart",), authors=("@demo_instagram",), confidence=0.8)
        )
    want2 = _expected(w, "instagram", lambda p: p.author == "demo_instagram" and "latteart" in p.text.lower())
    assert want2 and want2 != want
    assert _tagged(engine, "coffee", "rule:%") == want2
    assert _tagged(engine, "coffee", "manual") == {manual}
    assert res.removed == len(want - want2) and res.added == len(want2 - want)
    assert scalar(engine, "SELECT version FROM tag_rules") == 2
    assert {
        round(r[0], 3) for r in rows(engine, "SELECT confidence FROM post_tags WHERE source LIKE 'rule:%'")
    } == {0.8}
    # removing the rule removes its tags, not the manual one
    with engine.begin() as conn:
        R.remove_rule(conn, rule["id"])
    assert _tagged(engine, "coffee") == {manual}


def test_two_rules_one_tag_and_platform_author_rules(engine, tmp_path):
    w = world()
    load(engine, tmp_path, "x", w)
    load(engine, tmp_path, "tiktok", w)
    with engine.begin() as conn:
        T.add_tag(conn, "ours")
        a, _ = R.add_rule(conn, "ours", R.RuleSpec(authors=("demo_x",)))
        b, _ = R.add_rule(conn, "ours", R.RuleSpec(platforms=("tiktok",), regex=r"#fyp\b"))
    want = _expected(w, "x", lambda p: p.author == "demo_x") | _expected(
        w, "tiktok", lambda p: "#fyp" in p.text
    )
    assert _tagged(engine, "ours") == want
    with engine.begin() as conn:
        R.remove_rule(conn, a["id"])
    assert _tagged(engine, "ours") == _expected(w, "tiktok", lambda p: "#fyp" in p.text)
    assert {r[0] for r in rows(engine, "SELECT source FROM post_tags")} == {f"rule:{b['id']}"}


@pytest.mark.parametrize("pattern", [r"(a+)\1", r"(?=coffee)", r"(unclosed", ""])
def test_unsafe_or_invalid_regex_is_refused_and_nothing_stored(engine, pattern):
    with engine.begin() as conn:
        T.add_tag(conn, "t")
    with pytest.raises(AgencyError, match="--regex"), engine.begin() as conn:
        R.add_rule(conn, "t", R.RuleSpec(regex=pattern))
    assert scalar(engine, "SELECT count(*) FROM tag_rules") == 0


def test_rule_without_condition_is_refused(engine):
    with engine.begin() as conn:
        T.add_tag(conn, "t")
    with pytest.raises(AgencyError, match="at least one condition"), engine.begin() as conn:
        R.add_rule(conn, "t", R.RuleSpec())


def test_manual_profile_tags_and_unassign(engine, tmp_path):
    load(engine, tmp_path, "x", world())
    with engine.begin() as conn:
        T.add_tag(conn, "competitor")
        assert T.assign(conn, "competitor", profiles=["x:noor_castillo", "x:@zara_kim"]) == 2
        assert T.assign(conn, "competitor", profiles=["x:noor_castillo"]) == 0  # idempotent
        assert T.unassign(conn, "competitor", profiles=["x:zara_kim"]) == 1
    assert rows(engine, "SELECT p.username FROM profile_tags pt JOIN profiles p ON p.id = pt.profile_id") == [
        ("noor_castillo",)
    ]
    with pytest.raises(AgencyError, match="no profile 'x:nobody'"), engine.begin() as conn:
        T.assign(conn, "competitor", profiles=["x:nobody"])


def test_profile_snapshots_from_imports_are_a_series(engine, tmp_path):
    w = world()
    prof = w.profiles["tiktok"]["demo_tiktok"]
    before = w.follower_count(prof)
    load(engine, tmp_path, "tiktok", w)
    later = NOW + timedelta(hours=6)
    follower = next(
        u
        for u in w.profiles["tiktok"]
        if not w.is_following("tiktok", u, "demo_tiktok") and u != "demo_tiktok"
    )
    assert w.follow("tiktok", follower, "demo_tiktok", later)
    load(engine, tmp_path, "tiktok", w, at=later)
    series = rows(
        engine,
        "SELECT s.captured_at, s.follower_count, s.source FROM profile_snapshots s JOIN profiles p "
        "ON p.id = s.profile_id WHERE p.username = 'demo_tiktok' ORDER BY 1",
    )
    assert [r[1] for r in series] == [before, before + 1]
    assert [r[0] for r in series] == [NOW, later] and {r[2] for r in series} == {"import"}
    assert scalar(engine, "SELECT count(DISTINCT profile_id) FROM profile_snapshots") == len(
        w.profiles["tiktok"]
    )
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE profile_snapshots SET follower_count = 0"))


def test_ids_drawn_in_sql_survive_collisions(engine, tmp_path, monkeypatch):
    """A tiny id space (16 ids per prefix, in SQL and in Python) forces collisions: every rule
    tag, manual tag and profile snapshot still gets its own id, none is lost or merged."""
    from sqlalchemy import text

    from postpulse import ids

    w = world(profiles=2, posts=3)
    load(engine, tmp_path, "tiktok", w)
    monkeypatch.setattr(ids, "HEX_DIGITS", 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION pp_new_id(prefix text) RETURNS text LANGUAGE sql VOLATILE AS "
                "$$ SELECT prefix || '-' || to_hex(floor(random() * 16)::int) $$"
            )
        )
        conn.execute(text("INSERT INTO tags (id, name) VALUES ('tag-1', 'all'), ('tag-2', 'mine')"))
        conn.execute(
            text(
                "INSERT INTO post_tags (id, post_id, tag_id, source) "
                "SELECT 'ptg-0', min(id), 'tag-2', 'manual' FROM posts"
            )
        )
        R.add_rule(conn, "all", R.RuleSpec(platforms=("tiktok",)))
    n_posts = scalar(engine, "SELECT count(*) FROM posts")
    assert 8 <= n_posts <= 15
    assert scalar(engine, "SELECT count(*) FROM post_tags WHERE tag_id = 'tag-1'") == n_posts
    assert scalar(engine, "SELECT count(DISTINCT id) FROM post_tags") == n_posts + 1


def test_rule_tags_written_under_ids_an_existing_row_already_has_are_written_again(
    engine, tmp_path, monkeypatch
):
    """Rule tags are written with ids drawn without asking the table; when the primary key
    refuses one (here 200 of 256 possible ids are taken), the batch is written again under
    checked ids and nothing is lost or doubled."""
    from sqlalchemy import text

    from postpulse import ids

    w = world(profiles=2, posts=3)
    load(engine, tmp_path, "tiktok", w)
    n_posts = scalar(engine, "SELECT count(*) FROM posts")
    monkeypatch.setattr(ids, "HEX_DIGITS", 2)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tags (id, name) SELECT 'tag-' || to_hex(g), 'filler' || g "
                "FROM generate_series(0, 39) g"
            )
        )
        conn.execute(
            text(
                """INSERT INTO post_tags (id, post_id, tag_id, source)
                   SELECT 'ptg-' || lpad(to_hex(row_number() OVER () - 1), 2, '0'), p.id, t.id, 'manual'
                   FROM (SELECT id FROM posts ORDER BY id LIMIT 5) p CROSS JOIN tags t"""
            )
        )
        T.add_tag(conn, "all")
        _, res = R.add_rule(conn, "all", R.RuleSpec(platforms=("tiktok",)))
    assert res.added == n_posts
    assert scalar(engine, "SELECT count(*) FROM post_tags") == 200 + n_posts
    assert scalar(engine, "SELECT count(DISTINCT id) FROM post_tags") == 200 + n_posts
    assert scalar(engine, "SELECT count(*) FROM post_tags WHERE source = 'manual'") == 200


def test_a_failure_midway_through_reapplying_leaves_the_tags_as_they_were(engine, tmp_path, monkeypatch):
    w = world()
    load(engine, tmp_path, "instagram", w)
    with engine.begin() as conn:
        T.add_tag(conn, "coffee")
        rule, _ = R.add_rule(conn, "coffee", R.RuleSpec(hashtags=("barista",)))
    before = rows(engine, "SELECT id, post_id, tag_id, source, confidence FROM post_tags ORDER BY id")
    assert before
    monkeypatch.setattr(R, "SCAN_BATCH", 2)
    seen = []

    def crash(scanned: int, total: int) -> None:
        seen.append((scanned, total))
        if len(seen) == 3:  # a batch is being written right now
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), engine.begin() as conn:
        R.update_rule(conn, rule["id"], R.RuleSpec(platforms=("instagram",)), progress=crash)
    assert rows(engine, "SELECT id, post_id, tag_id, source, confidence FROM post_tags ORDER BY id") == before
    assert seen[0] == (0, scalar(engine, "SELECT count(*) FROM posts")) and seen[1][0] == 2
    # and the same change, uninterrupted, reports its progress up to every stored post
    seen.clear()
    with engine.begin() as conn:
        _, res = R.update_rule(
            conn, rule["id"], R.RuleSpec(platforms=("instagram",)), progress=lambda s, t: seen.append((s, t))
        )
    total = seen[0][1]
    assert [s for s, _ in seen] == sorted({0, *range(2, total, 2), total})
    assert _tagged(engine, "coffee") == _expected(w, "instagram", lambda p: True)
    assert res.posts_scanned == total
