"""``postpulse accounts ...``: our own, authorized accounts, their sessions and settings.

postpulse accounts add --platform x --username demo_x [--authorize] [--timezone Europe/Berlin]
postpulse accounts list
postpulse accounts authorize demo_x | deauthorize demo_x
postpulse accounts login demo_x [--password-env VAR]    # prompts for the password otherwise
postpulse accounts logout demo_x                         # deletes the stored session
postpulse accounts pause demo_x | resume demo_x          # resume also lifts a freeze
postpulse accounts settings demo_x [--json '{...}'] [--auto-approve like] [--no-quiet-hours]
postpulse accounts sync-dms demo_x
postpulse accounts connect bluesky --handle me.bsky.social [--service URL]   # app password on stdin
postpulse accounts connect youtube|x|instagram|linkedin [--authorize] [--no-browser] [--port N]  # OAuth
"""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, open_store
from postpulse.errors import PostpulseError

app = typer.Typer(
    help="Our own accounts: add, authorize, log in (encrypted session), pause, settings.",
    no_args_is_help=True,
)


def _engine():
    return open_store().engine


def _sandbox_url(value: str | None) -> str:
    return (value or os.environ.get("POSTPULSE_SANDBOX_URL") or "http://127.0.0.1:8765").rstrip("/")


@app.command()
def add(
    platform: str = typer.Option(..., "--platform"),
    username: str = typer.Option(..., "--username"),
    authorize: bool = typer.Option(
        False, "--authorize", help="mark it as yours and authorized for automation"
    ),
    display_name: str | None = typer.Option(None, "--display-name"),
    timezone: str | None = typer.Option(
        None,
        "--timezone",
        help="IANA time zone of the account's quiet hours (asked when interactive; default: this "
        "machine's local zone)",
    ),
    settings_json: str | None = typer.Option(None, "--settings-json"),
    workspace: str | None = typer.Option(None, "--workspace", help="the workspace (client) it belongs to"),
) -> None:
    """Add one of your accounts (not authorized unless --authorize); it is linked to its
    platform profile, so its posts (stored and future) carry the account."""
    from postpulse.policy.quiet_hours import TimezoneError, get_zone, local_zone_name

    if timezone is None:
        timezone = local_zone_name()
        if sys.stdin.isatty():
            timezone = typer.prompt("Time zone of the account (quiet hours)", default=timezone)
    try:
        get_zone(timezone)
    except TimezoneError as exc:
        fail(f"--timezone: {exc}")

    settings = None
    if settings_json:
        try:
            settings = json.loads(settings_json)
        except ValueError as exc:
            fail(f"--settings-json is not valid JSON: {exc}")
    try:
        acc, linked = _add(platform, username, authorize, display_name, timezone, settings, workspace)
    except PostpulseError as exc:
        fail(str(exc))
    console.print(
        f"[green]{acc['id']}[/green] @{acc['username']} on {acc['platform']}, time zone {acc['timezone']} "
        f"({'authorized' if acc['is_authorized'] else 'NOT authorized: run `postpulse accounts authorize`'})"
        + (f"; {linked.posts} stored post(s) linked" if linked.profiles else "")
    )


def _add(platform, username, authorize, display_name, timezone, settings, workspace):
    from postpulse.agency.links import link_account
    from postpulse.agency.workspaces import move_account
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        acc = repo.add_account(
            conn,
            platform=platform,
            username=username,
            authorize=authorize,
            display_name=display_name,
            timezone=timezone,
            settings=settings,
        )
        if workspace:
            move_account(conn, acc["id"], workspace)
        linked = link_account(conn, acc["id"])
    return acc, linked


@app.command("list")
def list_() -> None:
    """Your accounts with their state: frozen after a block signal, needing a new login, paused."""
    from postpulse.engagement import repository as repo

    with _engine().connect() as conn:
        rows = repo.list_accounts(conn)
        alerts = repo.account_alerts(conn)
    t = Table("id", "account", "authorized", "active", "session", "needs re-login", "frozen until", "status")
    t.columns[0].no_wrap = t.columns[1].no_wrap = True
    by_acc: dict[str, list[dict]] = {}
    for a in alerts:
        by_acc.setdefault(a["account_id"], []).append(a)
    for r in rows:
        mine = by_acc.get(r["id"], [])
        state = "; ".join(f"{a['kind']}: {a['reason']}" for a in mine) or "ok"
        frozen = next((a["until"] for a in mine if a["kind"] == "frozen"), None)
        t.add_row(
            r["id"],
            f"@{r['username']} ({r['platform']})",
            str(r["is_authorized"]),
            str(r["is_active"]),
            "stored" if r["has_session"] else "-",
            str(r["needs_relogin"]),
            f"{frozen:%Y-%m-%d %H:%M} UTC" if frozen else "",
            state,
        )
    console.print(t)
    for a in alerts:
        console.print(
            f"[yellow]{escape(a['message'])}[/yellow] -> {escape(a['fix'])}", soft_wrap=True, highlight=False
        )


