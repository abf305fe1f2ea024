"""The run preview: the run's top snapshots by likes (+ reactions), with the counts this run
captured; from the staging table when its top candidates made snapshots in this run, else from
all of the run's snapshots."""

import json
import sys

from sqlalchemy import text

from postpulse.ingest import gil_handoff
from postpulse.ingest.loader import import_file
from postpulse.ingest.runs import PREVIEW_ROWS
from tests.ingest.helpers import T0, T1, apify_name, scraper_items, write_json

_EXPECTED = """
SELECT p.id AS post_id, d.like_count AS likes, d.comment_count AS comments, d.view_count AS views
FROM data_downloads d JOIN posts p ON p.id = d.post_id WHERE d.run_id = :run
ORDER BY coalesce(d.like_count, 0) + coalesce(d.total_reactions, 0) DESC, p.id LIMIT :n
"""


def _expected(engine, run_id: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(_EXPECTED), {"run": run_id, "n": PREVIEW_ROWS})]


def _shown(res) -> list[tuple]:
    return [(r["post_id"], r["likes"], r["comments"], r["views"]) for r in res.preview]


def test_preview_is_the_runs_top_snapshots(engine, tmp_path):
    items = scraper_items("tiktok", n_profiles=5, posts_per_profile=12, seed=5)
    res = import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), items))
    assert len(res.preview) == PREVIEW_ROWS
    assert _shown(res) == _expected(engine, res.run_id)
    likes = [r["likes"] or 0 for r in res.preview]
    assert likes == sorted(likes, reverse=True)


def test_preview_falls_back_when_the_top_records_were_stored_before(engine, tmp_path):
    items = scraper_items("tiktok", n_profiles=5, posts_per_profile=12, seed=5)
    top = sorted(items, key=lambda it: -int(it.get("diggCount") or 0))[: 4 * PREVIEW_ROWS]
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T1), top))
    # the same capture time: the top records' snapshots exist already; only the others are new
    (tmp_path / "b").mkdir()
    res = import_file(engine, write_json(tmp_path / "b" / apify_name("tiktok-scraper", T1), items))
    assert 0 < res.snapshots_new == len(items) - len(top)
    assert len(res.preview) == min(PREVIEW_ROWS, res.snapshots_new)
    assert _shown(res) == _expected(engine, res.run_id)
    with engine.connect() as c:
        old = {
            r[0]
            for r in c.execute(
                text("SELECT post_id FROM data_downloads WHERE run_id <> :r"), {"r": res.run_id}
            )
        }
    assert not old & {r["post_id"] for r in res.preview}


def test_switch_interval_is_short_while_copying_and_restored_after(engine, tmp_path):
    before = sys.getswitchinterval()
    seen = []
    gil_handoff.acquire()
    seen.append(sys.getswitchinterval())
    gil_handoff.acquire()  # a second import in the same process
    gil_handoff.release()
    seen.append(sys.getswitchinterval())
    gil_handoff.release()
    assert seen == [min(before, gil_handoff.SWITCH_INTERVAL_S)] * 2
    assert sys.getswitchinterval() == before
    import_file(
        engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), scraper_items("tiktok", seed=2))
    )
    assert sys.getswitchinterval() == before


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


def test_preview_reads_the_store_by_primary_key_only_whatever_its_statistics(engine, tmp_path, monkeypatch):
    """A second import of one capture time into a store whose statistics say its tables are empty
    (as autovacuum left them after a killed import): every statement of the preview reads posts
    and data_downloads by primary key only, and a bounded number of rows, whatever the size of
    the store."""
    from postpulse.ingest import loader

    items = scraper_items("tiktok", n_profiles=20, posts_per_profile=30, seed=9)
    import_file(engine, write_json(tmp_path / apify_name("tiktok-scraper", T0), items))
    with engine.begin() as c:
        c.execute(
            text(
                "UPDATE pg_class SET reltuples = 0 WHERE relname IN ('posts', 'data_downloads') "
                "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN "
                "('posts'::regclass, 'data_downloads'::regclass))"
            )
        )
    plans: list[dict] = []
    real_x, real_preview = loader.run_sql, loader._preview

    def explained(conn, sql, params=None):
        row = real_x(conn, "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).scalar()
        plans.append((row if isinstance(row, list) else json.loads(row))[0]["Plan"])
        return real_x(conn, sql, params)

    def preview(conn, run_id, snapshots_new):
        monkeypatch.setattr(loader, "run_sql", explained)
        try:
            return real_preview(conn, run_id, snapshots_new)
        finally:
            monkeypatch.setattr(loader, "run_sql", real_x)

    monkeypatch.setattr(loader, "_preview", preview)
    (tmp_path / "b").mkdir()
    again = items + scraper_items("tiktok", n_profiles=5, posts_per_profile=10, seed=10)  # new posts too
    res = import_file(engine, write_json(tmp_path / "b" / apify_name("tiktok-scraper", T1), again))
    assert len(res.preview) == PREVIEW_ROWS and _shown(res) == _expected(engine, res.run_id)
    store_tables = {"posts": "posts_pkey", "data_downloads": "data_downloads_pkey"}
    reads = [n for plan in plans for n in _plan_nodes(plan) if n.get("Relation Name") in store_tables]
    assert plans and reads, plans
    for node in reads:
        assert node.get("Index Name") == store_tables[node["Relation Name"]], node
        assert node["Actual Rows"] * node["Actual Loops"] <= 4 * PREVIEW_ROWS, node
