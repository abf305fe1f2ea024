"""Import speed and memory.

    .venv/bin/python benchmarks/bench_import.py [--posts 50000] [--gb 0.25] [--skip-rss]

1. Snapshots per second end to end from JSON files (parse with the real parsers, upsert posts and
   profiles, insert snapshots; two exports of the same posts at two capture times, so the second
   one updates every post) against a raw ``COPY`` of the same rows into the same tables of another
   fresh database, measured in the same run. Goal: ratio >= 0.5. "The same rows" are exactly the
   rows the import stored (every column of the runs, profiles, posts and snapshots; dumped with
   ``COPY TO`` after the import): that ratio gets the goal's verdict. A second, stricter reference
   is printed too: a ``COPY`` of a subset prepared in memory (posts and snapshots only, fewer
   columns, no runs or profiles).
2. A JSONL export of ``--gb`` GB imported in a child process; its peak RSS is printed against
   the 512 MB goal.
3. ``--single-capture N`` (e.g. 150000): one export of N posts with one capture time imported
   into a fresh database, then the same posts at a second capture time after the statistics of
   posts and data_downloads were set to "empty" (reltuples 0, as autovacuum leaves them after a
   killed import's rows). Prints each import's time and the share its preview took: the preview
   must cost the same few milliseconds whatever the store's size and statistics.
4. ``--kill-reimport N``: an export of N posts imported cleanly into a fresh database (timed), then,
   in another fresh database, for each moment in ``KILL_AT`` (fractions of the clean time) an
   importer process is killed with SIGKILL at that moment and the file re-imported at once. Each
   re-import must store what the clean import stored, within the clean import's time plus 20 %.

Uses DATABASE_URL when set (the role needs CREATEDB), else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from _db import fresh_database, server  # noqa: E402

from postpulse.ingest.loader import import_file  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402
from postpulse.store.urls import libpq_url  # noqa: E402

T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)
TEXTS = [
    "Consistency beats intensity, every single time. #running #marathon",
    "Small win today ✨ thanks @demo for the tip #coffee #design",
    "Shipping the new release 🚀 #buildinpublic",
    "Morning light in Porto 📸 #travel #photography",
]


def tweet(i: int, at: datetime, bump: int) -> dict:
    """An item in the Apify tweet-scraper shape (apidojo~tweet-scraper)."""
    uid = 1000 + i % 997
    return {
        "type": "tweet",
        "id": str(1800000000000000000 + i),
        "url": f"https://x.com/user{uid}/status/{1800000000000000000 + i}",
        "twitterUrl": f"https://twitter.com/user{uid}/status/{1800000000000000000 + i}",
        "text": TEXTS[i % len(TEXTS)] + f" #{i % 50}",
        "source": "Twitter for iPhone",
        "retweetCount": i % 31 + bump,
        "replyCount": i % 17 + bump,
        "likeCount": i % 1009 + 3 * bump,
        "quoteCount": i % 5,
        "viewCount": 1000 + i % 50000 + 40 * bump,
        "bookmarkCount": i % 11,
        "createdAt": (at - timedelta(hours=1 + i % 500)).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "lang": "en",
        "isReply": False,
        "isRetweet": False,
        "isQuote": False,
        "author": {
            "type": "user",
            "userName": f"user{uid}",
            "name": f"User {uid}",
            "id": str(uid),
            "isVerified": False,
            "isBlueVerified": i % 3 == 0,
            "followers": 100 + uid,
            "following": 50,
        },
        "entities": {"hashtags": [{"text": "running"}], "user_mentions": []},
    }


def write_export(path: Path, n: int, at: datetime, bump: int) -> None:
    with open(path, "wb") as f:
        f.write(b"[")
        for i in range(n):
            if i:
                f.write(b",")
            f.write(orjson.dumps(tweet(i, at, bump)))
        f.write(b"]")


def copy_baseline(url: str, files: list[tuple[Path, datetime]]) -> tuple[float, int]:
    """Raw COPY of the same rows (posts once, one snapshot per post per file) into the same tables."""
    import psycopg

    posts, snaps = [], []
    ids: dict[str, str] = {}
    for path, at in files:
        for it in json.loads(path.read_text()):
            raw = orjson.dumps(it).decode()
            pid = ids.get(it["id"])
            if pid is None:
                pid = ids[it["id"]] = f"p-{len(ids):08x}"  # distinct by construction (no retry in a raw COPY)
                posts.append(
                    (
                        pid,
                        "x",
                        it["id"],
                        it["url"],
                        it["author"]["userName"],
                        it["text"],
                        it["likeCount"],
                        it["replyCount"],
                        it["retweetCount"],
                        it["viewCount"],
                        raw,
                        at,
                        at,
                    )
                )
            snaps.append(
                (
                    f"dl-{len(snaps):08x}",
                    pid,
                    at,
                    it["likeCount"],
                    it["replyCount"],
                    it["retweetCount"],
                    it["viewCount"],
                    it["bookmarkCount"],
                    it["quoteCount"],
                    "{}",
                    raw,
                )
            )
    libpq = libpq_url(url)
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        with cur.copy(
            "COPY posts (id, platform, platform_post_id, url, author_username, text_content, like_count, "
            "comment_count, share_count, view_count, raw_json, first_seen_at, last_extracted_at) FROM STDIN"
        ) as cp:
            for r in posts:
                cp.write_row(r)
        with cur.copy(
            "COPY data_downloads (id, post_id, downloaded_at, like_count, comment_count, share_count, "
            "view_count, save_count, quote_count, stats_json, raw_json) FROM STDIN"
        ) as cp:
            for r in snaps:
                cp.write_row(r)
        conn.commit()
        return time.perf_counter() - t0, len(snaps)


STORED_TABLES = ("download_runs", "profiles", "posts", "data_downloads")


def dump_stored_rows(url: str) -> dict[str, bytes]:
    """Every row the import stored, exactly as stored (``COPY ... TO STDOUT``), per table."""
    import psycopg

    libpq = libpq_url(url)
    out = {}
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        for table in STORED_TABLES:  # names from code
            chunks = []
            with cur.copy(f"COPY {table} TO STDOUT") as cp:
                for data in cp:
                    chunks.append(bytes(data))
            out[table] = b"".join(chunks)
    return out


def copy_stored_rows(url: str, dumps: dict[str, bytes]) -> float:
    """Raw COPY of exactly the rows the import stored (all columns, runs and profiles too)."""
    import psycopg

    libpq = libpq_url(url)
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        for table in STORED_TABLES:
            with cur.copy(f"COPY {table} FROM STDIN") as cp:
                view = memoryview(dumps[table])
                for i in range(0, len(view), 1 << 20):
                    cp.write(view[i : i + (1 << 20)])
        conn.commit()
        return time.perf_counter() - t0


RSS_CHILD = """
import resource, sys, time
from postpulse.ingest.loader import import_file
from postpulse.store.database import make_engine
t0 = time.perf_counter()
r = import_file(make_engine(sys.argv[1]), sys.argv[2])
dt = time.perf_counter() - t0
print(f"{r.snapshots_new} {dt:.1f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def write_jsonl_gb(path: Path, gb: float) -> int:
    target = int(gb * 1024**3)
    n = 0
    size = 0
    with open(path, "wb") as f:
        while size < target:
            line = orjson.dumps(tweet(n, T0, 0)) + b"\n"
            f.write(line)
            size += len(line)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=50_000, help="posts per export (two exports)")
    ap.add_argument("--gb", type=float, default=0.25, help="size of the JSONL for the memory test (GB)")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument(
        "--single-capture",
        type=int,
        default=0,
        metavar="N",
        help="also import N posts of one capture time, then again with empty statistics (e.g. 150000)",
    )
    ap.add_argument("--only-single-capture", action="store_true", help="run only the --single-capture case")
    ap.add_argument(
        "--kill-reimport",
        type=int,
        default=0,
        metavar="N",
        help="kill -9 an import of N posts, then re-import",
    )
    args = ap.parse_args()
    if args.kill_reimport:
        with server() as (srv, kind):
            print(f"store: {kind}")
            kill_reimport_case(srv, args.kill_reimport)
        return
    if args.only_single_capture:
        with server() as (srv, kind):
            print(f"store: {kind}")
            single_capture_case(srv, args.single_capture or 150_000)
        return
    tmp = Path(tempfile.mkdtemp(prefix="postpulse-bench-import-"))
    t1 = T0 + timedelta(days=1)
    files = [(tmp / f"dataset_tweet-scraper_{at:%Y-%m-%d_%H-%M-%S}-000.json", at) for at in (T0, t1)]
    for k, (path, at) in enumerate(files):
        write_export(path, args.posts, at, bump=k)
    total_bytes = sum(p.stat().st_size for p, _ in files)
    print(
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes skew both sides)"
    )
    with server() as (srv, kind):
        print(f"store: {kind}; {args.posts:,} posts x 2 exports ({total_bytes / 1e6:.1f} MB JSON)")
        with fresh_database(srv) as url:
            engine = make_engine(url)
            t0 = time.perf_counter()
            snaps = 0
            for path, _ in files:
                snaps += import_file(engine, path).snapshots_new
            e2e = time.perf_counter() - t0
            engine.dispose()
            stored = dump_stored_rows(url)
        with fresh_database(srv) as url:
            copy_s, copy_rows = copy_baseline(url, files)
        assert copy_rows == snaps, (copy_rows, snaps)
        with fresh_database(srv) as url:
            stored_s = copy_stored_rows(url, stored)
        del stored
        from postpulse.ingest import iter_file

        t0 = time.perf_counter()
        for path, _ in files:
            for _rec in iter_file(path):
                pass
        parse_s = time.perf_counter() - t0
        e2e_rate, copy_rate = snaps / e2e, snaps / copy_s
        print(
            f"end to end (parse + upsert posts/profiles + snapshots): {snaps:,} snapshots in {e2e:.2f} s "
            f"= {e2e_rate:,.0f} snapshots/s"
        )
        print(
            f"raw COPY of a subset (posts + snapshots, fewer columns, prepared in memory): {copy_s:.2f} s "
            f"= {copy_rate:,.0f} snapshots/s"
        )
        print(
            f"  of which parsing (postpulse.ingest parsers alone): {parse_s:.2f} s; loading (staging COPY + "
            f"set-based merge): {max(e2e - parse_s, 1e-9):.2f} s = {snaps / max(e2e - parse_s, 1e-9):,.0f} "
            "snapshots/s, "
            f"ratio loader-only / COPY = {snaps / max(e2e - parse_s, 1e-9) / copy_rate:.2f}"
        )
        print(
            f"ratio end-to-end / COPY = {e2e_rate / copy_rate:.2f} (stricter reference, a subset of the "
            f"columns: {'>= 0.5' if e2e_rate / copy_rate >= 0.5 else 'below 0.5'})"
        )
        stored_rate = snaps / stored_s
        print(
            f"raw COPY of exactly the rows the import stored (every column of runs, profiles, posts, "
            f"snapshots): {stored_s:.2f} s = {stored_rate:,.0f} snapshots/s; ratio end-to-end / that COPY = "
            f"{e2e_rate / stored_rate:.2f} (the goal, >= 0.5: "
            f"{'OK' if e2e_rate / stored_rate >= 0.5 else 'MISSED'})"
        )
        if not args.skip_rss:
            big = tmp / f"dataset_tweet-scraper_{T0:%Y-%m-%d_%H-%M-%S}-000.jsonl"
            n = write_jsonl_gb(big, args.gb)
            with fresh_database(srv) as url:
                out = subprocess.run(
                    [sys.executable, "-c", RSS_CHILD, url, str(big)],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=str(Path(__file__).resolve().parents[1]),
                )
            got, secs, rss_kb = out.stdout.split()
            rss_mb = int(rss_kb) / 1024
            print(
                f"{big.stat().st_size / 1024**3:.2f} GB JSONL ({n:,} records): {int(got):,} snapshots in "
                f"{float(secs):.0f} s, peak RSS {rss_mb:.0f} MB (goal < 512 MB: "
                f"{'OK' if rss_mb < 512 else 'MISSED'})"
            )
            big.unlink()
        if args.single_capture:
            single_capture_case(srv, args.single_capture)
    for p, _ in files:
        p.unlink()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def single_capture_case(srv, n: int) -> None:
    """N posts of one capture time: a clean import, then a second capture of the same posts into
    a store whose statistics say its tables are empty; the preview's share of each."""
    import psycopg

    from postpulse.ingest import loader

    tmp = Path(tempfile.mkdtemp(prefix="postpulse-bench-single-"))
    spent: list[float] = []
    real_preview = loader._preview

    def timed_preview(*a, **kw):
        t0 = time.perf_counter()
        try:
            return real_preview(*a, **kw)
        finally:
            spent.append(time.perf_counter() - t0)

    loader._preview = timed_preview
    try:
        with fresh_database(srv) as url:
            engine = make_engine(url)
            for k, at in enumerate((T0, T0 + timedelta(days=1))):
                path = tmp / f"dataset_tweet-scraper_{at:%Y-%m-%d_%H-%M-%S}-000.json"
                write_export(path, n, at, bump=k)
                if k:
                    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                        conn.execute(
                            "UPDATE pg_class SET reltuples = 0 WHERE relname IN ('posts', 'data_downloads') "
                            "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN "
                            "('posts'::regclass, 'data_downloads'::regclass))"
                        )
                t0 = time.perf_counter()
                res = import_file(engine, path)
                secs = time.perf_counter() - t0
                what = "clean import" if k == 0 else "second capture, statistics 'empty'"
                print(
                    f"single capture time, {n:,} posts, {what}: {res.snapshots_new:,} snapshots "
                    f"in {secs:.2f} s, of which the preview {spent[-1]:.3f} s "
                    f"({100 * spent[-1] / secs:.1f} %)"
                )
                path.unlink()
            engine.dispose()
    finally:
        loader._preview = real_preview


