"""Check-back speed.

    .venv/bin/python benchmarks/bench_checkbacks.py [--tracked 1000000] [--checks 10000] [--concurrency 16]

1. The due-post query (one platform's batch of 500, oldest due first, through the partial index
   ``idx_posts_due_platform``) with ``--tracked`` tracked posts (COPYed in), median of 20 runs,
   against the 50 ms goal and as a ratio to the bare indexed query (the 500 due ids only, no
   columns, no Python rows) measured in the same run; also the all-platform query and the
   platform skip scan.
2. A check-back run of ``--checks`` posts against the sandbox (real HTTP, ``--concurrency``
   threads): time per post outside the HTTP wait (total minus the wall time of the concurrent
   fetch phase: loading the batch, parsing the answers, the snapshot import and the schedule
   update), against the 2 ms goal and as a ratio to the HTTP phase of the same run (the time
   spent fetching, per post).

Uses DATABASE_URL when set (the role needs CREATEDB), else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import fresh_database, server  # noqa: E402
from sqlalchemy import text  # noqa: E402

from postpulse.checkbacks.due import due_platforms, due_posts  # noqa: E402
from postpulse.checkbacks.fetchers import SandboxFetcher  # noqa: E402
from postpulse.checkbacks.runner import run_checkbacks  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402
from postpulse.store.urls import libpq_url  # noqa: E402

PLATFORMS = ("linkedin", "instagram", "tiktok", "x", "threads")
BARE_DUE = text(
    "SELECT id FROM posts WHERE platform = 'tiktok' AND NOT tracking_complete AND next_check_at <= :n "
    "ORDER BY next_check_at LIMIT 500"
)


def fill(url: str, n: int, now: datetime) -> None:
    import psycopg

    libpq = libpq_url(url)
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY posts (id, platform, platform_post_id, posted_at, tracking_started_at, next_check_at, "
            "tracking_complete) FROM STDIN"
        ) as cp:
            for i in range(n):
                # ids: p- + 8 hex, unique by construction here
                posted = now - timedelta(seconds=(i * 7919) % (40 * 86400))
                nxt = posted + timedelta(hours=1 + (i % 720))
                cp.write_row(
                    (
                        f"p-{i:08x}",
                        PLATFORMS[i % 5] if i % 10 else "linkedin",
                        str(10**12 + i),
                        posted,
                        posted,
                        nxt,
                        i % 13 == 0,
                    )
                )
        conn.commit()
        cur.execute("ANALYZE posts")
        conn.commit()


def time_query(engine, fn, runs: int = 20) -> float:
    with engine.connect() as conn:
        fn(conn)  # warm
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(conn)
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracked", type=int, default=1_000_000)
    ap.add_argument("--checks", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    now = datetime.now(UTC)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with server() as (srv, kind):
        print(f"store: {kind}")
        with fresh_database(srv) as url:
            engine = make_engine(url)
            t0 = time.perf_counter()
            fill(url, args.tracked, now)
            print(f"{args.tracked:,} tracked posts loaded in {time.perf_counter() - t0:.1f} s")
            with engine.connect() as c:
                due = c.execute(
                    text(
                        "SELECT count(*) FROM posts WHERE tracking_complete = false AND next_check_at <= :n"
                    ),
                    {"n": now},
                ).scalar()
            ms_platform = time_query(engine, lambda c: due_posts(c, now, platform="tiktok", limit=500))
            ms_any = time_query(engine, lambda c: due_posts(c, now, limit=500))
            ms_plats = time_query(engine, lambda c: due_platforms(c, now))
            ms_bare = time_query(engine, lambda c: c.execute(BARE_DUE, {"n": now}).all())
            print(
                f"due now: {due:,}; due-post query (one platform, batch of 500): {ms_platform:.2f} ms median "
                f"= {ms_platform / ms_bare:.2f}x the bare indexed query ({ms_bare:.2f} ms) "
                f"(goal < 50 ms: {'OK' if ms_platform < 50 else 'MISSED'}); all platforms: {ms_any:.2f} ms; "
                f"platforms with due posts (skip scan): {ms_plats:.2f} ms"
            )
            engine.dispose()

        # ------------------------------------------------------------------ check-back run
        from postpulse.ingest.sandbox_source import pull_platform
        from postpulse.sandbox.server import SandboxServer
        from postpulse.sandbox.world import build_world

        per = max(1, int(round((args.checks / 100) ** 0.5 * 10)))
        profiles = max(1, min(500, args.checks // per))
        t0 = time.perf_counter()
        world = build_world(seed=1, profiles=profiles, posts_per_profile=min(500, per), future_days=0)
        print(
            f"sandbox world: {profiles} profiles x {min(500, per)} posts per platform, built in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        with SandboxServer(world) as sb, fresh_database(srv) as url:
            engine = make_engine(url)
            pulled = pull_platform(
                engine,
                "tiktok",
                base_url=sb.base_url,
                out_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "pp-bench-cb",
            )
            with engine.begin() as c:
                ids = (
                    c.execute(
                        text(
                            "UPDATE posts SET tracking_complete = false, next_check_at = :n "
                            "WHERE id IN (SELECT id FROM posts ORDER BY id LIMIT :k) RETURNING id"
                        ),
                        {"n": now, "k": args.checks},
                    )
                    .scalars()
                    .all()
                )
            fetcher = SandboxFetcher(sb.base_url, max_connections=args.concurrency)
            res = run_checkbacks(
                engine,
                ids,
                fetcher,
                now=sb.clock.now() + timedelta(hours=3),
                max_concurrency=args.concurrency,
            )
            fetcher.close()
            n = len(ids)
            per_post_ms = res.outside_http_s / n * 1000
            print(
                f"check-back run of {n:,} posts ({pulled.items:,} pulled first): total {res.total_s:.1f} s, "
                f"HTTP phase {res.http_wall_s:.1f} s wall ({res.http_wall_s / n * 1000:.2f} ms/post), "
                f"outside HTTP {res.outside_http_s:.2f} s = {per_post_ms:.3f} ms/post "
                f"= {res.outside_http_s / res.http_wall_s:.3f}x the HTTP phase (goal < 2 ms: "
                f"{'OK' if per_post_ms < 2 else 'MISSED'}); checked {res.checked:,}, failed {res.failed}, "
                f"{res.snapshots_new:,} snapshots"
            )
            engine.dispose()


if __name__ == "__main__":
    main()
