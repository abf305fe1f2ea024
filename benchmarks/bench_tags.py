"""Tag rules applied to stored posts: 1,000 rules over N posts (goal: 1 M posts in under 60 s).

    .venv/bin/python benchmarks/bench_tags.py [--posts 100000] [--rules 1000] [--seed 1]

Fills a fresh database with N synthetic posts (text from a vocabulary, 0-4 hashtags, one of
5,000 authors, four platforms) and 1,000 rules (hashtag rules, whole-word keyword rules, regex
rules, author rules, some limited to a platform), then times

* ``reapply`` of all rules to every stored post (batched scan, RE2 set matching, the diff
  against the stored tag rows, ``COPY`` of the new ones), from empty and again with nothing to
  change;
* the re-application of one changed rule (what ``postpulse tags rule-edit`` does), limited to
  one platform (only that platform's posts are read) and on every platform;

against the baseline measured in the same run: one DuckDB pass over the posts' text through
the store (``SELECT count(*), sum(length(text_content)) FROM posts``), the floor of any rule
engine that reads every post. Prints the times and the ratios to that pass.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from benchmarks._db import fresh_database, server  # noqa: E402
from postpulse.agency import rules as R  # noqa: E402
from postpulse.analytics.duck import open_analytics  # noqa: E402
from postpulse.store.database import make_engine  # noqa: E402

PLATFORMS = ["instagram", "tiktok", "x", "linkedin"]
GOAL_S, GOAL_POSTS = 60.0, 1_000_000


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(n)})


def fill(url: str, n_posts: int, n_rules: int, seed: int) -> None:
    rng = random.Random(seed)
    vocab = _words(rng, 20_000)
    hashtags = _words(rng, 2_000)
    authors = [f"user{i}" for i in range(5_000)]
    engine = make_engine(url)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(
                "COPY posts (id, platform, platform_post_id, author_username, text_content, hashtags) "
                "FROM STDIN"
            ) as cp,
        ):
            for i in range(n_posts):
                tags = rng.sample(hashtags, rng.randint(0, 4))
                body = " ".join(rng.choices(vocab, k=rng.randint(8, 40)))
                cp.write_row(
                    (
                        f"p-{i:08x}",
                        rng.choice(PLATFORMS),
                        str(i),
                        rng.choice(authors),
                        body + "".join(f" #{t}" for t in tags),
                        json.dumps(tags),
                    )
                )
        tag_rows, rule_rows = [], []
        for i in range(n_rules):
            tag_rows.append((f"tag-{i:08x}", f"topic{i}"))
            kind = rng.random()
            spec: dict = {"hashtags": [], "keyword_regex": None, "authors": [], "platforms": []}
            if kind < 0.5:
                spec["hashtags"] = rng.sample(hashtags, rng.randint(1, 3))
            elif kind < 0.8:
                spec["keyword_regex"] = R.keywords_regex(rng.sample(vocab, rng.randint(1, 3)))
            elif kind < 0.9:
                spec["keyword_regex"] = rng.choice(vocab)[:3] + r"\w*" + rng.choice(vocab)[-2:]
            else:
                spec["authors"] = rng.sample(authors, rng.randint(1, 5))
            if rng.random() < 0.2:
                spec["platforms"] = [rng.choice(PLATFORMS)]
            rule_rows.append(
                (
                    f"trl-{i:08x}",
                    f"tag-{i:08x}",
                    json.dumps(spec["hashtags"]),
                    spec["keyword_regex"],
                    json.dumps(spec["authors"]),
                    json.dumps(spec["platforms"]),
                )
            )
        with raw.cursor() as cur:
            with cur.copy("COPY tags (id, name) FROM STDIN") as cp:
                for r in tag_rows:
                    cp.write_row(r)
            with cur.copy(
                "COPY tag_rules (id, tag_id, hashtags, keyword_regex, authors, platforms) FROM STDIN"
            ) as cp:
                for r in rule_rows:
                    cp.write_row(r)
        conn.execute(text("ANALYZE posts"))
    engine.dispose()


def duckdb_pass(url: str) -> float:
    with open_analytics(url) as a:
        t0 = time.perf_counter()
        a.con.execute("SELECT count(*), sum(length(text_content)) FROM posts").fetchall()
        return time.perf_counter() - t0


def timed(url: str, fn) -> tuple[float, object]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            t0 = time.perf_counter()
            res = fn(conn)
            return time.perf_counter() - t0, res
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--rules", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with server() as (srv, where), fresh_database(srv) as url:
        t0 = time.perf_counter()
        fill(url, args.posts, args.rules, args.seed)
        print(
            f"{args.posts:,} posts, {args.rules:,} rules on {where} "
            f"(filled in {time.perf_counter() - t0:.1f} s)"
        )
        print(f"load average before measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        base = min(duckdb_pass(url) for _ in range(3))
        first, res = timed(url, lambda c: R.reapply(c, None))
        again, res2 = timed(url, lambda c: R.reapply(c, None))
        one, res3 = timed(
            url,
            lambda c: R.update_rule(c, "trl-00000000", R.RuleSpec(keywords=("benchmark",), platforms=("x",)))[
                1
            ],
        )
        anywhere, res4 = timed(
            url, lambda c: R.update_rule(c, "trl-00000001", R.RuleSpec(keywords=("benchmark",)))[1]
        )
        print(f"{'baseline: one DuckDB pass over the text':34} {base:8.2f} s")
        for label, secs, what in (
            ("all rules, from empty", first, f"+{res.added:,} tags, {res.posts_scanned:,} posts"),
            ("all rules, unchanged", again, f"+{res2.added} -{res2.removed}"),
            ("one rule changed (one platform)", one, f"-{res3.removed} +{res3.added}"),
            ("one rule changed (all platforms)", anywhere, f"-{res4.removed} +{res4.added}"),
        ):
            print(f"{label:34} {secs:8.2f} s  ({secs / base:6.1f}x the pass)  {what}")
        if args.posts >= GOAL_POSTS:
            verdict = "met" if first < GOAL_S * args.posts / GOAL_POSTS else "MISSED"
            print(f"goal: {args.rules:,} rules over {GOAL_POSTS:,} posts in < {GOAL_S:.0f} s: {verdict}")
        else:
            print(f"(the goal is stated for {GOAL_POSTS:,} posts; this run used {args.posts:,})")


if __name__ == "__main__":
    main()
