"""Download runs: what a run is about (:class:`RunSource`), what it did (:class:`ImportResult`),
its row in ``download_runs`` (created ``running``, completed with its counts), the
"already imported" rule (same SHA-256), the source file's hash and the system info."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform as _platform
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse import __version__
from postpulse.errors import PostpulseError
from postpulse.ids import allocate_ids, retry_on_id_collision
from postpulse.ingest.store_values import run_sql
from postpulse.timeutil import as_utc

PREVIEW_ROWS = 10


class ImportFailed(PostpulseError):
    """The import stored nothing; the message names the file and the problem."""


@dataclass
class RunSource:
    """What a run is about (everything but the records)."""

    source_kind: str = "file"  # file | apify | api | checkback | sandbox | browser
    source_path: str | None = None
    source_sha256: str | None = None
    source_bytes: int | None = None
    format: str | None = None
    platform: str | None = None
    captured_at: datetime | None = None
    """Fallback capture time for records without their own."""
    captured_at_source: str = "import_time"  # filename | cli | import_time | fetch_time
    script_name: str | None = None
    dagster_run_id: str | None = None
    track: bool = False
    """Start check-back tracking for the posts this run inserts."""
    extra_info: dict = field(default_factory=dict)


@dataclass
class ImportResult:
    run_id: str | None
    status: str  # completed | already_imported
    source_path: str | None = None
    source_sha256: str | None = None
    source_bytes: int | None = None
    format: str | None = None
    platform: str | None = None
    captured_at: datetime | None = None
    captured_at_source: str | None = None
    records_parsed: int = 0
    posts_fetched: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    snapshots_new: int = 0
    comments_upserted: int = 0
    profiles_new: int = 0
    media_upserted: int = 0
    records_rejected: int = 0
    snapshots_captured_before_post: int = 0
    """New snapshots whose capture time is earlier than their post's ``posted_at`` (kept, flagged
    ``data_downloads.captured_before_post``)."""
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    """The first rejected records (index, field, reason)."""
    preview: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    message: str = ""

    @property
    def already_imported(self) -> bool:
        return self.status == "already_imported"

    def summary(self) -> str:
        if self.already_imported:
            return self.message
        return (
            f"{self.run_id}: {self.posts_fetched} posts ({self.posts_new} new, {self.posts_updated} "
            f"updated), {self.snapshots_new} snapshots, {self.comments_upserted} comments, "
            f"{self.records_rejected} rejected"
        )

    def preview_markdown(self) -> str:
        return preview_markdown(self.preview)


def preview_markdown(rows: list[dict]) -> str:
    if not rows:
        return "_no posts_"

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
        return s[:60] + ("…" if len(s) > 60 else "")

    cols = ["post_id", "platform", "author", "posted_at", "likes", "comments", "views", "text"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(cell(r.get(c)) for c in cols) + " |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- helpers


def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 20) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def system_info(**extra: Any) -> dict:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "hostname": socket.gethostname(),
        "user": user,
        "postpulse_version": __version__,
        "python": _platform.python_version(),
        "platform": sys.platform,
        "pid": os.getpid(),
        **extra,
    }


_INSERT_RUN = """
INSERT INTO download_runs (id, status, source_kind, script_name, platform, format, source_path, source_sha256,
                           source_bytes, captured_at, captured_at_source, system_info, dagster_run_id,
                               started_at)
VALUES (%(id)s, 'running', %(source_kind)s, %(script_name)s, %(platform)s, %(format)s, %(source_path)s,
        %(sha)s, %(bytes)s, %(captured_at)s, %(captured_at_source)s, %(system_info)s, %(dagster_run_id)s,
            %(started_at)s)
"""
COMPLETE_RUN_SQL = """
UPDATE download_runs SET status = 'completed', completed_at = greatest(clock_timestamp(), started_at),
  platform = %(platform)s, format = coalesce(%(format)s, format),
  captured_at = %(captured_at)s, captured_at_source = %(captured_at_source)s,
  posts_fetched = %(fetched)s, posts_new = %(new)s, posts_updated = %(updated)s, snapshots_new = %(snaps)s,
  comments_upserted = %(comments)s, records_rejected = %(rejected)s, error_message = %(error)s,
  snapshots_captured_before_post = %(before_post)s
WHERE id = %(id)s
"""
FAIL_RUN_SQL = """
UPDATE download_runs SET status = 'failed', completed_at = greatest(clock_timestamp(), started_at),
  platform = %(platform)s, format = coalesce(%(format)s, format),
  records_rejected = %(rejected)s, error_message = %(error)s
WHERE id = %(id)s
"""
COUNT_BEFORE_POST_SQL = """
SELECT count(*) FROM data_downloads WHERE run_id = %(id)s AND captured_before_post
"""


def existing_run_for_hash(conn: Connection, sha: str) -> str | None:
    return conn.execute(
        text(
            "SELECT id FROM download_runs WHERE source_sha256 = :s AND status IN ('running', 'completed') "
            "ORDER BY started_at LIMIT 1"
        ),
        {"s": sha},
    ).scalar()


def create_run(conn: Connection, source: RunSource, now: datetime) -> str:
    params = {
        "source_kind": source.source_kind,
        "script_name": source.script_name,
        "platform": source.platform,
        "format": source.format,
        "source_path": source.source_path,
        "sha": source.source_sha256,
        "bytes": source.source_bytes,
        "captured_at": as_utc(source.captured_at) or now,
        "captured_at_source": source.captured_at_source,
        "dagster_run_id": source.dagster_run_id,
        "system_info": json.dumps(system_info(**source.extra_info), default=str),
        "started_at": now,
    }

    def attempt() -> str:
        (run_id,) = allocate_ids(conn, "download_runs", 1)
        run_sql(conn, _INSERT_RUN, {**params, "id": run_id})
        return run_id

    return retry_on_id_collision(conn, "download_runs", attempt)


class AlreadyImported(Exception):
    pass


def already_imported_result(run_id: str, source: RunSource) -> ImportResult:
    name = source.source_path or "this data"
    return ImportResult(
        run_id=run_id,
        status="already_imported",
        source_path=source.source_path,
        source_sha256=source.source_sha256,
        source_bytes=source.source_bytes,
        message=f"{name}: already imported as {run_id} (same SHA-256); nothing changed",
    )
