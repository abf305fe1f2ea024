"""``postpulse content ...``: drafts, review, scheduling, the calendar and publishing.

postpulse content add --account demo_x --account demo_threads --text "Launch day" [--media a.png --alt "..."]
postpulse content edit cnt-... [--text ...] [--account demo_x --variant-text "shorter for X"]
postpulse content submit|approve|cancel cnt-... ; postpulse content schedule cnt-... --at +1m
postpulse content list [--workspace W] [--status scheduled] ; postpulse content show cnt-...
postpulse content calendar [--workspace W] [--from 2026-06-01 --to 2026-07-01] [--ics plan.ics]
postpulse content import posts.csv ; postpulse content report [cnt-...] ; postpulse content publish
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, guarded, open_store, plain

app = typer.Typer(
    help="Content items: drafts, review, scheduling, calendar, publishing.", no_args_is_help=True
)

_RELATIVE = re.compile(r"^\+(\d+)([mhd])$")


def _engine():
    return open_store().engine


def _when(value: str, what: str) -> datetime:
    m = _RELATIVE.match(value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{what}: {value!r} is not a time; write ISO 8601 (2026-06-01T09:30:00+02:00) or +30m, +2h, +1d")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _media(paths: list[str], alts: list[str]):
    from postpulse.publishing.items import MediaSpec

    if len(alts) > len(paths):
        fail("more --alt than --media: give one --alt per --media, in the same order")
    return [MediaSpec(p, alts[i] if i < len(alts) else None) for i, p in enumerate(paths)]


def _short(value: str | None, width: int) -> str:
    one = " ".join((value or "").split())
    return plain(one if len(one) <= width else one[: width - 1] + "…")


def _t(dt) -> str:
    return f"{dt:%Y-%m-%d %H:%M}" if dt else "-"


@app.command("add")
@guarded
def add(
    text_value: str = typer.Option("", "--text", "-t", help="the post text"),
    accounts: list[str] = typer.Option([], "--account", "-a", help="an account to publish to (repeat)"),
    media: list[str] = typer.Option([], "--media", "-m", help="an image or video file (repeat)"),
    alts: list[str] = typer.Option([], "--alt", help="alt text of each --media, in order"),
    links: list[str] = typer.Option([], "--link", help="a link the post carries (repeat)"),
    tags: list[str] = typer.Option([], "--tag", help="a tag (repeat)"),
    title: str | None = typer.Option(None, "--title"),
    notes: str | None = typer.Option(None, "--notes"),
    workspace: str | None = typer.Option(None, "--workspace", "-w"),
) -> None:
    """Create a draft with one variant per account."""
    from postpulse.publishing.items import ItemInput, create_item

    data = ItemInput(
        text=text_value,
        title=title,
        media=_media(media, alts),
        links=links,
        tags=tags,
        notes=notes,
        accounts=accounts,
    )
    with _engine().begin() as conn:
        item = create_item(conn, data, workspace=workspace)
    console.print(f"created {item} (draft, {len(accounts)} variants); next: postpulse content submit {item}")


@app.command("edit")
@guarded
def edit(
    item: str,
    text_value: str | None = typer.Option(None, "--text", "-t"),
    accounts: list[str] = typer.Option(
        [], "--account", "-a", help="add a variant (or pick one for --variant-*)"
    ),
    variant_text: str | None = typer.Option(None, "--variant-text", help="this --account's own text"),
    media: list[str] | None = typer.Option(None, "--media", "-m", help="replace the media (repeat)"),
    alts: list[str] = typer.Option([], "--alt"),
    links: list[str] | None = typer.Option(None, "--link"),
    tags: list[str] | None = typer.Option(None, "--tag"),
    title: str | None = typer.Option(None, "--title"),
    notes: str | None = typer.Option(None, "--notes"),
) -> None:
    """Change an item or one variant; an approved or scheduled item goes back to review."""
    from postpulse.publishing import items

    with _engine().begin() as conn:
        if variant_text is not None:
            if len(accounts) != 1:
                fail("--variant-text needs exactly one --account (the variant to change)")
            items.edit_variant(conn, item, accounts[0], text_override=variant_text)
            accounts = []
        data = items.ItemInput(
            text=text_value,
            title=title,
            notes=notes,
            links=links or None,
            tags=tags or None,
            media=_media(media, alts) if media else None,
            accounts=accounts,
        )
        row = items.edit_item(conn, item, data)
    console.print(f"{item} edited; status {row['status']}")


def _transition(name: str, item: str) -> None:
    from postpulse.publishing import items

    with _engine().begin() as conn:
        row = getattr(items, name)(conn, item)
    console.print(f"{item} is {row['status']}")


@app.command("submit")
@guarded
def submit(item: str) -> None:
    """Send a draft for review."""
    _transition("submit", item)


@app.command("approve")
@guarded
def approve(item: str) -> None:
    """Approve an item in review."""
    _transition("approve", item)


@app.command("cancel")
@guarded
def cancel(item: str) -> None:
    """Cancel an item and its pending publications (edit it to start again)."""
    _transition("cancel", item)


@app.command("schedule")
@guarded
def schedule(item: str, at: str = typer.Option(..., "--at", help="ISO 8601, or +30m / +2h / +1d")) -> None:
    """Validate every variant and schedule the item."""
    from postpulse.publishing.errors import ValidationFailed
    from postpulse.publishing.schedule import schedule_item

    when = _when(at, "--at")
    try:
        with _engine().begin() as conn:
            pubs = schedule_item(conn, item, when)
    except ValidationFailed as exc:
        for p in exc.problems[1:]:
            console.print(f"[red]-[/red] {escape(plain(p))}", highlight=False, soft_wrap=True)
        fail(str(exc))
    console.print(f"{item} scheduled for {_t(when)} UTC: {len(pubs)} publications ({', '.join(pubs)})")


@app.command("list")
@guarded
def list_(
    workspace: str | None = typer.Option(None, "--workspace", "-w"),
    status: str | None = typer.Option(None, "--status"),
) -> None:
    """Content items, newest plan first."""
    from postpulse.publishing.items import list_items

    with _engine().connect() as conn:
        rows = list_items(conn, workspace=workspace, status=status)
    t = Table(header_style="bold cyan", box=None)
    for col, kw in (
        ("id", {"no_wrap": True}),
        ("status", {}),
        ("when (UTC)", {"no_wrap": True}),
        ("v", {"justify": "right"}),
        ("text", {}),
    ):
        t.add_column(col, **kw)
    for r in rows:
        t.add_row(
            r["id"],
            r["status"],
            _t(r["scheduled_for"]),
            str(r["variants"]),
            escape(_short(r["title"] or r["text_content"], 34)),
        )
    console.print(t if rows else "no content items")


@app.command("show")
@guarded
def show(item: str) -> None:
    """An item: text, media, variants, publications and its history."""
    from sqlalchemy import text

    from postpulse.publishing import items

    with _engine().connect() as conn:
        row = items.get_item_row(conn, item)
        media = items.item_media(conn, item)
        drafts = {d.variant_id: d for d in items.variant_drafts(conn, row)}
        variants = items.variants(conn, item)
        pubs = (
            conn.execute(
                text(
                    "SELECT p.id, p.status, p.scheduled_for, p.published_at, p.platform_post_url, "
                    "p.error_message, "
                    "a.username FROM publications p JOIN accounts a ON a.id = p.account_id "
                    "WHERE p.content_item_id = :i ORDER BY p.created_at, p.id"
                ),
                {"i": item},
            )
            .mappings()
            .all()
        )
        hist = items.history(conn, item)
    out = console.print
    out(f"[bold]{row['id']}[/bold] {row['status']}  {escape(plain(row['title'] or ''))}", highlight=False)
    out(escape(plain(row["text_content"] or "")), highlight=False, soft_wrap=True)
    for label, key in (("links", "links"), ("tags", "tags")):
        if row[key]:
            out(f"{label}: {escape(plain(', '.join(row[key])))}", highlight=False)
    if row["notes"]:
        out(f"notes: {escape(plain(row['notes']))}", highlight=False)
    for m in media:
        dims = f" {m['width']}x{m['height']}" if m["width"] else ""
        out(
            f"media {m['position'] + 1}: {m['mime_type']}{dims} {m['file_size']:,} B "
            f"alt={escape(plain(repr(m['alt_text'] or '')))}",
            highlight=False,
        )
    t = Table(title="variants", header_style="bold cyan", box=None)
    for col in ("variant", "account", "text"):
        t.add_column(col)
    for v in variants:
        t.add_row(
            v["id"], f"{v['platform']} @{escape(v['username'])}", escape(_short(drafts[v["id"]].text, 40))
        )
    out(t)
    if pubs:
        t = Table(title="publications", header_style="bold cyan", box=None)
        for col in ("publication", "account", "status", "when (UTC)", "post / error"):
            t.add_column(col)
        for p in pubs:
            t.add_row(
                p["id"],
                "@" + escape(p["username"]),
                p["status"],
                _t(p["published_at"] or p["scheduled_for"]),
                escape(plain(p["platform_post_url"] or p["error_message"] or "")),
            )
        out(t)
    for h in hist:
        out(
            f"{_t(h['created_at'])} {h['from_state'] or '-'} -> {h['to_state']} "
            f"({escape(plain(h['transition_reason'] or ''))}, {escape(h['triggered_by'] or '')})",
            highlight=False,
        )


@app.command("calendar")
@guarded
def calendar(
    workspace: str | None = typer.Option(None, "--workspace", "-w"),
    start: str | None = typer.Option(None, "--from", help="ISO date/time (default: today)"),
    end: str | None = typer.Option(None, "--to", help="ISO date/time (default: 30 days later)"),
    ics: Path | None = typer.Option(None, "--ics", help="also write an iCalendar file"),
) -> None:
    """What is planned and what went out, per publication."""
    from postpulse.publishing.calendar import calendar_entries, to_ics

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    s = _when(start, "--from") if start else today
    e = _when(end, "--to") if end else s + timedelta(days=30)
    if e <= s:
        fail("--to must be after --from")
    with _engine().connect() as conn:
        rows = calendar_entries(conn, s, e, workspace=workspace)
    t = Table(header_style="bold cyan", box=None)
    for col, kw in (
        ("when (UTC)", {"no_wrap": True}),
        ("account", {}),
        ("status", {}),
        ("item", {"no_wrap": True}),
        ("text", {}),
    ):
        t.add_column(col, **kw)
    for r in rows:
        t.add_row(
            _t(r["at"]),
            f"{r['platform']} @{escape(r['username'])}",
            r["status"],
            r["content_item_id"],
            escape(_short(r["title"] or r["content"], 22)),
        )
    console.print(t if rows else f"nothing planned between {_t(s)} and {_t(e)} UTC")
    if ics is not None:
        try:
            ics.write_bytes(to_ics(rows))
        except OSError as exc:
            fail(f"cannot write {ics}: {exc.strerror}")
        console.print(f"wrote {len(rows)} events to {ics}")


@app.command("import")
@guarded
def import_csv(path: Path, workspace: str | None = typer.Option(None, "--workspace", "-w")) -> None:
    """Schedule one post per CSV row (accounts, time, text, media, alt, title, tags), all or nothing.
    Importing a file approves its items."""
    from postpulse.publishing.bulk import schedule_csv

    with _engine().begin() as conn:
        created = schedule_csv(conn, path, workspace=workspace)
    console.print(f"scheduled {len(created)} items from {escape(plain(str(path)))}")


@app.command("report")
@guarded
def report(
    item: str | None = typer.Argument(None), workspace: str | None = typer.Option(None, "--workspace", "-w")
) -> None:
    """Planned against actual per content item and platform."""
    from postpulse.publishing.items import resolve_workspace
    from postpulse.publishing.report import planned_vs_actual

    with _engine().connect() as conn:
        wid = resolve_workspace(conn, workspace) if workspace else None
        rows = planned_vs_actual(conn, item_id=item, workspace_id=wid)
    t = Table(header_style="bold cyan", box=None)
    for col in ("item", "account", "planned", "late", "eng.", "views", "vs usual"):
        t.add_column(col, justify="right" if col in ("late", "eng.", "views", "vs usual") else "left")
    for r in rows:
        late = f"{r['delay_s'] // 60}m" if r["delay_s"] is not None else r["status"]
        t.add_row(
            r["content_item_id"],
            f"{r['platform']} @{escape(r['username'])}",
            _t(r["scheduled_for"]),
            late,
            str(r["engagement"]) if r["published_at"] else "-",
            str(r["view_count"] or "-"),
            f"{r['vs_usual']:.2f}x" if r["vs_usual"] is not None else "-",
        )
    console.print(t if rows else "nothing scheduled yet")


@app.command("publish")
@guarded
def publish(
    sandbox_url: str | None = typer.Option(None, "--sandbox-url", envvar="POSTPULSE_SANDBOX_URL"),
) -> None:
    """Publish what is due now (the publishing sensor does the same on its own)."""
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args
    from postpulse.cli.keys import vault_or_fail
    from postpulse.publishing.runner import executor_factory, run_publishing

    engine = _engine()
    base = sandbox_url or "http://127.0.0.1:8765"
    vault = vault_or_fail()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args())
        try:
            run = run_publishing(
                engine, make_executor=executor_factory(engine, vault, browser, base_url=base), base_url=base
            )
        finally:
            browser.close()
    if not run.locked:
        fail("another publishing run is active; try again when it ends")
    console.print(
        f"started {len(run.started)}, published {len(run.published)}, failed {len(run.failed)}, "
        f"waiting {len(run.waiting)}"
    )
    for line in run.refused + run.failed + run.waiting:
        console.print(f"- {escape(plain(line))}", highlight=False, soft_wrap=True)
