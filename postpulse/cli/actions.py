"""``postpulse actions ...``: the engagement action queue, the global pause, a one-off run.

postpulse actions add --account demo_x --type like --target 2124746352620947455
postpulse actions add --account demo_x --type comment --target POST --template thanks --var name=Ana
postpulse actions add --account demo_x --type dm_send --to someone --text "hello"
postpulse actions list [--status queued] [--account demo_x]
postpulse actions approve act-1a2b3c4d [act-...] | --all-queued
postpulse actions reject act-... [--note why] ; postpulse actions cancel act-...
postpulse actions show act-... [--format json]
postpulse actions retry act-... | --account demo_x
postpulse actions reschedule act-... --at 2026-06-01T09:00:00+02:00 | --account demo_x
postpulse actions pause | resume | status [--format json]
postpulse actions run [--execute] [--max 20]       # dry run unless --execute
postpulse actions retention [--dry-run]
postpulse actions blocklist add --type user --value spammer [--match exact] [--platform x] [--reason ...]
postpulse actions blocklist list ; postpulse actions blocklist remove blk-...
postpulse actions template add --name thanks --type comment --content "Thanks {{ name }}!" ; ... template list
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, open_store, plain

app = typer.Typer(
    help="Engagement actions: queue, approve, reject, cancel, pause, run.", no_args_is_help=True
)


def _engine():
    return open_store().engine


def _when(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{what}: {value!r} is not an ISO 8601 date-time (e.g. 2025-06-01T09:30:00+02:00)")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _vars(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            fail(f"--var {item!r}: write name=value")
        k, _, v = item.partition("=")
        out[k.strip()] = v
    return out


@app.command("add")
def add(
    account: str = typer.Option(..., "--account", "-a", help="username or account id"),
    action_type: str = typer.Option(
        ...,
        "--type",
        "-t",
        help="like, unlike, comment, reply, delete_comment, dm_send, follow, unfollow, publish; "
        "repost, delete_post (Bluesky)",
    ),
    target: str | None = typer.Option(
        None, "--target", help="platform post id / comment id / username / dmt-... thread"
    ),
    to: str | None = typer.Option(None, "--to", help="username (follow, unfollow, dm_send)"),
    thread: str | None = typer.Option(None, "--thread", help="DM thread id (dmt-...) for dm_send"),
    post: str | None = typer.Option(
        None, "--post", help="platform post id the comment is on (reply, delete_comment)"
    ),
    text_value: str | None = typer.Option(None, "--text", help="text of a comment, reply, DM or post"),
    template: str | None = typer.Option(None, "--template", help="message template name or id"),
    var: list[str] = typer.Option([], "--var", help="template variable name=value (repeatable)"),
    platform: str | None = typer.Option(None, "--platform"),
    priority: int = typer.Option(0, "--priority"),
    at: str | None = typer.Option(None, "--at", help="not before (ISO 8601)"),
    expires: str | None = typer.Option(None, "--expires", help="give up after (ISO 8601)"),
    note: str | None = typer.Option(None, "--note", help="your note"),
    url: str | None = typer.Option(
        None, "--url", help="target URL (checked against domain blocklist entries)"
    ),
) -> None:
    """Queue an action (auto-approved if the account's settings auto-approve its type)."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.engagement import repository as repo

    target_type = None
    if thread:
        target, target_type = thread, "dm_thread"
    elif to:
        target = to
    vault = vault_or_fail(create=True) if action_type == "dm_send" else None
    with _engine().begin() as conn:
        res = repo.add_action(
            conn,
            account=account,
            action_type=action_type,
            target_id=target,
            target_type=target_type,
            target_username=to,
            post_id=post,
            text_value=text_value,
            template=template,
            variables=_vars(var),
            priority=priority,
            scheduled_for=_when(at, "--at"),
            expires_at=_when(expires, "--expires"),
            user_notes=note,
            target_url=url,
            vault=vault,
            platform=platform,
        )
    a = res.action
    if res.error:
        fail(f"{a['id']} recorded as rejected: {res.error}")
    console.print(f"[green]{a['id']}[/green] {a['action_type']} -> {a['target_id']}: {a['status']}")


@app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status"),
    account: str | None = typer.Option(None, "--account"),
    limit: int = typer.Option(50, "--limit"),
) -> None:
    """List actions, highest priority and newest first."""
    from postpulse.engagement import repository as repo

    with _engine().connect() as conn:
        acc_id = repo.get_account(conn, account)["id"] if account else None
        rows = repo.list_actions(conn, status=status, account_id=acc_id, limit=limit)
    from postpulse.safe_text import display_cell

    t = Table("id", "account", "type", "target", "status", "prio", "scheduled", "reason")
    t.columns[0].no_wrap = t.columns[4].no_wrap = True
    for r in rows:
        t.add_row(
            r["id"],
            f"@{r['username']} ({r['platform']})",
            r["action_type"],
            display_cell(str(r["target_id"])[:24]),
            r["status"],
            str(r["priority"]),
            f"{r['scheduled_for']:%Y-%m-%d %H:%M}" if r["scheduled_for"] else "",
            r["last_reason_code"] or "",
        )
    console.print(t)


