"""Bulk scheduling from a CSV file, all or nothing.

Columns: ``accounts`` (usernames or ids, separated by spaces or ``;``), ``time`` (ISO 8601; UTC
when no offset), ``text``, and optionally ``media`` (paths separated by ``;``, relative to the
CSV file), ``alt`` (alt texts in the same order), ``title``, ``tags``. Every row is checked first
(accounts, time, media readable, the platform rules of every variant); one bad row names its line
and column and nothing is created. The person importing the file approves its items.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from postpulse.engagement.repository import InvalidAction, get_account
from postpulse.engagement.repository import NotFound as AccountNotFound

from .errors import MediaError, PublishingError
from .items import ItemInput, MediaSpec, approve, create_item, rules_platform, submit
from .media import inspect_file
from .schedule import schedule_item
from .validation import VariantDraft, check_variant

REQUIRED = ("accounts", "time", "text")
OPTIONAL = ("media", "alt", "title", "tags")


class BulkError(PublishingError):
    pass


@dataclass
class Row:
    line: int
    accounts: list[str]
    at: datetime
    data: ItemInput


def _split(value: str | None, seps: str = ";") -> list[str]:
    if not value:
        return []
    for s in seps[1:]:
        value = value.replace(s, seps[0])
    return [v.strip() for v in value.split(seps[0]) if v.strip()]


def read_rows(conn: Connection, path: Path, *, now: datetime | None = None) -> list[Row]:
    now = now or datetime.now(UTC)
    if not path.is_file():
        raise BulkError(f"{path} does not exist", fix="check the path")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise BulkError(
                f"{path} line 1: missing column {missing[0]!r}",
                fix=f"the columns are {', '.join(REQUIRED + OPTIONAL)}",
            )
        unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
        if unknown:
            raise BulkError(
                f"{path} line 1: unknown column {unknown[0]!r}",
                fix=f"the columns are {', '.join(REQUIRED + OPTIONAL)}",
            )
        rows: list[Row] = []
        for rec in reader:
            line = reader.line_num
            where = f"{path} line {line}"

            def bad(column: str, message: str, where=where) -> BulkError:
                return BulkError(
                    f"{where}, column {column}: {message}", fix="correct the row; nothing was scheduled"
                )

            accounts = _split(rec.get("accounts"), "; ,")
            if not accounts:
                raise bad("accounts", "no account")
            accs = []
            for a in accounts:
                try:
                    accs.append(get_account(conn, a))
                except (AccountNotFound, InvalidAction) as exc:
                    raise bad("accounts", str(exc)) from None
            raw_time = (rec.get("time") or "").strip()
            try:
                at = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
            except ValueError:
                raise bad(
                    "time", f"{raw_time!r} is not an ISO 8601 date-time (2026-06-01T09:30:00+02:00)"
                ) from None
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            if at < now:
                raise bad("time", f"{raw_time} is in the past")
            paths = _split(rec.get("media"))
            alts = _split(rec.get("alt"))
            media = []
            for i, p in enumerate(paths):
                full = (path.parent / p).expanduser() if not Path(p).is_absolute() else Path(p)
                if not full.is_file():
                    raise bad("media", f"{p} does not exist")
                try:
                    info = inspect_file(full)
                except MediaError as exc:
                    raise bad("media", str(exc)) from None
                media.append(
                    (
                        {
                            **info,
                            "sha256": "(new file)",
                            "stored_path": str(full),
                            "alt_text": alts[i] if i < len(alts) else None,
                        },
                        MediaSpec(str(full), alts[i] if i < len(alts) else None),
                    )
                )
            body = rec.get("text") or ""
            for acc in accs:
                draft = VariantDraft(
                    variant_id=f"line {line}",
                    platform=rules_platform(acc["platform"], acc.get("metadata")),
                    username=acc["username"],
                    text=body,
                    media=[m for m, _ in media],
                )
                problems = check_variant(draft)
                if problems:
                    column = (
                        "text"
                        if "text" in problems[0] or "mention" in problems[0] or "link" in problems[0]
                        else "media"
                    )
                    raise bad(column, problems[0].split(": ", 1)[1] + f" (@{acc['username']})")
            rows.append(
                Row(
                    line,
                    [a["id"] for a in accs],
                    at,
                    ItemInput(
                        text=body,
                        title=(rec.get("title") or None),
                        media=[s for _, s in media],
                        tags=_split(rec.get("tags"), "; ,"),
                        accounts=[a["id"] for a in accs],
                    ),
                )
            )
    if not rows:
        raise BulkError(f"{path}: no rows", fix="add one row per post under the header")
    return rows


def schedule_csv(
    conn: Connection, path: Path, *, workspace: str | None = None, actor: str = "user"
) -> list[str]:
    """Create, approve and schedule one item per row, in the caller's transaction (all or nothing)."""
    rows = read_rows(conn, path)
    created = []
    for row in rows:
        try:
            item = create_item(conn, row.data, workspace=workspace, actor=actor)
            submit(conn, item, actor=actor)
            approve(conn, item, actor=actor)
            schedule_item(conn, item, row.at, actor=actor)
        except PublishingError as exc:
            raise BulkError(f"{path} line {row.line}: {exc}") from None
        created.append(item)
    return created
