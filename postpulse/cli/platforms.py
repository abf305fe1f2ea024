"""``postpulse platforms ...``: accounts connected through the platforms' official APIs.

postpulse accounts connect youtube [--authorize] [--no-browser] [--timeout 300] [--port N]
postpulse platforms set-app youtube --client-id ID                   # secret on stdin, stored encrypted
postpulse platforms collect [ACCOUNT] [--limit 50]                   # posts with insights and comments
postpulse platforms usage [--platform youtube] [--days 1]            # calls, quota units, rate limits
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import text

from postpulse.cli.common import console, fail, open_store

app = typer.Typer(
    help="Official platform APIs: app credentials, collection of our posts with insights, usage.",
    no_args_is_help=True,
)


def connect_official(platform: str, *, authorize: bool, browser: bool, timeout: float, port: int = 0) -> None:
    """``postpulse accounts connect PLATFORM`` for the official-API platforms."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.platforms.accounts import connect_account
    from postpulse.platforms.errors import ApiError

    def no_browser(url: str) -> None:  # noqa: ARG001 - the URL is printed already
        pass

    try:
        acc = connect_account(
            open_store().engine,
            vault_or_fail(create=True),
            platform,
            open_url=None if browser else no_browser,
            timeout_s=timeout,
            authorize=authorize,
            port=port,
            announce=lambda line: console.print(escape(line), highlight=False, soft_wrap=True),
        )
    except ApiError as exc:
        fail(str(exc))
    state = "authorized" if acc["is_authorized"] else "NOT authorized: run `postpulse accounts authorize`"
    console.print(
        f"[green]{acc['id']}[/green] @{escape(acc['username'])} on {platform} connected through its API: "
        f"tokens stored encrypted ({state})",
        highlight=False,
    )


@app.command("set-app")
def set_app(
    platform: str = typer.Argument(..., help="youtube, x, instagram or linkedin"),
    client_id: str = typer.Option(..., "--client-id", help="the app's client id (public)"),
) -> None:
    """Store an app's client id, and its client secret (read from standard input) encrypted."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.platforms import CONNECTORS
    from postpulse.platforms.tokens import store_app

    platform = platform.strip().lower()
    if platform not in CONNECTORS:
        fail(f"no official API connector for {platform!r}; use one of {', '.join(sorted(CONNECTORS))}")
    secret = (
        typer.prompt("client secret (empty for none)", hide_input=True, default="", show_default=False)
        if sys.stdin.isatty()
        else sys.stdin.readline().strip()
    )
    with open_store().engine.begin() as conn:
        store_app(conn, vault_or_fail(create=True), platform, client_id, secret or None)
    console.print(f"{platform} app stored (client secret {'encrypted' if secret else 'not set'})")


@app.command()
def collect(
    account: str = typer.Argument(None, help="account id or username; default: every connected account"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="newest posts per account"),
) -> None:
    """Collect our posts with their insights and comments, as one download run per account."""
    from postpulse.cli.keys import vault_or_fail
    from postpulse.platforms.collect import collect_account
    from postpulse.platforms.errors import ApiError

    engine = open_store().engine
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, platform, username FROM accounts WHERE access_token_encrypted IS NOT NULL "
                "AND is_active AND (CAST(:a AS text) IS NULL OR id = :a OR lower(username) = lower(:a)) "
                "ORDER BY platform, username"
            ),
            {"a": account},
        ).all()
    if not rows:
        fail("no account is connected through an official API: run `postpulse accounts connect PLATFORM`")
    vault = vault_or_fail()
    failed = 0
    for aid, platform, username in rows:
        try:
            res = collect_account(engine, vault, aid, limit=limit)
            console.print(f"@{escape(username)}: {escape(res.message)}", highlight=False)
        except ApiError as exc:
            failed += 1
            console.print(
                f"[red]@{escape(username)} on {platform}: {escape(str(exc))}[/red]", highlight=False
            )
    if failed:
        raise typer.Exit(1)


@app.command()
def usage(
    platform: str = typer.Option(None, "--platform"),
    days: int = typer.Option(1, "--days", min=1, max=90),
) -> None:
    """Calls, quota units and the last rate-limit window per endpoint."""
    with open_store().engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT provider, endpoint, count(*) AS calls, coalesce(sum(quota_units), 0) AS units, "
                "count(*) FILTER (WHERE status_code >= 400 OR status_code IS NULL) AS failed, "
                "(array_agg(ratelimit_remaining ORDER BY called_at DESC))[1] AS remaining "
                "FROM api_usage WHERE called_at > now() - make_interval(days => :d) "
                "AND (CAST(:p AS text) IS NULL OR provider = :p) GROUP BY provider, endpoint ORDER BY 1, 2"
            ),
            {"d": days, "p": platform},
        ).all()
    table = Table("provider", "endpoint", "calls", "quota units", "failed", "rate limit left")
    for r in rows:
        table.add_row(
            r.provider, r.endpoint, str(r.calls), str(r.units), str(r.failed), str(r.remaining or "-")
        )
    console.print(table)