def _decide(ids: list[str], decision: str, note: str | None, all_queued: bool = False) -> None:
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        if all_queued:
            ids = list(ids) + [a["id"] for a in repo.list_actions(conn, status="queued", limit=100000)]
        if not ids:
            fail("give action ids (see `postpulse actions list --status queued`)")
        out = repo.decide(conn, ids, decision, actor="cli", note=note)
    bad = False
    for k, v in out.items():
        ok = not (v.startswith("skipped") or v == "not found")
        bad |= not ok
        console.print(f"{k}: {'[green]' if ok else '[yellow]'}{v}[/]")
    if bad:
        raise typer.Exit(1)


@app.command()
def approve(
    ids: list[str] = typer.Argument(None),
    all_queued: bool = typer.Option(False, "--all-queued"),
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Approve queued actions."""
    _decide(ids or [], "approve", note, all_queued)


@app.command()
def reject(ids: list[str] = typer.Argument(...), note: str | None = typer.Option(None, "--note")) -> None:
    """Reject queued or approved actions."""
    _decide(ids, "reject", note)


@app.command()
def cancel(ids: list[str] = typer.Argument(...), note: str | None = typer.Option(None, "--note")) -> None:
    """Cancel queued or approved actions."""
    _decide(ids, "cancel", note)


def _format_option() -> typer.Option:
    return typer.Option("table", "--format", "-f", help="table (for people) or json (for scripts)")


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        fail(f"--format {fmt!r}: use table or json")


@app.command()
def show(action_id: str, fmt: str = _format_option()) -> None:
    """An action: why it waits and until when, then its attempts and audit trail."""
    from postpulse.engagement import repository as repo

    _check_format(fmt)
    with _engine().connect() as conn:
        a = repo.get_action(conn, action_id)
        acc = repo.get_account(conn, a["account_id"])
        hist = repo.action_history(conn, action_id)
    waiting = repo.waiting_reason(a, acc)
    if fmt == "json":
        console.print_json(json.dumps({"action": a, "waiting": waiting, **hist}, default=str))
        return
    out = [
        f"{a['id']}  {a['action_type']} -> {a['target_id']}  by @{a['username']} ({a['platform']})",
        f"status: {a['status']}" + (f" ({a['last_reason_code']})" if a["last_reason_code"] else ""),
        f"why: {waiting}",
    ]
    if a.get("expires_at"):
        out.append(f"expires: {a['expires_at']:%Y-%m-%d %H:%M} UTC")
    if a.get("system_notes"):
        out.append("notes: " + a["system_notes"].splitlines()[0])
    for line in out:
        console.print(escape(plain(line)), soft_wrap=True, highlight=False)
    t = Table("when (UTC)", "step", "event", "outcome", title="audit trail", title_justify="left")
    for e in hist["audit"]:
        t.add_row(f"{e['timestamp']:%m-%d %H:%M:%S}", e["step_id"], e["event_type"], e["outcome"])
    console.print(t)
    console.print(f"[dim]{len(hist['attempts'])} attempt(s); --format json for everything[/dim]")


@app.command()
def retry(
    ids: list[str] = typer.Argument(None),
    account: str | None = typer.Option(None, "--account", help="every failed or deferred action of it"),
) -> None:
    """Failed actions back to approved with fresh attempts; deferred ones due now."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        ids = list(ids or [])
        if account:
            acc_id = repo.get_account(conn, account)["id"]
            ids += [
                a["id"]
                for status in ("failed", "approved")
                for a in repo.list_actions(conn, status=status, account_id=acc_id, limit=100000)
            ]
        if not ids:
            fail("give action ids or --account (see `postpulse actions list --status failed`)")
        _report(repo.retry(conn, ids))


@app.command()
def reschedule(
    ids: list[str] = typer.Argument(None),
    at: str | None = typer.Option(None, "--at", help="not before (ISO 8601; default: now)"),
    account: str | None = typer.Option(
        None, "--account", help="re-evaluate the account's deferred actions now (quiet hours, limits, ...)"
    ),
) -> None:
    """Move queued or approved actions to another time, or re-evaluate an account's deferrals."""
    from postpulse.engagement import repository as repo

    when = _when(at, "--at")
    with _engine().begin() as conn:
        if account:
            acc_id = repo.get_account(conn, account)["id"]
            due = repo.reevaluate_deferred(conn, acc_id, why="rescheduled from the command line")
            console.print(f"{len(due)} deferred action(s) of {account} due now")
        if ids:
            _report(repo.reschedule(conn, list(ids), when))
        elif not account:
            fail("give action ids (with --at) or --account")


def _report(out: dict[str, str]) -> None:
    bad = False
    for k, v in out.items():
        ok = not (v.startswith("skipped") or v == "not found")
        bad |= not ok
        console.print(f"{k}: {'[green]' if ok else '[yellow]'}{escape(v)}[/]", highlight=False)
    if bad:
        raise typer.Exit(1)


@app.command()
def pause() -> None:
    """Global pause: no action runs until `postpulse actions resume`."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        repo.set_global_pause(conn, True)
    console.print("[yellow]all engagement actions paused[/yellow]")


@app.command()
def resume() -> None:
    """Lift the global pause."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        repo.set_global_pause(conn, False)
    console.print("[green]engagement actions resumed[/green]")


@app.command()
def status(fmt: str = _format_option()) -> None:
    """Queue counts, the global pause switch, and accounts whose actions are held back (frozen
    after a block signal, needing a new login, paused)."""
    from postpulse.engagement import repository as repo

    _check_format(fmt)
    with _engine().connect() as conn:
        paused = repo.is_globally_paused(conn)
        counts = repo.queue_counts(conn)
        alerts = repo.account_alerts(conn)
    if fmt == "json":
        doc = {"global_pause": paused, "queue": counts, "accounts_held_back": alerts}
        console.print_json(json.dumps(doc, default=str))
        return
    console.print(f"global pause: {paused}")
    t = Table("status", "actions")
    for name in ("queued", "approved", "in_progress", "completed", "failed", "rejected", "cancelled"):
        t.add_row(name, str(counts.get(name, 0)))
    console.print(t)
    for a in alerts:
        console.print(
            f"[yellow]{escape(a['message'])}[/yellow] -> {escape(a['fix'])}",
            soft_wrap=True,
            highlight=False,
        )


@app.command()
def run(
    execute: bool = typer.Option(False, "--execute", help="really act (default: dry run)"),
    max_actions: int = typer.Option(20, "--max"),
    sandbox_url: str | None = typer.Option(None, "--sandbox-url", envvar="POSTPULSE_SANDBOX_URL"),
) -> None:
    """Run the executor once from the command line (dry run unless --execute)."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.engagement.executor import Executor, ExecutorConfig

    engine = _engine()
    cfg = ExecutorConfig(base_url=sandbox_url or "http://127.0.0.1:8765", batch_size=max_actions)
    if not execute:
        ex = Executor(engine, _vault_if_any(), config=cfg)
        for d in ex.preview(max_actions):
            console.print(
                f"{d['action_id']} {d['action_type']}: [bold]{d['outcome']}[/bold] {d['reason_code']} — "
                f"{d['message']}"
            )
        console.print("[dim]dry run: nothing executed (use --execute)[/dim]")
        return
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args())
        try:
            ex = Executor(engine, vault_or_fail(), browser=browser, config=cfg)
            rep = ex.run_batch(max_actions)
        finally:
            browser.close()
    console.print_json(json.dumps(rep, default=str))


def _vault_if_any():
    """The vault, or None when no key exists yet (a dry run needs no key)."""
    from postpulse.crypto import MissingKeyError
    from postpulse.engagement.secrets import load_vault

    try:
        return load_vault(create=False)
    except MissingKeyError:
        return None


@app.command()
def retention(dry_run: bool = typer.Option(False, "--dry-run", help="only count")) -> None:
    """Apply the retention policy now (the nightly schedule does the same)."""
    from postpulse.engagement.retention import run_retention

    counts = run_retention(_engine(), datetime.now(UTC), dry_run=dry_run, run_id="cli")
    console.print_json(json.dumps(counts))


blocklist_app = typer.Typer(
    help="Users, posts, keywords and domains never to engage with.", no_args_is_help=True
)
app.add_typer(blocklist_app, name="blocklist")


@blocklist_app.command("add")
def blocklist_add(
    entry_type: str = typer.Option(..., "--type", help="user, post, keyword or domain"),
    value: str = typer.Option(
        ..., "--value", help="username, platform post id, word/phrase, domain, or a pattern"
    ),
    match: str = typer.Option(
        "exact",
        "--match",
        help="exact, contains or regex (RE2: linear time, no backreferences or lookaround)",
    ),
    platform: str | None = typer.Option(None, "--platform", help="only on this platform (default: all)"),
    account: str | None = typer.Option(None, "--account", help="only for this account (default: all)"),
    reason: str = typer.Option("", "--reason"),
    expires: str | None = typer.Option(None, "--expires", help="until (ISO 8601; default: permanent)"),
) -> None:
    """Add a blocklist entry (checked before every action; matching actions are rejected)."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        row = repo.add_blocklist_entry(
            conn,
            entry_type=entry_type,
            value=value,
            match_type=match,
            platform=platform,
            account=account,
            reason=reason,
            expires_at=_when(expires, "--expires"),
        )
    console.print(
        f"[green]{row['id']}[/green] {row['entry_type']} {row['match_type']} {escape(row['value'])!r} "
        f"({row['platform'] or 'all platforms'})",
        highlight=False,
    )