def _set(username: str, platform: str | None, **flags) -> dict:
    from postpulse.engagement import audit
    from postpulse.engagement import repository as repo

    with _engine().begin() as conn:
        acc = repo.get_account(conn, username, platform)
        repo.set_account_flags(conn, acc["id"], **flags)
        audit.record(
            conn,
            run_id="manual",
            step_id="account",
            event_type="approval",
            outcome="success",
            account_id=acc["id"],
            platform=acc["platform"],
            details={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in flags.items()},
        )
    return acc


@app.command()
def authorize(username: str, platform: str | None = typer.Option(None, "--platform")) -> None:
    """Mark the account as yours and authorized: postpulse acts only on authorized accounts."""
    acc = _set(username, platform, is_authorized=True)
    console.print(f"[green]@{acc['username']} authorized[/green]")


@app.command()
def deauthorize(username: str, platform: str | None = typer.Option(None, "--platform")) -> None:
    acc = _set(username, platform, is_authorized=False)
    console.print(f"[yellow]@{acc['username']} no longer authorized[/yellow]")


@app.command()
def pause(username: str, platform: str | None = typer.Option(None, "--platform")) -> None:
    """Pause one account (its actions wait)."""
    acc = _set(username, platform, is_active=False)
    console.print(f"[yellow]@{acc['username']} paused[/yellow]")


@app.command()
def resume(username: str, platform: str | None = typer.Option(None, "--platform")) -> None:
    """Resume an account (also lifts a block-signal freeze: only do that if you are sure)."""
    acc = _set(username, platform, is_active=True, frozen_until=None, frozen_reason=None)
    console.print(f"[green]@{acc['username']} resumed[/green]")


