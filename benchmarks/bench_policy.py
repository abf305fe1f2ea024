"""Policy decisions per second with 10,000 blocklist entries (in-memory usage counter).

    .venv/bin/python benchmarks/bench_policy.py [--entries 10000] [--decisions 20000] [--rounds 3]

Prints decisions/s for the full ``PolicyEngine.decide`` path (blocklist with a mix of exact,
contains and regex entries over users, posts, keywords and domains; idempotency; quiet hours;
hour/day rate limits against an in-memory counter holding a year of actions), against two
references measured in the same run: the bare exact-dict lookup loop (the floor any
blocklist check costs) and the goal of 10,000 decisions/s. The database-backed variant
(counts from ``action_attempts``) is measured separately by the store's own benchmark.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postpulse.policy import (  # noqa: E402
    ACTION_TYPES,
    AccountSettings,
    AccountState,
    ActionRequest,
    Blocklist,
    BlocklistEntry,
    InMemoryIdempotency,
    InMemoryUsageCounter,
    PolicyEngine,
)

GOAL = 10_000
PLATFORMS = ["instagram", "tiktok", "threads", "x"]


def word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def make_entries(rng: random.Random, n: int) -> list[BlocklistEntry]:
    out = []
    for i in range(n):
        et = ("user", "keyword", "domain", "post")[i % 4]
        mt = "exact" if et == "post" else rng.choices(["exact", "contains", "regex"], [6, 3, 1])[0]
        if mt == "regex":
            value = {
                "user": f"^{word(rng, 4)}\\d+$",
                "keyword": f"{word(rng, 4)}[0-9]{{2,4}}{word(rng, 3)}",
                "domain": f"^{word(rng, 5)}\\d*\\.(com|net)$",
            }[et]
        elif et == "domain":
            value = f"{word(rng)}.{rng.choice(['com', 'net', 'io'])}" if mt == "exact" else word(rng, 6)
        elif et == "post":
            value = word(rng, 11).upper()
        else:
            value = word(rng)
        out.append(
            BlocklistEntry(
                et,
                value,
                mt,
                platform=rng.choice([None, None, *PLATFORMS]),
                id=f"blk-{i:08x}",
                expires_at=None,
            )
        )
    return out


def make_requests(rng: random.Random, n: int, entries: list[BlocklistEntry]) -> list[ActionRequest]:
    users = [e.value for e in entries if e.entry_type == "user" and e.match_type == "exact"]
    reqs = []
    for i in range(n):
        action = rng.choice(ACTION_TYPES)
        hit = rng.random() < 0.05  # 5% of targets are blocklisted users
        caption = " ".join(word(rng, rng.randint(3, 9)) for _ in range(rng.randint(8, 40)))
        if rng.random() < 0.3:
            caption += f" see https://{word(rng, 6)}.com/p/{i}"
        reqs.append(
            ActionRequest(
                action_id=f"act-{i:08x}",
                account_id=f"acc-{i % 20:08x}",
                platform=rng.choice(PLATFORMS),
                action_type=action,
                target_type="post",
                target_id=f"P{rng.randrange(10**9)}",
                target_username=rng.choice(users) if hit else word(rng, 10),
                target_text=caption,
                target_url=f"https://{rng.choice(PLATFORMS)}.example/p/{i}",
                params={"text": f"Nice {word(rng, 5)}!"}
                if action in ("comment", "reply", "dm_send", "publish")
                else {},
                approved=True,
            )
        )
    return reqs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--decisions", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    entries = make_entries(rng, args.entries)
    t0 = time.perf_counter()
    blocklist = Blocklist(entries)
    build_s = time.perf_counter() - t0

    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    usage = InMemoryUsageCounter()
    idem = InMemoryIdempotency()
    # a year of history: ~50 actions a day for each of 20 accounts
    for a in range(20):
        for d in range(365):
            for _ in range(50):
                usage.record(
                    f"acc-{a:08x}",
                    rng.choice(ACTION_TYPES),
                    now - timedelta(days=d, seconds=rng.randrange(86_400)),
                )
    settings = AccountSettings.parse({"quiet_hours": {"enabled": True, "start_hour": 23, "end_hour": 6}})
    accounts = {
        (f"acc-{a:08x}", p): AccountState(f"acc-{a:08x}", p, True, True, settings, "Europe/Berlin")
        for a in range(20)
        for p in PLATFORMS
    }
    engine = PolicyEngine(blocklist, usage=usage, idempotency=idem)
    reqs = make_requests(rng, args.decisions, entries)

    # baseline: the bare exact-dict lookup loop over the same requests
    exact_users = {e.value for e in entries if e.entry_type == "user" and e.match_type == "exact"}
    base_rounds = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        hits = 0
        for r in reqs:
            if r.target_username.lower() in exact_users:
                hits += 1
        base_rounds.append(time.perf_counter() - t0)
    base_s = min(base_rounds)

    # best of --rounds (the machine may be shared): the full decide path
    rounds: list[float] = []
    outcomes: dict[str, int] = {}
    for _ in range(args.rounds):
        outcomes = {}
        t0 = time.perf_counter()
        for r in reqs:
            d = engine.decide(r, accounts[(r.account_id, r.platform)], now)
            outcomes[d.reason_code] = outcomes.get(d.reason_code, 0) + 1
        rounds.append(time.perf_counter() - t0)
    full_s = min(rounds)
    median_s = sorted(rounds)[len(rounds) // 2]

    rate = args.decisions / full_s
    base_rate = args.decisions / base_s
    print(f"blocklist entries       : {len(blocklist):,} (index built in {build_s * 1000:.0f} ms)")
    print(f"usage history           : {20 * 365 * 50:,} actions (in memory)")
    print(f"decisions               : {args.decisions:,}")
    print(
        f"decisions/s             : {rate:,.0f} (best of {args.rounds}; "
        f"median {args.decisions / median_s:,.0f})"
    )
    print(f"baseline exact-dict/s   : {base_rate:,.0f} (bare lookup loop, same requests)")
    print(
        f"ratio decide/baseline   : {rate / base_rate:.3f} ({base_rate / rate:.1f}x slower than a bare dict "
        "lookup)"
    )
    print(f"ratio vs goal {GOAL:,}/s : {rate / GOAL:.2f}x  -> {'OK' if rate >= GOAL else 'BELOW GOAL'}")
    print(f"mean latency            : {full_s / args.decisions * 1e6:.1f} us/decision")
    print(
        "outcomes                : "
        + ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))
    )
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
