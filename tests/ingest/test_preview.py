"""The run preview: the run's top snapshots by likes (+ reactions), with the counts this run
captured; from the staging table when its top candidates made snapshots in this run, else from
all of the run's snapshots."""

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