KILL_AT = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
STORED = (
    "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM data_downloads), "
    "(SELECT count(*) FROM download_runs WHERE status = 'completed'), "
    "(SELECT coalesce(sum(like_count), 0) FROM data_downloads)"
)


def _timed_import(srv, path: Path, kill_after: float | None = None) -> tuple[float, tuple, str]:
    """Import ``path`` into a fresh database (first killing an importer process ``kill_after`` s
    into its import, when given); returns the seconds of the (re-)import, what was stored and the
    run's status."""
    import psycopg

    child = (
        "import sys; from postpulse.ingest.loader import import_file; "
        "from postpulse.store.database import make_engine; import_file(make_engine(sys.argv[1]), sys.argv[2])"
    )
    with fresh_database(srv) as url:
        if kill_after is not None:
            proc = subprocess.Popen(
                [sys.executable, "-c", child, url, str(path)], cwd=str(Path(__file__).resolve().parents[1])
            )
            time.sleep(kill_after)
            proc.kill()
            proc.wait()
        engine = make_engine(url)
        t0 = time.perf_counter()
        res = import_file(engine, path)
        secs = time.perf_counter() - t0
        engine.dispose()
        with psycopg.connect(libpq_url(url)) as conn:
            return secs, conn.execute(STORED).fetchone(), res.status