@blocklist_app.command("list")
def blocklist_list(limit: int = typer.Option(1000, "--limit")) -> None:
    """Blocklist entries, newest first (opt-outs from DMs show added_by opt_out)."""
    from postpulse.engagement import repository as repo

    with _engine().connect() as conn:
        rows = repo.list_blocklist(conn, limit=limit)
    t = Table("id", "entry", "value", "where", "added by / expires", "reason")
    t.columns[0].no_wrap = t.columns[2].no_wrap = True
    for r in rows:
        t.add_row(
            r["id"],
            f"{r['entry_type']} {r['match_type']}",
            escape(r["value"]),
            f"{r['platform'] or 'all'} / {'@' + r['account'] if r['account'] else 'all'}",
            r["added_by"] + (f" until {r['expires_at']:%Y-%m-%d %H:%M}" if r["expires_at"] else ""),
            escape(r["reason"] or ""),
        )
    console.print(t)


@blocklist_app.command("remove")
def blocklist_remove(entry_id: str) -> None:
    """Remove a blocklist entry (an opt-out too: only if the person asked to hear from you again)."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        repo.remove_blocklist_entry(conn, entry_id)
    console.print(f"{entry_id} removed")


template_app = typer.Typer(
    help="Message templates with {{ variables }} for comments, replies, DMs and posts.", no_args_is_help=True
)
app.add_typer(template_app, name="template")


@template_app.command("add")
def template_add(
    name: str = typer.Option(..., "--name"),
    template_type: str = typer.Option(..., "--type", help="comment, reply, dm, bio, post, story, highlight"),
    content: str = typer.Option(
        ...,
        "--content",
        help='Jinja2 text, e.g. "Thanks {{ name }}!" '
        "(use it with `actions add --template NAME --var name=Ana`)",
    ),
) -> None:
    """Store a message template (syntax checked; a variable missing at use rejects the action, naming it)."""
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        tid = repo.add_template(
            conn, name=name, template_type=template_type, content=content, created_by="cli"
        )
        row = next(t for t in repo.list_templates(conn) if t["id"] == tid)
    console.print(
        f"[green]{tid}[/green] {escape(name)} ({template_type}); variables: "
        f"{', '.join(row['variables']) or 'none'}",
        highlight=False,
    )


@template_app.command("list")
def template_list() -> None:
    """Message templates and their variables."""
    from postpulse.engagement import repository as repo

    with _engine().connect() as conn:
        rows = repo.list_templates(conn)
    t = Table("id", "name", "type", "variables", "content")
    t.columns[0].no_wrap = t.columns[1].no_wrap = True
    for r in rows:
        t.add_row(
            r["id"],
            escape(r["name"]),
            r["template_type"],
            ", ".join(r["variables"]),
            escape(r["content"][:80]),
        )
    console.print(t)
