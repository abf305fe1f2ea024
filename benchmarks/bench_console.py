"""Team console speed, against a real PostgreSQL (``DATABASE_URL``, else an embedded server),
with the console on a real HTTP server on 127.0.0.1 and httpx as the client.

    .venv/bin/python benchmarks/bench_console.py [--actions 100000] [--threads 10000]
                                                 [--audit-days 365] [--audit-per-day 2000]
                                                 [--requests 40]

1. Each page's time per request, p95 over ``--requests`` requests (goal < 150 ms), for an admin
   of every workspace and for an approver of one workspace (the workspace filter). Measured at
   the client (localhost round trip included). Baseline (same run): the bare SQL of the page's
   main query on the same store, p95; the ratio is page / bare SQL.
2. Bulk approval of 1,000 actions through the page (goal < 1 s). Baselines (same run): the
   per-action ``decide`` loop (what ``postpulse actions approve`` does) on another 1,000 actions,
   and one bare UPDATE of 1,000 rows.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks._db import fresh_database, server  # noqa: E402
from postpulse.console import users  # noqa: E402
from postpulse.console.app import ConsoleSettings  # noqa: E402
from postpulse.console.server import BackgroundServer  # noqa: E402
from postpulse.crypto import Keyring, Vault  # noqa: E402
from postpulse.engagement import repository as repo  # noqa: E402
from postpulse.engagement.secrets import dm_content_aad  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402

GOAL_PAGE_MS = 150.0
GOAL_BULK_S = 1.0
N_WORKSPACES = 4
N_ACCOUNTS = 20
PASSWORD = "benchmark password"
OPEN = {"quiet_hours": None}


def fill(engine, vault: Vault, n_actions: int, n_threads: int, audit_days: int, audit_per_day: int) -> None:
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for w in range(N_WORKSPACES):
            conn.execute(
                text("INSERT INTO workspaces (id, name) VALUES (:i, :n)"), {"i": f"wsp-{w:x}", "n": f"ws{w}"}
            )
        for a in range(N_ACCOUNTS):
            acc = repo.add_account(conn, platform="x", username=f"acct{a}", authorize=True, settings=OPEN)
            conn.execute(
                text("UPDATE accounts SET workspace_id = :w WHERE id = :a"),
                {"w": f"wsp-{a % N_WORKSPACES:x}", "a": acc["id"]},
            )
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content, author_username, "
                "account_id) "
                "SELECT 'p-' || lpad(to_hex(i), 8, '0'), 'x', 'post' || i, 'post text number ' || i, "
                "'author' || (i % 500), "
                "NULL FROM generate_series(1, 5000) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO action_queue (id, account_id, post_id, action_type, target_type, target_id, "
                "action_params, "
                "status, created_at) SELECT 'act-' || lpad(to_hex(i), 8, '0'), acc.ids[1 + i % "
                "cardinality(acc.ids)], "
                "'p-' || lpad(to_hex(1 + i % 5000), 8, '0'), CASE WHEN i % 3 = 0 THEN 'comment' ELSE "
                "'like' END, 'post', "
                "'post' || (1 + i % 5000), CASE WHEN i % 3 = 0 THEN jsonb_build_object('text', 'comment ' "
                "|| i) "
                "ELSE '{}'::jsonb END, 'queued', now() - make_interval(secs => i) "
                "FROM generate_series(1, :n) i, (SELECT array_agg(id ORDER BY id) AS ids FROM accounts) acc"
            ),
            {"n": n_actions},
        )
        conn.execute(
            text(
                'INSERT INTO audit_entries (id, run_id, step_id, event_type, outcome, details, "timestamp") '
                "SELECT 'aud-' || lpad(to_hex(i), 8, '0'), 'run-' || (i % 1000), 'step', 'approval', "
                "'success', "
                "'{}'::jsonb, now() - make_interval(secs => (i * 86400.0 / :per_day)::int) "
                "FROM generate_series(1, :n) i"
            ),
            {"n": audit_days * audit_per_day, "per_day": audit_per_day},
        )
        conn.execute(
            text(
                "INSERT INTO dm_threads (id, platform, platform_thread_id, account_id, participant_username, "
                "last_message_at, unread_count) SELECT 'dmt-' || lpad(to_hex(i), 8, '0'), 'x', 'th' || i, "
                "acc.ids[1 + i % cardinality(acc.ids)], 'person' || i, now() - make_interval(secs => i * "
                "7), i % 3 "
                "FROM generate_series(1, :n) i, (SELECT array_agg(id ORDER BY id) AS ids FROM accounts) acc"
            ),
            {"n": n_threads},
        )
        rows = []
        for i in range(1, n_threads * 2 + 1):
            mid = f"dmm-{i:08x}"
            rows.append(
                {
                    "id": mid,
                    "t": f"dmt-{(i + 1) // 2:08x}",
                    "m": f"m{i}",
                    "b": vault.encrypt(f"message {i}: hello there", dm_content_aad(mid)),
                    "us": i % 2 == 0,
                }
            )
        conn.execute(
            text(
                "INSERT INTO dm_messages (id, platform, platform_message_id, thread_id, is_from_us, "
                "sender_username, "
                "content_encrypted, sent_at) VALUES (:id, 'x', :m, :t, :us, 'someone', :b, now())"
            ),
            rows,
        )
        users.add_user(conn, "admin", "admin", password=PASSWORD)
        users.add_user(conn, "approver", "approver", workspace="ws1", password=PASSWORD)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    print(
        f"filled: {n_actions:,} queued actions, {n_threads:,} DM threads ({2 * n_threads:,} messages), "
        f"{audit_days * audit_per_day:,} audit entries ({audit_days} days) in {time.perf_counter() - t0:.1f}s"
    )


def login(base_url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.status_code
    return client


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def time_page(client: httpx.Client, path: str, n: int) -> float:
    client.get(path)  # warm-up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return p95(out)


def time_sql(engine, sql: str, params: dict, n: int) -> float:
    out = []
    with engine.connect() as conn:
        conn.execute(text(sql), params).all()
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute(text(sql), params).all()
            out.append((time.perf_counter() - t0) * 1000)
    return p95(out)


BARE = {
    "approvals": (
        "SELECT q.*, a.username FROM action_queue q JOIN accounts a ON a.id = q.account_id "
        "LEFT JOIN posts p ON p.id = q.post_id WHERE q.status = 'queued' ORDER BY q.created_at DESC LIMIT 50"
    ),
    "inbox": (
        "SELECT t.*, a.username FROM dm_threads t JOIN accounts a ON a.id = t.account_id "
        "ORDER BY t.last_message_at DESC NULLS LAST LIMIT 50"
    ),
    "thread": "SELECT * FROM dm_messages WHERE thread_id = :t ORDER BY sent_at",
    "accounts": "SELECT * FROM accounts ORDER BY platform, username",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--actions", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=10_000)
    ap.add_argument("--audit-days", type=int, default=365)
    ap.add_argument("--audit-per-day", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    vault = Vault(Keyring.generate("bench"))
    ok = True
    with server() as (server_url, where), fresh_database(server_url) as url:
        print(f"store: {where}")
        engine = make_engine(url)
        fill(engine, vault, args.actions, args.threads, args.audit_days, args.audit_per_day)
        settings = ConsoleSettings(secret_key="bench-" + "k" * 40, vault_loader=lambda: vault)
        with BackgroundServer(engine, settings) as console:
            admin, approver = login(console.url, "admin"), login(console.url, "approver")
            with engine.connect() as conn:
                some_action = conn.execute(
                    text("SELECT id FROM action_queue ORDER BY created_at DESC LIMIT 1")
                ).scalar()
                some_thread = conn.execute(
                    text("SELECT id FROM dm_threads ORDER BY last_message_at DESC LIMIT 1")
                ).scalar()
                deep = conn.execute(
                    text(
                        "SELECT created_at, id FROM action_queue WHERE status = 'queued' "
                        "ORDER BY created_at DESC, id OFFSET 5000 LIMIT 1"
                    )
                ).one()
            deep_page = "/approvals?" + urlencode({"after": f"{deep.created_at.isoformat()}~{deep.id}"})
            pages = [
                ("approvals", "/approvals", admin, "approvals"),
                ("approvals p.100", deep_page, admin, "approvals"),
                ("approvals, 1 workspace", "/approvals", approver, "approvals"),
                ("action", f"/approvals/{some_action}", admin, "approvals"),
                ("inbox", "/inbox", admin, "inbox"),
                ("inbox, 1 workspace", "/inbox", approver, "inbox"),
                ("DM thread", f"/inbox/threads/{some_thread}", admin, "thread"),
                ("accounts", "/accounts", admin, "accounts"),
                ("reports list", "/reports", admin, "accounts"),
            ]
            print(
                f"\npage p95 over {args.requests} requests (goal < {GOAL_PAGE_MS:.0f} ms); baseline: bare "
                "SQL p95"
            )
            print(f"{'page':26} {'p95 ms':>8} {'bare SQL ms':>12} {'ratio':>7}")
            for name, path, client, bare in pages:
                page_ms = time_page(client, path, args.requests)
                sql_ms = time_sql(engine, BARE[bare], {"t": some_thread}, args.requests)
                ok &= page_ms < GOAL_PAGE_MS
                flag = "" if page_ms < GOAL_PAGE_MS else "  MISSED"
                print(f"{name:26} {page_ms:8.1f} {sql_ms:12.2f} {page_ms / sql_ms:7.1f}{flag}")

            with engine.connect() as conn:
                ids = (
                    conn.execute(
                        text(
                            "SELECT id FROM action_queue WHERE status = 'queued' ORDER BY created_at DESC "
                            "LIMIT 3000"
                        )
                    )
                    .scalars()
                    .all()
                )
            bulk, loop, bare_ids = ids[:1000], ids[1000:2000], ids[2000:3000]
            token = re.search(r'name="csrf" value="([^"]+)"', admin.get("/approvals").text).group(1)
            t0 = time.perf_counter()
            r = admin.post("/approvals/decide", data={"ids": bulk, "decision": "approve", "csrf": token})
            bulk_s = time.perf_counter() - t0
            assert r.status_code == 303
            t0 = time.perf_counter()
            with engine.begin() as conn:
                repo.decide(conn, loop, "approve", actor="bench")
            loop_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE action_queue SET status = 'approved', approved_at = now(), approved_by = "
                        "'bench' "
                        "WHERE id = ANY(:ids) AND status = 'queued'"
                    ),
                    {"ids": bare_ids},
                )
            bare_s = time.perf_counter() - t0
            with engine.connect() as conn:
                approved = conn.execute(
                    text("SELECT count(*) FROM action_queue WHERE id = ANY(:ids) AND status = 'approved'"),
                    {"ids": bulk},
                ).scalar()
                audited = conn.execute(
                    text(
                        "SELECT count(*) FROM audit_entries WHERE action_id = ANY(:ids) AND step_id = "
                        "'approve'"
                    ),
                    {"ids": bulk},
                ).scalar()
            assert approved == 1000 and audited == 1000, (approved, audited)
            ok &= bulk_s < GOAL_BULK_S
            print(f"\nbulk approval of 1,000 actions (goal < {GOAL_BULK_S:.0f} s), each audited")
            print(f"  through the page (one UPDATE + one audit INSERT): {bulk_s * 1000:8.0f} ms")
            print(
                f"  baseline, per-action decide loop:                 {loop_s * 1000:8.0f} ms "
                f"(page is {loop_s / bulk_s:.1f}x faster)"
            )
            print(
                f"  baseline, bare UPDATE (no audit):                 {bare_s * 1000:8.0f} ms "
                f"(page is {bulk_s / bare_s:.1f}x the bare UPDATE)"
            )
        engine.dispose()
    print("\nall goals met" if ok else "\nsome goals MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
