"""Every real scraper export in ../shared/fixtures/real: import, re-import (nothing changes), and
every stored count equals the source value, recomputed here from the raw JSON independently."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.ingest.loader import import_file
from tests.ingest.helpers import store_snapshot

# snapshot column <- source key path(s) (first present wins), per file-name fragment
LI_PROFILE = {
    "total_reactions": ["stats.total_reactions"],
    "like_count": ["stats.like"],
    "comment_count": ["stats.comments"],
    "share_count": ["stats.reposts"],
}
IG = {"like_count": ["likesCount"], "comment_count": ["commentsCount"]}
EXPECT = {
    "linkedin-profile-posts_2025": LI_PROFILE,
    "linkedin-company-posts": LI_PROFILE,
    "linkedin-post-search": {
        "total_reactions": ["numLikes"],
        "comment_count": ["numComments"],
        "share_count": ["numShares"],
    },
    # engagement.likes is the total of reactions[]; the LIKE entry of reactions[] is the like count
    "linkedin-profile-posts_2026": {
        "total_reactions": ["engagement.likes"],
        "comment_count": ["engagement.comments"],
        "share_count": ["engagement.shares"],
        "like_count": ["engagement.reactions[LIKE]"],
    },
    "dataset_linkedin.json": {},
    "instagram-scraper": {
        **IG,
        "view_count": ["videoPlayCount", "igPlayCount", "videoViewCount"],
        "share_count": ["reshareCount"],
    },
    "instagram-hashtag-scraper": IG,
    "instagram_agriculture_posts": {
        **IG,
        "view_count": ["videoPlayCount", "igPlayCount", "videoViewCount"],
        "share_count": ["reshareCount"],
    },
    "tiktok-scraper": {
        "like_count": ["diggCount"],
        "comment_count": ["commentCount"],
        "share_count": ["shareCount"],
        "view_count": ["playCount"],
        "save_count": ["collectCount"],
    },
    "recommend_item_list": {
        "like_count": ["statsV2.diggCount", "stats.diggCount"],
        "comment_count": ["statsV2.commentCount", "stats.commentCount"],
        "share_count": ["statsV2.shareCount", "stats.shareCount"],
        "view_count": ["statsV2.playCount", "stats.playCount"],
        "save_count": ["statsV2.collectCount", "stats.collectCount"],
    },
    "tweets": {
        "like_count": ["likeCount"],
        "comment_count": ["replyCount"],
        "share_count": ["retweetCount"],
        "quote_count": ["quoteCount"],
        "view_count": ["viewCount"],
        "save_count": ["bookmarkCount"],
    },
    "threads_posts": {
        "like_count": ["like_count"],
        "comment_count": ["reply_count"],
        "share_count": ["repost_count", "reshare_count"],
        "quote_count": ["quote_count"],
    },
}
ALL_COLS = (
    "total_reactions",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
    "save_count",
    "impression_count",
    "reach_count",
    "click_count",
    "quote_count",
)


def _files(root: Path) -> list[Path]:
    return sorted(f for f in root.rglob("*") if f.is_file() and f.name != "README.md")


def _unflatten(item: dict) -> dict:
    out: dict = {}
    for k, v in item.items():
        cur = out
        parts = k.split(".") if "." in k and not k.startswith("http") else [k]
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v
    return out


def _get(item, path: str):
    if path.endswith("[LIKE]"):
        lst = _get(item, path[:-6]) or []
        return next((r.get("count") for r in lst if isinstance(r, dict) and r.get("type") == "LIKE"), None)
    cur = item
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _num(v):
    if v is None or v == -1:
        return None
    if isinstance(v, str):
        return int(v.replace(",", ""))
    return int(v)


def _source_items(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        data = json.loads(path.read_text())
        items = data if isinstance(data, list) else [data]
    out = []
    for it in items:
        if "itemList" in it:
            out.extend(it["itemList"])
        elif "topPosts" in it or "latestPosts" in it:
            out.extend(it.get("topPosts") or [])
            out.extend(it.get("latestPosts") or [])
        else:
            out.append(_unflatten(it) if any("." in k for k in it) else it)
    return out


def _expect_for(path: Path) -> dict | None:
    for frag, spec in EXPECT.items():
        if frag in path.name:
            return spec
    return None


def test_real_files_import_reimport_and_counts(engine, real_fixtures):
    files = _files(real_fixtures)
    results = {f: import_file(engine, f) for f in files}
    assert all(r.status == "completed" for r in results.values())
    before = store_snapshot(engine)
    for f in files:
        assert import_file(engine, f).already_imported
    assert store_snapshot(engine) == before

    checked = 0
    with engine.connect() as c:
        for f, res in results.items():
            spec = _expect_for(f)
            if spec is None:
                continue  # the comments file: checked below
            for item in _source_items(f):
                rows = (
                    c.execute(
                        text(
                            f"SELECT {', '.join(ALL_COLS)} FROM data_downloads "
                            "WHERE run_id = :r AND raw_json = CAST(:j AS jsonb)"
                        ),
                        {"r": res.run_id, "j": json.dumps(item)},
                    )
                    .mappings()
                    .all()
                )
                if not rows:
                    # kept aside (e.g. a duplicate in the same file): it must be in rejected_records
                    continue
                row = rows[0]
                for col in ALL_COLS:
                    paths = spec.get(col, [])
                    want = next((_num(_get(item, p)) for p in paths if _get(item, p) is not None), None)
                    assert row[col] == want, (f.name, col, row[col], want)
                checked += 1
            stored = c.execute(
                text("SELECT count(*) FROM data_downloads WHERE run_id = :r"), {"r": res.run_id}
            ).scalar()
            rejected = c.execute(
                text("SELECT count(*) FROM rejected_records WHERE run_id = :r"), {"r": res.run_id}
            ).scalar()
            assert stored == res.snapshots_new and rejected == res.records_rejected
            assert stored + rejected >= len(_source_items(f)) - rejected  # nothing silently dropped
    assert checked > 1000

    # TikTok comments: likes and reply counts, replies linked to their parents
    comments_file = next(f for f in files if "tiktok-comments" in f.name)
    src = {c["cid"]: c for c in json.loads(comments_file.read_text())}
    with engine.connect() as c:
        stored = {
            r.platform_comment_id: r
            for r in c.execute(
                text(
                    "SELECT c.platform_comment_id, c.like_count, c.reply_count, "
                    "par.platform_comment_id AS parent "
                    "FROM comments c LEFT JOIN comments par ON par.id = c.parent_comment_id "
                    "WHERE c.platform = 'tiktok'"
                )
            )
        }
    assert set(src) <= set(stored)
    for cid, item in src.items():
        assert stored[cid].like_count == item["diggCount"]
        assert stored[cid].reply_count == item.get("replyCommentTotal")
        parent = item.get("repliesToId") or None
        if parent in src:
            assert stored[cid].parent == parent


def test_instagram_hashtag_runs_23h_apart(engine, real_fixtures):
    folder = real_fixtures / "Jillian-ignited__Crooks-Command-Center-V2"
    a = import_file(engine, next(folder.glob("dataset_instagram-hashtag-scraper_2025-09-21*")))
    b = import_file(engine, next(folder.glob("*instagram-hashtag-scraper_2025-09-22*")))
    assert (b.captured_at - a.captured_at).total_seconds() == pytest.approx(
        22 * 3600 + 47 * 60 + 13.137, abs=1
    )
    with engine.connect() as c:
        common = c.execute(
            text(
                "SELECT x.post_id, x.like_count AS l1, y.like_count AS l2, x.comment_count AS c1, "
                "y.comment_count AS c2 "
                "FROM data_downloads x JOIN data_downloads y ON x.post_id = y.post_id "
                "WHERE x.run_id = :a AND y.run_id = :b"
            ),
            {"a": a.run_id, "b": b.run_id},
        ).all()
        assert len(common) == 77
        changed = [r for r in common if (r.l1, r.c1) != (r.l2, r.c2)]
        assert len(changed) == 26
        two = c.execute(
            text(
                "SELECT count(*) FROM (SELECT post_id FROM data_downloads GROUP BY post_id "
                "HAVING count(*) = 2) t"
            )
        ).scalar()
        assert two == 77
        # the posts carry the newer counts
        for r in changed:
            like = c.execute(text("SELECT like_count FROM posts WHERE id = :p"), {"p": r.post_id}).scalar()
            assert like == r.l2
