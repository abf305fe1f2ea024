"""Run the check-backs of one batch of posts: fetch concurrently, snapshot, advance schedules.

One batch = one download run (``source_kind='checkback'``). Per post:

* fetched: a snapshot at the run's capture time; the schedule advances to the first slot after
  now (overdue slots collapse into this check); after the last slot ``tracking_complete``;
* 404: ``is_deleted`` + ``deleted_at``, tracking stops, history stays;
* failure (HTTP error, timeout, unparseable answer): the post stays tracked, ``check_failures``
  + 1, ``last_check_error``, and ``next_check_at`` backs off (5 min, 10 min, ... 6 h).

Snapshots and schedule changes commit together (one transaction).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.checkbacks.fetchers import Fetcher, FetchResult, fetch_each
from postpulse.checkbacks.schedule import backoff, offsets_seconds, resolve_schedule, slot_state
from postpulse.ingest.loader import ImportResult, RunSource, load_records
from postpulse.timeutil import as_utc

DEFAULT_CONCURRENCY = 8

_LOAD = text("""
SELECT p.id, p.platform, p.platform_post_id, p.url, p.posted_at, p.tracking_started_at, p.check_schedule,
       p.check_failures, p.checks_completed, a.settings AS account_settings
FROM posts p LEFT JOIN accounts a ON a.id = p.account_id
WHERE p.id = ANY(:ids) AND NOT p.tracking_complete AND NOT p.is_deleted
ORDER BY p.id
""")

_APPLY = """
UPDATE posts p SET
  checks_completed = u.checks_completed, next_check_at = u.next_check_at,
  tracking_complete = u.tracking_complete, check_failures = u.check_failures,
  last_check_error = u.last_check_error,
  is_deleted = p.is_deleted OR u.deleted, deleted_at = CASE WHEN u.deleted AND p.deleted_at IS NULL THEN u.at
      ELSE p.deleted_at END
FROM _cb_update u WHERE p.id = u.id
"""


@dataclass
class CheckbackResult:
    run_id: str | None
    platform: str | None
    posts: int = 0
    checked: int = 0
    deleted: int = 0
    failed: int = 0
    completed_tracking: int = 0
    snapshots_new: int = 0
    errors: list[str] = field(default_factory=list)
    http_wall_s: float = 0.0
    http_sum_s: float = 0.0
    total_s: float = 0.0
    import_result: ImportResult | None = None

    @property
    def outside_http_s(self) -> float:
        return max(0.0, self.total_s - self.http_wall_s)


def run_checkbacks(
    engine: Engine,
    post_ids: list[str],
    fetcher: Fetcher,
    *,
    now: datetime | None = None,
    max_concurrency: int = DEFAULT_CONCURRENCY,
    platform: str | None = None,
    dagster_run_id: str | None = None,
) -> CheckbackResult:
    t0 = time.perf_counter()
    now = as_utc(now) or datetime.now(UTC)
    with engine.connect() as conn:
        posts = [dict(r) for r in conn.execute(_LOAD, {"ids": list(post_ids)}).mappings()]
    res = CheckbackResult(
        run_id=None, platform=platform or (posts[0]["platform"] if posts else None), posts=len(posts)
    )
    if not posts:  # all of them finished, untracked or deleted meanwhile: no run
        res.total_s = time.perf_counter() - t0
        return res

    # -- fetch, concurrently within the platform's limit -----------------------------------------
    t_http = time.perf_counter()
    results: list[FetchResult]
    if hasattr(fetcher, "fetch_many"):  # a batch client (Apify: one actor run for the batch)
        results = fetcher.fetch_many(posts, max_concurrency)
    else:
        results = fetch_each(fetcher, posts, max_concurrency)
    res.http_wall_s = time.perf_counter() - t_http
    res.http_sum_s = sum(r.http_seconds for r in results)

    ok = [(p, r) for p, r in zip(posts, results, strict=True) if r.status == "ok"]
    # -- parse the answers with the normal parsers (same formats as the exports) ----------------
    fd, tmp = tempfile.mkstemp(prefix="postpulse-checkback-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as f:
            for _, r in ok:
                f.write(orjson.dumps(r.item))
                f.write(b"\n")
        parsed_ok: set[str] = set()
        parse_errors: dict[str, str] = {}

        def records():
            if not ok:
                return
            from postpulse.ingest import PostRecord, Rejected, iter_file

            for rec in iter_file(tmp, captured_at=now, dedupe=False):
                idx = rec.record_index
                post = ok[idx][0] if 0 <= idx < len(ok) else None
                if type(rec) is PostRecord and post is not None:
                    # the snapshot belongs to the post we asked for, whatever id form came back
                    rec.platform = post["platform"]
                    rec.platform_post_id = post["platform_post_id"]
                    rec.captured_at = None  # the run's fetch time
                    parsed_ok.add(post["id"])
                    yield rec
                elif type(rec) is Rejected and post is not None:
                    parse_errors[post["id"]] = f"answer not understood: {rec.reason}"[:500]

        def advance(conn: Connection, run_id: str) -> str | None:
            rows = []
            for p, r in zip(posts, results, strict=True):
                failures = p["check_failures"] or 0
                if r.status == "ok" and p["id"] in parsed_ok:
                    offs = offsets_seconds(
                        resolve_schedule(p["platform"], p["check_schedule"], p["account_settings"])
                    )
                    anchor = as_utc(p["posted_at"]) or as_utc(p["tracking_started_at"]) or now
                    st = slot_state(offs, anchor, now)
                    rows.append(
                        (p["id"], st.checks_completed, st.next_check_at, st.complete, 0, None, False, now)
                    )
                    res.checked += 1
                    res.completed_tracking += int(st.complete)
                elif r.status == "deleted":
                    rows.append((p["id"], p["checks_completed"], None, True, failures, r.error, True, now))
                    res.deleted += 1
                else:
                    err = parse_errors.get(p["id"]) or r.error or "unknown error"
                    failures += 1
                    rows.append(
                        (
                            p["id"],
                            p["checks_completed"],
                            now + backoff(failures),
                            False,
                            failures,
                            err[:500],
                            False,
                            now,
                        )
                    )
                    res.failed += 1
                    if len(res.errors) < 10:
                        res.errors.append(f"{p['id']}: {err}")
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    "CREATE TEMP TABLE _cb_update (id text, checks_completed integer, "
                    "next_check_at timestamptz,"
                    " tracking_complete boolean, check_failures integer, last_check_error text,"
                    " deleted boolean, at timestamptz) ON COMMIT DROP"
                )
                with cur.copy("COPY _cb_update FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
            conn.exec_driver_sql(_APPLY)
            if res.failed:
                return f"{res.failed} of {len(posts)} check-backs failed; first: {res.errors[0]}"
            return None

        src = RunSource(
            source_kind="checkback",
            source_path=getattr(fetcher, "base_url", None),
            platform=res.platform,
            captured_at=now,
            captured_at_source="fetch_time",
            script_name="postpulse check-back",
            dagster_run_id=dagster_run_id,
            extra_info={"posts": len(posts), "max_concurrency": max_concurrency},
        )
        imp = load_records(engine, records(), src, now=now, after_merge=advance)
    finally:
        os.unlink(tmp)
    res.import_result = imp
    res.run_id = imp.run_id
    res.snapshots_new = imp.snapshots_new
    res.total_s = time.perf_counter() - t0
    return res
