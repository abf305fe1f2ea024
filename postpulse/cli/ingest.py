"""``postpulse import``, ``track``, ``untrack``, ``tracking`` (top-level commands)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from postpulse.cli import agency as agency_cli
from postpulse.cli.common import console, err_console, fail, open_store, plain
from postpulse.errors import PostpulseError


def shown(text: str) -> str:
    """A file name or value from the data as it is: never markup, control characters escaped."""
    return escape(plain(text))


SKIP_NAMES = (".error.txt", ".note.txt", ".md", ".part", ".tmp", ".toml")


def _expand(paths: list[Path]) -> list[Path]:
    """The files to import: each path given, and the regular files inside each folder given.
    A path that is neither (missing, a link loop, a FIFO, a device) is kept: the import names
    what it is."""
    out: list[Path] = []
    for p in paths:
        try:
            is_dir = p.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            try:
                found = [
                    f
                    for f in p.rglob("*")
                    if f.is_file() and not f.name.startswith(".") and not f.name.endswith(SKIP_NAMES)
                ]
            except OSError as exc:
                fail(f"{p}: cannot list the folder: {exc.strerror or exc}")
            out.extend(sorted(found))
        else:
            out.append(p)
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except (OSError, ValueError):
        return 0


def _parse_time(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 time; use e.g. 2025-09-21T13:10:57Z")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def import_command(
    paths: list[Path] = typer.Argument(..., help="files or folders (folders: every file inside)"),
    format: str | None = typer.Option(None, "--format", help="force a format (listed in docs/ingest.md)"),
    captured_at: str | None = typer.Option(
        None, "--captured-at", help="capture time (ISO 8601) for records and file names without one"
    ),
    mapping: list[Path] = typer.Option(
        [], "--mapping", help="extra field-mapping file(s) (TOML) for your own formats"
    ),
    track: bool = typer.Option(False, "--track", help="start check-back tracking for the new posts"),
) -> None:
    """Import scraper exports (JSON, JSONL, CSV, gzip), one download run per file."""
    from postpulse.ingest.loader import import_file

    files = _expand(paths)
    if not files:
        fail("no files to import in " + ", ".join(str(p) for p in paths))
    if format == "account_daily_stats":  # profile snapshots of one account (postpulse.cli.agency)
        return agency_cli.import_daily_stats_files(files)
    cap = _parse_time(captured_at, "--captured-at")
    store = open_store()
    engine = store.engine
    results = []
    for f in files:
        size = _size(f)
        with Progress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        ) as progress:
            task = progress.add_task("import", total=size or None, name=shown(f.name[:40]), records=0)

            def on_progress(records: int, read: int, task=task) -> None:
                progress.update(task, completed=read or 0, records=records)

            try:
                res = import_file(
                    engine,
                    f,
                    format=format,
                    captured_at=cap,
                    mapping_paths=mapping,
                    track=track,
                    progress=on_progress,
                )
            except PostpulseError as exc:
                msg = str(exc)
                fail(msg if str(f) in msg else f"{f}: {msg}")
            except OSError as exc:  # the file vanished or became unreadable while being read
                fail(f"{f}: cannot read: {exc.strerror or exc}")
            progress.update(task, completed=size)
        results.append(res)
    table = Table(title="postpulse import", show_lines=False)
    # cells hold file names and values from the data: never markup
    no_wrap = {"run"}
    for col, just in (
        ("file", "left"),
        ("run", "left"),
        ("format", "left"),
        ("captured (source)", "left"),
        ("posts", "right"),
        ("new", "right"),
        ("updated", "right"),
        ("snapshots", "right"),
        ("comments", "right"),
        ("rejected", "right"),
    ):
        table.add_column(col, justify=just, no_wrap=col in no_wrap)
    for r in results:
        name = shown(Path(r.source_path or "").name)
        if r.already_imported:
            table.add_row(name, r.run_id or "", "", "already imported", "", "", "", "0", "", "")
            continue
        cap_s = f"{r.captured_at:%Y-%m-%d %H:%M} ({r.captured_at_source})" if r.captured_at else ""
        table.add_row(
            name,
            r.run_id or "",
            r.format or "",
            cap_s,
            f"{r.posts_fetched:,}",
            f"{r.posts_new:,}",
            f"{r.posts_updated:,}",
            f"{r.snapshots_new:,}",
            f"{r.comments_upserted:,}",
            f"{r.records_rejected:,}",
        )
    console.print(table)
    for r in results:
        if r.snapshots_captured_before_post:
            err_console.print(
                f"[yellow]warning: {shown(Path(r.source_path or '').name)}: "
                f"{r.snapshots_captured_before_post:,} snapshot(s) captured before their post was published "
                f"(capture time {r.captured_at or '?'!s:.16} from {r.captured_at_source}); kept but flagged "
                "and left out of growth and time-to-engagement; if the capture time is wrong, pass the "
                "right --captured-at[/yellow]",
                highlight=False,
            )
    for r in results:
        if r.already_imported:
            console.print(f"[yellow]{shown(r.message)}[/yellow]", highlight=False)
        elif r.rejected:
            first = r.rejected[0]
            name = shown(Path(r.source_path or "").name)
            console.print(
                f"[yellow]{name}: {r.records_rejected} record(s) kept aside, "
                f"e.g. record {first['record_index']}: {shown(str(first['reason']))}[/yellow]",
                highlight=False,
            )


def track_command(
    url: str = typer.Argument(..., help="post URL, post id (p-…) or URN"),
    schedule: str | None = typer.Option(
        None, "--schedule", help="check-back offsets after posting, e.g. 1h,24h,7d"
    ),
) -> None:
    """Start tracking a post: check its metrics again on a schedule."""
    from postpulse.checkbacks.track import track_post

    store = open_store()
    try:
        info = track_post(
            store.engine, url, schedule=schedule, sandbox_url=os.environ.get("POSTPULSE_SANDBOX_URL")
        )
    except PostpulseError as exc:
        fail(str(exc))
    console.print(
        f"tracking [bold]{shown(info['post_id'])}[/bold] ({shown(info['platform'])}), schedule "
        f"{shown(', '.join(info['schedule']))}; next check {info['next_check_at']:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )


def untrack_command(ref: str = typer.Argument(..., help="post URL or post id (p-…)")) -> None:
    """Stop tracking a post (its history stays)."""
    from postpulse.checkbacks.track import untrack_post

    store = open_store()
    try:
        post_id = untrack_post(store.engine, ref)
    except PostpulseError as exc:
        fail(str(exc))
    console.print(f"stopped tracking {shown(post_id)}")


def _rel(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return "-"
    secs = int((dt - now).total_seconds())
    sign, secs = ("overdue ", -secs) if secs < 0 else ("in ", secs)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{sign}{secs // n}{unit}"
    return "now" if sign == "in " else f"overdue {secs}s"


def tracking_command(
    platform: str | None = typer.Option(None, "--platform", help="only this platform"),
    limit: int = typer.Option(50, "--limit", help="rows to show"),
    all_: bool = typer.Option(False, "--all", help="include posts whose tracking is complete"),
    fmt: str = typer.Option("table", "--format", "-f", help="table (fits 80 columns) or json (for scripts)"),
) -> None:
    """What is tracked and when each post is checked next."""
    import json
    from dataclasses import asdict

    from postpulse.checkbacks.track import tracking_list

    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")
    store = open_store()
    total, rows = tracking_list(store.engine, platform=platform, limit=limit, include_done=all_)
    now = datetime.now(UTC)
    if fmt == "json":
        doc = {"total": total, "posts": [{**asdict(r), "due": _rel(r.next_check_at, now)} for r in rows]}
        console.print_json(json.dumps(doc, default=str))
        return
    table = Table(
        title=f"tracked posts: {total:,}" + (f" (first {len(rows)})" if total > len(rows) else ""),
        box=None,
        header_style="bold underline",
        padding=(0, 1, 0, 0),
        pad_edge=False,
        title_justify="left",
    )
    table.add_column("post", no_wrap=True)
    table.add_column("platform", no_wrap=True, max_width=9, overflow="ellipsis")
    table.add_column("author", no_wrap=True, max_width=12, overflow="ellipsis")
    table.add_column("posted", no_wrap=True)
    table.add_column("checks", justify="right", no_wrap=True)
    table.add_column("next", no_wrap=True)
    table.add_column("snaps", justify="right", no_wrap=True)
    table.add_column("fails", justify="right", no_wrap=True)
    errors = []
    for r in rows:
        if r.last_check_error:
            errors.append(f"{r.post_id}: {r.last_check_error[:120]}")
        table.add_row(
            r.post_id,
            shown(r.platform),
            shown(r.author or ""),
            f"{r.posted_at:%m-%d %H:%M}" if r.posted_at else "",
            f"{r.checks_completed}/{r.slots}",
            _rel(r.next_check_at, now) if r.next_check_at else "done",
            str(r.snapshots),
            str(r.check_failures),
        )
    console.print(table)
    if errors:
        console.print("last check errors:")
        for e in errors:
            console.print("  " + shown(e), highlight=False, soft_wrap=True)
    console.print("[dim]times in UTC; --format json for scripts[/dim]")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("track")(track_command)
    app.command("untrack")(untrack_command)
    app.command("tracking")(tracking_command)
