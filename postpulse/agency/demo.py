"""The demo's agency setup, made by ``postpulse up`` with the sandbox (idempotent):

* a workspace ``demo`` holding our sandbox accounts (``demo_<platform>``, ``demo2_<platform>``),
  linked to their profiles, so our posts carry their account from the first pull on;
* one tag per sandbox topic with a rule on the topic's hashtags (``coffee``, ``running``, ...),
  so the pulled posts are tagged at import;
* each of our accounts' daily statistics for the last 30 days, written as an
  ``account_daily_stats`` file and imported as profile snapshots (follower growth has a history
  on the first run; the pulls add a snapshot per capture from then on).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from postpulse.agency import profile_snapshots as S
from postpulse.agency.links import link_account
from postpulse.agency.rules import RuleSpec, add_rule
from postpulse.agency.tags import add_tag
from postpulse.agency.workspaces import ensure_workspace, move_account
from postpulse.engagement import repository as repo
from postpulse.sandbox.world import PLATFORMS, TOPICS, World, account_daily_stats, build_world, our_accounts

DEMO_WORKSPACE = "demo"
HISTORY_DAYS = 30
_HAS_HISTORY = """
SELECT 1 FROM profile_snapshots s JOIN profiles p ON p.id = s.profile_id
WHERE p.platform = :p AND lower(p.username) = lower(:u) AND s.source = 'account_daily_stats' LIMIT 1"""


@dataclass
class DemoSetup:
    workspace_id: str
    accounts: int
    rules: int
    snapshots: int


def _write_stats(world: World, platform: str, username: str, folder: Path) -> Path:
    rows = account_daily_stats(world, platform, username, HISTORY_DAYS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{platform}_{username}_daily_stats_{world.now:%Y%m%d}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["date", "platform", "username", "followers", "following", "views"])
        w.writeheader()
        for r in rows:
            w.writerow({"platform": platform, "username": username, **r})
    return path


def ensure_demo(engine: Engine, data_dir: Path, world: World | None = None) -> DemoSetup:
    """Create (or complete) the demo's workspace, accounts, tag rules and follower history."""
    world = world or build_world()
    accounts = rules = snapshots = 0
    with engine.begin() as conn:
        ws = ensure_workspace(conn, DEMO_WORKSPACE)
        for platform in PLATFORMS:
            for username in our_accounts(platform):
                acc_id = conn.execute(
                    text("SELECT id FROM accounts WHERE platform = :p AND lower(username) = lower(:u)"),
                    {"p": platform, "u": username},
                ).scalar()
                if acc_id is None:
                    acc_id = repo.add_account(conn, platform=platform, username=username)["id"]
                    accounts += 1
                    move_account(conn, acc_id, ws["id"])
                link_account(conn, acc_id)
        for topic, (hashtags, _role) in TOPICS.items():
            tag = add_tag(conn, topic, exist_ok=True)
            if not conn.execute(text("SELECT 1 FROM tag_rules WHERE tag_id = :t"), {"t": tag["id"]}).first():
                add_rule(conn, tag["id"], RuleSpec(hashtags=tuple(hashtags)))
                rules += 1
    folder = data_dir / "downloads" / "sandbox" / "account_stats"
    for platform in PLATFORMS:
        for username in our_accounts(platform):
            with engine.connect() as conn:
                has_history = conn.execute(text(_HAS_HISTORY), {"p": platform, "u": username}).first()
            if has_history:  # once: later runs' histories would start from a later "now"
                continue
            stats = S.read_daily_stats(_write_stats(world, platform, username, folder))
            with engine.begin() as conn:
                snapshots += S.import_daily_stats(conn, stats).added
    return DemoSetup(ws["id"], accounts, rules, snapshots)
