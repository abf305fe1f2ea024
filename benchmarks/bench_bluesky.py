"""Bluesky check-back throughput against the local AppView.

    .venv/bin/python benchmarks/bench_bluesky.py [--posts 10000] [--checks N] [--concurrency 8] [--rounds 2]

Starts the local AT Protocol stack (installing it on first use), makes one account with
``--posts`` posts (``applyWrites``, 200 to a call), collects them into a fresh store, waits for the
AppView to have indexed all of them, then times, alternately and ``--rounds`` times each:

* baseline: bare batched ``getPosts`` calls with the SDK (``Client.get_posts``, 25 URIs a call,
  ``--concurrency`` threads), answers parsed into the SDK's models and thrown away;
* postpulse: the check-back of every post as ``postpulse bluesky checkback`` does it
  (``run_many``: batches of 500, one download run each, getPosts 25 a call with the same
  concurrency, the next batch fetched while the current one is parsed with the ``bluesky_posts``
  mapping and stored: snapshots, schedules, ``api_usage``).

``--checks`` (default: ``--posts``) check-backs are timed: the posts are checked again as often as
needed, so that e.g. 10,000 check-backs can be timed over 2,000 posts where making 10,000 posts
on a busy machine takes too long.

Prints posts per second of both (best round) and the ratio postpulse / baseline (goal >= 0.8).
Uses DATABASE_URL when set (the role needs CREATEDB), else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _db import fresh_database, server  # noqa: E402
from sqlalchemy import text  # noqa: E402

from postpulse.bluesky import session as bsky_session  # noqa: E402
from postpulse.bluesky.appview import GET_POSTS_MAX, AppView  # noqa: E402
from postpulse.bluesky.checkbacks import run_many  # noqa: E402
from postpulse.bluesky.collect import collect  # noqa: E402
from postpulse.bluesky.stack import start_stack, stop_postgres  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402

WRITES_PER_CALL = 200
BATCH = 1000  # posts per check-back run, as `postpulse bluesky checkback` batches them


def make_posts(pds: str, n: int) -> str:
    creator = bsky_session.new_client(pds)
    made = creator.com.atproto.server.create_account(
        {"handle": "bench.test", "email": "bench@example.test", "password": "bench-password"}
    )
    client = bsky_session.login(pds, "bench.test", "bench-password")
    now = datetime.now(UTC)
    for start in range(0, n, WRITES_PER_CALL):
        writes = [
            {
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": "app.bsky.feed.post",
                "value": {
                    "$type": "app.bsky.feed.post",
                    "text": f"benchmark post {i}",
                    "createdAt": now.isoformat().replace("+00:00", "Z"),
                },
            }
            for i in range(start, min(n, start + WRITES_PER_CALL))
        ]
        client.com.atproto.repo.apply_writes({"repo": made.did, "writes": writes})
    return made.did


def wait_indexed(appview: str, did: str, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    with AppView(appview) as av:
        while time.monotonic() < deadline:
            if av.profile(did).get("postsCount", 0) >= n:
                return
            time.sleep(1)
    raise SystemExit(f"the AppView did not index {n} posts within {timeout:.0f} s")


def baseline(appview: str, uris: list[str], concurrency: int) -> float:
    from atproto import Client

    clients = [Client(base_url=appview + "/xrpc") for _ in range(concurrency)]
    batches = [uris[i : i + GET_POSTS_MAX] for i in range(0, len(uris), GET_POSTS_MAX)]

    def fetch(arg):
        i, batch = arg
        return len(clients[i % concurrency].get_posts(batch).posts)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        got = sum(pool.map(fetch, enumerate(batches)))
    dt = time.perf_counter() - t0
    assert got == len(uris), f"baseline got {got} of {len(uris)} posts"
    return dt


def ours(engine, appview: str, ids: list[str], concurrency: int, batch: int) -> float:
    t0 = time.perf_counter()
    with AppView(appview, max_connections=concurrency) as av:
        checked = sum(r.checked for r in run_many(engine, ids, av, batch=batch, max_concurrency=concurrency))
    dt = time.perf_counter() - t0
    assert checked == len(ids), f"postpulse checked {checked} of {len(ids)} posts"
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=10_000)
    ap.add_argument("--checks", type=int, default=None, help="check-backs to time (default: --posts)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", type=int, default=BATCH, help="posts per check-back run")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="postpulse-bench-bluesky-"))
    t0 = time.perf_counter()
    stack = start_stack(data)
    print(f"stack up in {time.perf_counter() - t0:.1f} s: {stack.urls.ready_line()}")
    try:
        t0 = time.perf_counter()
        did = make_posts(stack.urls.pds, args.posts)
        wait_indexed(stack.urls.appview, did, args.posts)
        print(f"{args.posts} posts made and indexed in {time.perf_counter() - t0:.1f} s")
        with server() as (server_url, kind), fresh_database(server_url) as url:
            engine = make_engine(url)
            with AppView(stack.urls.appview) as av:
                res = collect(engine, av, actors=[did], pages=args.posts // 100 + 2)
            print(f"collected into {kind}: {res.message}")
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, platform_post_id FROM posts ORDER BY id")).all()
            ids, uris = [r.id for r in rows], [r.platform_post_id for r in rows]
            assert len(ids) == args.posts, f"{len(ids)} posts in the store, expected {args.posts}"
            repeat = max(1, -(-(args.checks or args.posts) // args.posts))
            base_times, our_times = [], []
            for _ in range(args.rounds):
                # one job each: the posts, checked `repeat` times over (no post twice in a batch
                # when --posts is a multiple of --batch)
                base_times.append(baseline(stack.urls.appview, uris * repeat, args.concurrency))
                our_times.append(ours(engine, stack.urls.appview, ids * repeat, args.concurrency, args.batch))
            engine.dispose()
    finally:
        stack.stop()
        stop_postgres(data)
        shutil.rmtree(data, ignore_errors=True)
    n = args.posts * repeat
    b, o = min(base_times), min(our_times)
    print(f"{n} check-backs ({args.posts} posts x {repeat}), best of {args.rounds} rounds")
    print(f"baseline (SDK getPosts, 25 a call, {args.concurrency} threads): {n / b:,.0f} posts/s ({b:.2f} s)")
    print(f"postpulse check-backs (fetch + snapshots + schedules):    {n / o:,.0f} posts/s ({o:.2f} s)")
    print(f"ratio postpulse / baseline: {b / o:.2f}x (goal >= 0.8x)")


if __name__ == "__main__":
    main()
