"""Synthetic posts and metric snapshots, loaded with COPY (tests and the benchmark).

``generate(url, snapshots=1_000_000, end=date(...))`` creates workspaces, accounts, profiles,
tags, posts and ~``snapshots`` rows of ``data_downloads`` that look like a check-back scraper's
output: each post is checked at 1, 3, 6, 12, 24 h, daily until day 14, then at 21 and 30 days
(with a few minutes of jitter), and its counts grow along a saturating curve
``F * (1 - exp(-age / tau))`` (monotone, integer). LinkedIn posts have reactions but no views
or saves; the other platforms have views.

``add_posts`` / ``add_snapshots`` insert small, exact data sets for tests (also via COPY).

Identifiers: the small dimension tables use :func:`postpulse.ids.allocate_ids`; posts and
snapshots take a contiguous block of ids whose range is verified to be free first (collision
-safe without a round trip per row).
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from postpulse.store.urls import libpq_url

PLATFORMS = ("instagram", "tiktok", "linkedin", "x")
CHECK_AGES_H = [1, 3, 6, 12, 24] + [24 * d for d in range(2, 15)] + [24 * 21, 24 * 30]
TAG_NAMES = ("launch", "tutorial", "behind-the-scenes", "promo", "meme", "hiring")

SNAPSHOT_COLUMNS = (
    "id",
    "post_id",
    "run_id",
    "downloaded_at",
    "total_reactions",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
    "save_count",
)


def _copy_table(conn: psycopg.Connection, table: str, data: pa.Table) -> None:
    buf = io.BytesIO()
    pacsv.write_csv(data, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = ", ".join(data.column_names)  # our own column names
    raw = memoryview(buf.getvalue())
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        for i in range(0, len(raw), 4 << 20):
            copy.write(raw[i : i + (4 << 20)])


def _free_block(conn: psycopg.Connection, table: str, prefix: str, n: int) -> int:
    """A start number s such that ids prefix-hex(s .. s+n-1) (8 hex digits) are all unused."""
    for _ in range(64):
        start = secrets.randbelow(0xFFFFFFFF - n)
        lo, hi = f"{prefix}-{start:08x}", f"{prefix}-{start + n - 1:08x}"
        # ids sort as text; 8-digit ids in [lo, hi] are exactly our block (shorter ids never clash)
        busy = conn.execute(f"SELECT count(*) FROM {table} WHERE id >= %s AND id <= %s", (lo, hi)).fetchone()[
            0
        ]
        if not busy:
            return start
    raise RuntimeError(f"no free block of {n} ids in {table}")


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    return pa.array([f"{prefix}-{i:08x}" for i in range(start, start + n)])


@dataclass
class Generated:
    posts: int
    snapshots: int
    seconds: float
    first_day: date
    last_day: date
    workspaces: list[str]


def _dimensions(conn: psycopg.Connection, rng: np.random.Generator, n_accounts: int) -> dict[str, list]:
    from postpulse.ids import new_id

    out: dict[str, list] = {
        "workspaces": [],
        "accounts": [],
        "profiles": [],
        "tags": [],
        "platform": [],
        "followers": [],
        "usernames": [],
    }
    ws_names = [f"synthetic-{secrets.token_hex(3)}", f"synthetic-{secrets.token_hex(3)}"]
    for name in ws_names:
        wid = conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (new_id("wsp"), name),
        ).fetchone()[0]
        out["workspaces"].append(wid)
    for i in range(n_accounts):
        platform = PLATFORMS[i % len(PLATFORMS)]
        acc = new_id("acc")
        conn.execute(
            "INSERT INTO accounts (id, workspace_id, platform, platform_user_id, username, is_authorized) "
            "VALUES (%s, %s, %s, %s, %s, true)",
            (acc, out["workspaces"][i % 2], platform, f"syn-{acc}", f"syn_{acc[4:]}"),
        )
        followers = int(rng.lognormal(8, 1.2))
        prf = new_id("prf")
        conn.execute(
            "INSERT INTO profiles (id, platform, platform_user_id, username, follower_count, account_id, "
            "is_tracked) "
            "VALUES (%s, %s, %s, %s, %s, %s, true)",
            (prf, platform, f"syn-{acc}", f"syn_{acc[4:]}", followers, acc),
        )
        out["accounts"].append(acc)
        out["profiles"].append(prf)
        out["platform"].append(platform)
        out["usernames"].append(f"syn_{acc[4:]}")
        out["followers"].append(followers)
    for name in TAG_NAMES:
        tid = conn.execute(
            "INSERT INTO tags (id, name) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
            "SET name = EXCLUDED.name RETURNING id",
            (new_id("tag"), name),
        ).fetchone()[0]
        out["tags"].append(tid)
    return out


def generate(
    url: str,
    *,
    snapshots: int = 1_000_000,
    end: date | None = None,
    span_days: int = 60,
    n_accounts: int = 24,
    seed: int = 7,
    chunk_posts: int = 50_000,
    log=print,
    defer_indexes: bool = False,
) -> Generated:
    """Load about ``snapshots`` synthetic snapshots (posts published over ``span_days`` before
    ``end``, observed until ``end``). Returns counts and the time it took.

    ``defer_indexes`` (for a bulk load into a fresh store, e.g. the benchmark): the plain
    (non-constraint) indexes of ``data_downloads`` are dropped before the COPY and re-created
    with their exact definitions afterwards, which is several times faster than maintaining
    them row by row; the schema ends up identical."""
    t_start = time.perf_counter()
    end = end or datetime.now(UTC).date()
    end_ts = datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()
    rng = np.random.default_rng(seed)
    ages_s = np.array(CHECK_AGES_H, dtype=np.float64) * 3600.0
    # expected snapshots per post: ages that fit before `end` for a uniform posting time
    post_ts_probe = end_ts - rng.uniform(0, span_days * 86400, 20_000)
    per_post = float(np.mean(np.sum((end_ts - post_ts_probe)[:, None] >= ages_s[None, :], axis=1)))
    n_posts = max(1, int(round(snapshots / max(per_post, 1e-9))))
    total_snaps = 0
    with psycopg.connect(libpq_url(url)) as conn:
        dims = _dimensions(conn, rng, n_accounts)
        conn.commit()
        deferred: list[tuple[str, str]] = []
        if defer_indexes:
            deferred = conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = 'data_downloads'::regclass "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            ).fetchall()
            for name, _ in deferred:
                conn.execute(f"DROP INDEX {name}")  # catalog names, not input
            conn.commit()
        try:
            post_start = _free_block(conn, "posts", "p", n_posts)
            snap_start = None
            done = 0
            while done < n_posts:
                n = min(chunk_posts, n_posts - done)
                acc_idx = rng.integers(0, n_accounts, n)
                posted = end_ts - rng.uniform(0, span_days * 86400, n)
                post_ids = _ids("p", post_start + done, n)
                platforms = pa.array([dims["platform"][i] for i in acc_idx])
                posts = pa.table(
                    {
                        "id": post_ids,
                        "platform": platforms,
                        "platform_post_id": pa.array([f"syn{post_start + done + i:08x}" for i in range(n)]),
                        "author_profile_id": pa.array([dims["profiles"][i] for i in acc_idx]),
                        "author_username": pa.array([dims["usernames"][i] for i in acc_idx]),
                        "account_id": pa.array([dims["accounts"][i] for i in acc_idx]),
                        "posted_at": pa.array((posted * 1e6).astype("int64"), pa.timestamp("us", tz="UTC")),
                        "content_type": pa.array(["image"] * n),
                    }
                )
                _copy_table(conn, "posts", posts)
                # tags: each post gets 0-2 tags
                n_tags = rng.integers(0, 3, n)
                tag_rows = [
                    (i, t) for i in range(n) for t in rng.choice(len(dims["tags"]), n_tags[i], replace=False)
                ]
                if tag_rows:
                    tstart = _free_block(conn, "post_tags", "ptg", len(tag_rows))
                    _copy_table(
                        conn,
                        "post_tags",
                        pa.table(
                            {
                                "id": _ids("ptg", tstart, len(tag_rows)),
                                "post_id": pa.array([post_ids[i].as_py() for i, _ in tag_rows]),
                                "tag_id": pa.array([dims["tags"][t] for _, t in tag_rows]),
                                "applied_by": pa.array(["rule"] * len(tag_rows)),
                            }
                        ),
                    )
                # snapshots
                final = rng.lognormal(5.0, 1.3, n)
                tau_h = rng.uniform(4, 48, n)
                t = posted[:, None] + ages_s[None, :] + rng.uniform(-600, 600, (n, len(ages_s)))
                mask = t <= end_ts
                rows_post = np.repeat(np.arange(n), mask.sum(axis=1))
                ts = t[mask]
                age_h = (ts - posted[rows_post]) / 3600.0
                eng = final[rows_post] * (1 - np.exp(-age_h / tau_h[rows_post]))
                likes = np.floor(eng * 0.80).astype("int64")
                comments = np.floor(eng * 0.12).astype("int64")
                shares = np.floor(eng * 0.06).astype("int64")
                saves = np.floor(eng * 0.02).astype("int64")
                views = np.floor(eng * 30).astype("int64")
                plat = np.array([dims["platform"][i] for i in acc_idx])[rows_post]
                linkedin = plat == "linkedin"
                xpl = plat == "x"
                m = len(ts)
                if snap_start is None:
                    snap_start = _free_block(conn, "data_downloads", "dl", max(snapshots * 2, m))
                snaps = pa.table(
                    {
                        "id": _ids("dl", snap_start + total_snaps, m),
                        "post_id": pa.array(np.array(post_ids.to_pylist(), dtype=object)[rows_post]),
                        "downloaded_at": pa.array((ts * 1e6).astype("int64"), pa.timestamp("us", tz="UTC")),
                        "total_reactions": pa.array(likes, mask=~linkedin),
                        "like_count": pa.array(likes, mask=linkedin),
                        "comment_count": pa.array(comments),
                        "share_count": pa.array(shares),
                        "view_count": pa.array(views, mask=linkedin),
                        "save_count": pa.array(saves, mask=linkedin | xpl),
                    }
                )
                _copy_table(conn, "data_downloads", snaps)
                conn.commit()
                total_snaps += m
                done += n
                if log:
                    log(
                        f"  {done:,}/{n_posts:,} posts, {total_snaps:,} snapshots "
                        f"({time.perf_counter() - t_start:.0f} s)"
                    )
        finally:
            if deferred:
                # a failed load leaves an aborted transaction; the indexes come back regardless
                conn.rollback()
                for _, definition in deferred:
                    if log:
                        log(f"  re-creating {definition}")
                    conn.execute(definition)
                conn.commit()
        conn.execute("ANALYZE posts")
        conn.execute("ANALYZE data_downloads")
        conn.commit()
    first_day = (datetime.fromtimestamp(end_ts, UTC) - timedelta(days=span_days)).date()
    return Generated(
        posts=n_posts,
        snapshots=total_snaps,
        seconds=time.perf_counter() - t_start,
        first_day=first_day,
        last_day=end - timedelta(days=1),
        workspaces=dims["workspaces"],
    )


# --- small exact data sets for tests ---------------------------------------------------------


def add_dimension(
    url: str, *, workspace: str = "acme", platform: str = "instagram", followers: int | None = 1000
) -> dict[str, str]:
    """One workspace, account and (linked) profile. Returns their ids."""
    from postpulse.ids import new_id

    ids = {"workspace": new_id("wsp"), "account": new_id("acc"), "profile": new_id("prf")}
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT id FROM workspaces WHERE name = %s", (workspace,)).fetchone()
        if row:
            ids["workspace"] = row[0]
        else:
            conn.execute("INSERT INTO workspaces (id, name) VALUES (%s, %s)", (ids["workspace"], workspace))
        conn.execute(
            "INSERT INTO accounts (id, workspace_id, platform, platform_user_id, username) VALUES (%s, %s, "
            "%s, %s, %s)",
            (ids["account"], ids["workspace"], platform, ids["account"], ids["account"].replace("-", "_")),
        )
        conn.execute(
            "INSERT INTO profiles (id, platform, platform_user_id, username, follower_count, account_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                ids["profile"],
                platform,
                ids["account"],
                ids["account"].replace("-", "_"),
                followers,
                ids["account"],
            ),
        )
    return ids


def add_posts(url: str, posts: Iterable[dict[str, Any]]) -> list[str]:
    """Insert posts (keys: platform, posted_at, author_profile_id, account_id, ...). Returns ids."""
    from postpulse.ids import new_id

    posts = list(posts)
    ids = []
    with psycopg.connect(libpq_url(url)) as conn:
        for p in posts:
            pid = p.get("id") or new_id("p")
            conn.execute(
                "INSERT INTO posts (id, platform, platform_post_id, author_profile_id, account_id, "
                "posted_at, text_content) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    pid,
                    p.get("platform", "instagram"),
                    p.get("platform_post_id", pid),
                    p.get("author_profile_id"),
                    p.get("account_id"),
                    p.get("posted_at"),
                    p.get("text_content"),
                ),
            )
            ids.append(pid)
    return ids


def add_snapshots(url: str, snaps: Iterable[dict[str, Any]]) -> int:
    """COPY snapshots (keys: post_id, downloaded_at, and any count column; run_id optional)."""
    from postpulse.ids import new_id

    cols = SNAPSHOT_COLUMNS + ("impression_count",)
    rows = []
    for s in snaps:
        rows.append([s.get("id") or new_id("dl")] + [s.get(c) for c in cols[1:]])
    if not rows:
        return 0
    with psycopg.connect(libpq_url(url)) as conn:
        with conn.cursor().copy(f"COPY data_downloads ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
    return len(rows)
