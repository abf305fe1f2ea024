"""Collect a connected account's posts (with insights and comments) as one download run.

The connector's records are written as JSONL to ``<data dir>/downloads/<platform>/`` and loaded
by the ingest loader with the built-in ``official_<platform>`` mapping: the same tables, natural
keys, snapshots (reach, impressions, saves included), comments and run counts as any import.
In the same transaction the posts are linked to the account and every call lands in
``api_usage``. A failed call fails the collection before anything is loaded; its calls are still
recorded, and a revoked token marks the account for reconnection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse import config
from postpulse.api_usage import record_calls
from postpulse.crypto import Vault
from postpulse.ingest import iter_file
from postpulse.ingest.downloads import write_jsonl
from postpulse.ingest.loader import ImportResult, RunSource, load_records

from .accounts import flag_revoked, open_connector
from .errors import ApiError, TokenRevoked

_LINK = text(
    "UPDATE posts SET account_id = :aid FROM profiles pr WHERE posts.author_profile_id = pr.id "
    "AND pr.platform = :p AND pr.platform_user_id = :uid AND posts.account_id IS DISTINCT FROM :aid"
)
_PROFILE = text("UPDATE profiles SET account_id = :aid WHERE platform = :p AND platform_user_id = :uid")


@dataclass
class CollectResult:
    platform: str
    posts: int = 0
    comments: int = 0
    calls: int = 0
    quota_units: int = 0
    waited_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    path: str | None = None
    import_result: ImportResult | None = None

    @property
    def run_id(self) -> str | None:
        return self.import_result.run_id if self.import_result else None

    @property
    def message(self) -> str:
        loaded = self.import_result.message if self.import_result else "nothing loaded"
        return (
            f"{self.platform}: {self.posts} posts, {self.comments} comments in {self.calls} calls "
            f"({self.quota_units} quota units) -> {loaded}"
            + ("; " + "; ".join(self.notes) if self.notes else "")
        )


def _count_comments(items: list[dict]) -> int:
    return sum(1 + _count_comments(c.get("replies") or []) for c in items)


def download_path(platform: str, now: datetime, folder: Path | None = None) -> Path:
    folder = folder or config.data_dir() / "downloads" / platform
    return folder / f"{platform}-api-{now:%Y%m%dT%H%M%S%fZ}.jsonl"


def collect_account(
    engine: Engine,
    vault: Vault,
    account_id: str,
    *,
    limit: int = 50,
    now: datetime | None = None,
    folder: Path | None = None,
    dagster_run_id: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> CollectResult:
    now = now or datetime.now(UTC)
    conn_ = open_connector(engine, vault, account_id, sleep=sleep)
    conn_.record = None  # the calls are written with the run (or with the failure) below
    platform = conn_.platform
    res = CollectResult(platform)
    try:
        rows = conn_.collect_posts(limit)
    except TokenRevoked as exc:
        flag_revoked(engine, account_id, platform, exc, conn_.calls)
        raise
    except ApiError:
        with engine.begin() as conn:
            record_calls(conn, platform, conn_.calls, account_id=account_id)
        raise
    finally:
        conn_.close()
    calls = list(conn_.calls)
    res.posts, res.calls = len(rows), len(calls)
    res.comments = sum(_count_comments(r.get("comments") or []) for r in rows)
    res.quota_units = sum(c.quota_units or 0 for c in calls)
    res.waited_s = conn_.session.waited_s
    res.notes = list(getattr(conn_, "notes", []))
    path = download_path(platform, now, folder)
    write_jsonl(path, rows)
    res.path = str(path)
    user_id = conn_.meta.get("user_id")

    def after_merge(conn: Connection, run_id: str) -> str | None:
        conn.execute(_PROFILE, {"aid": account_id, "p": platform, "uid": user_id})
        conn.execute(_LINK, {"aid": account_id, "p": platform, "uid": user_id})
        conn.execute(
            text("UPDATE accounts SET last_synced_at = :now WHERE id = :id"), {"now": now, "id": account_id}
        )
        record_calls(conn, platform, calls, run_id=run_id, account_id=account_id)
        return None

    source = RunSource(
        source_kind="api",
        source_path=str(path),
        source_bytes=path.stat().st_size,
        format=f"official_{platform}",
        platform=platform,
        captured_at=now,
        captured_at_source="fetch_time",
        script_name=f"postpulse platforms collect {platform}",
        dagster_run_id=dagster_run_id,
        track=True,
        extra_info={"api": conn_.api_url, "account_id": account_id, "calls": len(calls), "notes": res.notes},
    )
    records = iter_file(path, f"official_{platform}", captured_at=now) if rows else iter(())
    res.import_result = load_records(engine, records, source, now=now, after_merge=after_merge)
    return res