def kill_reimport_case(srv, n: int) -> None:
    """Kill -9 an importer at several moments, re-import at once: the same rows, within 1.2x the
    time of a clean import measured right before it (the machine's load moves both alike)."""
    tmp = Path(tempfile.mkdtemp(prefix="postpulse-bench-kill-"))
    path = tmp / f"dataset_tweet-scraper_{T0:%Y-%m-%d_%H-%M-%S}-000.json"
    write_export(path, n, T0, bump=0)
    first, expected, _ = _timed_import(srv, path)
    print(f"clean import of {n:,} posts: {first:.2f} s; stored (posts, snapshots, runs, likes) {expected}")
    worst = 0.0
    for at in KILL_AT:
        clean, _, _ = _timed_import(srv, path)
        again, got, status = _timed_import(srv, path, kill_after=at * first)
        worst = max(worst, again / clean)
        ok = got == expected and again <= 1.2 * clean
        print(
            f"  killed {at * first:.1f} s in ({at:.0%} of the first clean import): re-import {status} in "
            f"{again:.2f} s, clean import next to it {clean:.2f} s = {again / clean:.2f}x, same rows: "
            f"{got == expected} ({'OK' if ok else 'MISSED'})"
        )
    print(f"worst re-import {worst:.2f}x its clean import (goal <= 1.20)")
    path.unlink()


if __name__ == "__main__":
    main()
