"""Publishing speed: the due-publication query at scale.

    .venv/bin/python benchmarks/bench_publishing.py [--publications 1000000] [--due 200]

``--publications`` rows are COPYed into ``publications`` (about 5% scheduled, spread over the
next 60 days, ``--due`` of them due now; the rest published, failed or cancelled). Then the
due-publication query of the publishing run (``postpulse.publishing.runner.DUE_SQL``, through
the partial index on scheduled publications) is timed, median of 20 runs, against the 50 ms
goal, and as a ratio against a bare indexed primary-key SELECT in the same run.

Uses DATABASE_URL when set (the role needs CREATEDB), else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import fresh_database, server  # noqa: E402
from sqlalchemy import text  # noqa: E402

from postpulse.publishing.runner import due_publications  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402
from postpulse.store.urls import libpq_url  # noqa: E402

GOAL_MS = 50.0


def fill(url: str, n: int, due: int, now: datetime) -> None:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO workspaces (id, name) VALUES ('wsp-00000001', 'bench')")
        cur.execute(
            "INSERT INTO accounts (id, platform, platform_user_id, username) "
            "SELECT 'acc-' || lpad(to_hex(g), 8, '0'), 'x', g::text, 'bench' || g FROM "
            "generate_series(1, 50) g"
        )
        with cur.copy(
            "COPY publications (id, workspace_id, account_id, content, status, scheduled_for, published_at) "
            "FROM STDIN"
        ) as cp:
            for i in range(n):
                acc = f"acc-{1 + i % 50:08x}"
                if i < due:
                    status, sched, pub = "scheduled", now - timedelta(seconds=1 + i), None
                elif i % 20 == 0:
                    status, sched, pub = (
                        "scheduled",
                        now + timedelta(seconds=60 + (i * 7919) % (60 * 86400)),
                        None,
                    )
                else:
                    sched = now - timedelta(seconds=(i * 7919) % (365 * 86400))
                    status = ("published", "published", "published", "failed", "cancelled")[i % 5]
                    pub = sched if status == "published" else None
                cp.write_row((f"pub-{i:08x}", "wsp-00000001", acc, "post text", status, sched, pub))
        conn.commit()
        cur.execute("ANALYZE publications")


def median_ms(fn, runs: int = 20) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publications", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=200)
    args = ap.parse_args()
    now = datetime.now(UTC)
    with server() as (srv, kind), fresh_database(srv) as url:
        t0 = time.perf_counter()
        fill(url, args.publications, args.due, now)
        print(f"{kind}: {args.publications:,} publications loaded in {time.perf_counter() - t0:.1f} s")
        engine = make_engine(url)
        with engine.connect() as conn:
            got = due_publications(conn, now, limit=100)
            assert len(got) == min(100, args.due), got
            due_ms = median_ms(lambda: due_publications(conn, now, limit=100))
            base_ms = median_ms(
                lambda: conn.execute(text("SELECT id FROM publications WHERE id = 'pub-00000007'")).all()
            )
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text(
                        "EXPLAIN "
                        + "SELECT id FROM publications WHERE status = 'scheduled' AND scheduled_for <= :now "
                        "ORDER BY scheduled_for LIMIT 100"
                    ),
                    {"now": now},
                )
            )
        engine.dispose()
    ok = "OK" if due_ms < GOAL_MS else "SLOW"
    print(
        f"due-publication query (100 of {args.due} due): {due_ms:.2f} ms median [{ok}: goal < "
        f"{GOAL_MS:.0f} ms]"
    )
    print(f"baseline primary-key SELECT: {base_ms:.2f} ms; ratio {due_ms / base_ms:.1f}x")
    print("plan: " + plan.splitlines()[0].strip() + (" ..." if "\n" in plan else ""))
    print(
        "  uses idx_publications_scheduled"
        if "idx_publications_scheduled" in plan
        else "  (no partial index!)"
    )


if __name__ == "__main__":
    main()