@app.command()
def login(
    username: str,
    platform: str | None = typer.Option(None, "--platform"),
    password_env: str | None = typer.Option(
        None, "--password-env", help="read the password from this env var"
    ),
    sandbox_url: str | None = typer.Option(None, "--sandbox-url"),
) -> None:
    """Log in once in Chromium; the browser session is stored encrypted, the password never."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.engagement import repository as repo
    from postpulse.engagement.sessions import login_account

    engine = _engine()
    with engine.connect() as conn:
        acc = repo.get_account(conn, username, platform)
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            fail(f"environment variable {password_env} is not set or empty")
    else:
        password = typer.prompt(f"password for @{acc['username']} on {acc['platform']}", hide_input=True)
    from postpulse.engagement.drivers.base import DriverError

    try:
        info = login_account(
            engine, vault_or_fail(create=True), acc["id"], password, base_url=_sandbox_url(sandbox_url)
        )
    except DriverError as exc:
        fail(f"logging in @{acc['username']} on {acc['platform']} failed: {exc.message}")
    console.print(
        f"[green]logged in @{acc['username']}[/green]: session stored encrypted ({info['cookies']} cookies)"
    )


@app.command()
def connect(
    platform: str = typer.Argument(..., help="bluesky, youtube, x, instagram or linkedin"),
    handle: str = typer.Option(None, "--handle", help="bluesky: the full handle, e.g. name.bsky.social"),
    service: str = typer.Option(
        "https://bsky.social", "--service", help="bluesky: the account's PDS (a local stack: its pds URL)"
    ),
    authorize: bool = typer.Option(
        False, "--authorize", help="mark it as yours and authorized for automation"
    ),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="open the consent page in a browser"),
    timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait for the consent"),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="fixed redirect port (0: a free one)"),
) -> None:
    """Connect an API account: Bluesky with an app password (read from standard input or a prompt,
    never an argument; the session is stored encrypted, the password is not), the official APIs
    of YouTube, X, Instagram and LinkedIn through their OAuth consent page (tokens stored
    encrypted)."""
    if platform.strip().lower() != "bluesky":
        from postpulse.cli.platforms import connect_official

        connect_official(
            platform.strip().lower(), authorize=authorize, browser=browser, timeout=timeout, port=port
        )
        return
    if not handle:
        fail("bluesky accounts connect with --handle NAME.bsky.social (and the app password on stdin)")
    from postpulse.bluesky.accounts import connect_account
    from postpulse.bluesky.errors import BlueskyError
    from postpulse.cli.keys import vault_or_fail

    if sys.stdin.isatty():
        password = typer.prompt(f"app password for @{handle.lstrip('@')}", hide_input=True)
    else:
        password = sys.stdin.readline().strip()
    if not password:
        fail("no app password given: pipe it on standard input or type it at the prompt")
    try:
        acc = connect_account(
            _engine(), vault_or_fail(create=True), handle, password, service=service, authorize=authorize
        )
    except BlueskyError as exc:
        fail(str(exc))
    state = "authorized" if acc["is_authorized"] else "NOT authorized: run `postpulse accounts authorize`"
    console.print(
        f"[green]{acc['id']}[/green] @{escape(acc['username'])} on bluesky connected: session stored "
        f"encrypted ({state})",
        highlight=False,
    )


@app.command()
def logout(username: str, platform: str | None = typer.Option(None, "--platform")) -> None:
    """Delete the stored session."""
    from postpulse.engagement import repository as repo
    from postpulse.engagement.sessions import clear_session

    with _engine().begin() as conn:
        acc = repo.get_account(conn, username, platform)
        clear_session(conn, acc["id"])
    console.print(f"session of @{acc['username']} deleted")


@app.command()
def settings(
    username: str,
    platform: str | None = typer.Option(None, "--platform"),
    json_patch: str | None = typer.Option(
        None, "--json", help='top-level keys to replace, e.g. \'{"rate_limits": {"like": {"per_hour": 10}}}\''
    ),
    auto_approve: list[str] = typer.Option(
        [], "--auto-approve", help="action type to auto-approve (repeatable)"
    ),
    no_quiet_hours: bool = typer.Option(False, "--no-quiet-hours"),
    timezone: str | None = typer.Option(None, "--timezone", help="the account's IANA time zone"),
    allow_user: list[str] = typer.Option(
        [], "--allow-user", help="allowlist mode: act only on these users (repeatable)"
    ),
    allow_tag: list[str] = typer.Option(
        [], "--allow-tag", help="allowlist mode: act only on posts/profiles with these tags (repeatable)"
    ),
    no_allowlist: bool = typer.Option(False, "--no-allowlist", help="leave allowlist mode"),
) -> None:
    """Show or change the account's settings (validated; defaults are conservative). Actions
    deferred by the old settings (quiet hours, limits) are due again at the next executor run."""
    from postpulse.engagement import repository as repo
    from postpulse.policy import AccountSettings

    with _engine().begin() as conn:
        acc = repo.get_account(conn, username, platform)
        patch = {}
        if json_patch:
            try:
                patch.update(json.loads(json_patch))
            except ValueError as exc:
                fail(f"--json is not valid JSON: {exc}")
        if auto_approve:
            current = dict((acc["settings"] or {}).get("auto_approve") or {})
            current.update({a: True for a in auto_approve})
            patch["auto_approve"] = current
        if no_quiet_hours:
            patch["quiet_hours"] = None
        if no_allowlist:
            patch["allowlist"] = None
        elif allow_user or allow_tag:
            current = dict((acc["settings"] or {}).get("allowlist") or {})
            current["users"] = sorted({*current.get("users", []), *allow_user})
            current["tags"] = sorted({*current.get("tags", []), *allow_tag})
            patch["allowlist"] = current
        due_again: list[str] = []
        if timezone:
            repo.set_account_flags(conn, acc["id"], timezone=timezone)
        merged = (
            repo.update_settings(conn, acc["id"], patch, due_again=due_again) if patch else acc["settings"]
        )
        tz = timezone or acc["timezone"]
    console.print_json(json.dumps({"timezone": tz, **AccountSettings.parse(merged or {}).to_dict()}))
    if due_again:
        console.print(
            f"{len(due_again)} deferred action(s) due again: the next executor run decides them anew"
        )


@app.command("sync-dms")
def sync_dms(
    username: str,
    platform: str | None = typer.Option(None, "--platform"),
    sandbox_url: str | None = typer.Option(None, "--sandbox-url"),
) -> None:
    """Sync DM threads and messages (stored encrypted); opt-out messages add blocklist entries."""
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args
    from postpulse.cli.keys import vault_or_fail
    from postpulse.engagement import repository as repo
    from postpulse.engagement.dm_sync import sync_account

    engine = _engine()
    with engine.connect() as conn:
        acc = repo.get_account(conn, username, platform)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args())
        try:
            counts = sync_account(
                engine,
                vault_or_fail(),
                acc["id"],
                browser=browser,
                base_url=_sandbox_url(sandbox_url),
                run_id="cli",
            )
        finally:
            browser.close()
    console.print_json(json.dumps(counts))
