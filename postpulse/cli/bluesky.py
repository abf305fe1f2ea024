"""``postpulse bluesky ...``: the local AT Protocol stack and Bluesky collection.

postpulse bluesky stack [--data DIR]                  # installs on first use, prints one READY line
postpulse bluesky collect [--account H] [--profile H [--watch]] [--search Q] [--appview URL]
postpulse bluesky checkback [--now] [--appview URL]
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer
from rich.markup import escape

from postpulse.cli.common import console, err_console, fail, open_store

app = typer.Typer(help="Bluesky: the local AT Protocol stack and collection.", no_args_is_help=True)


def _progress_bar():
    """A progress callback drawing on stderr (stdout carries only the READY line)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]installing[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def progress(step: str, fraction: float | None) -> None:
        if step.startswith("installed in"):
            err_console.print(f"local Bluesky stack {step}")
            return
        if not bar.live.is_started:
            bar.start()
        if step not in tasks:
            for other in tasks.values():
                bar.update(other, completed=1)
            tasks[step] = bar.add_task(step, total=1 if fraction is not None else None)
        if fraction is not None:
            bar.update(tasks[step], completed=fraction)

    return bar, progress


@app.command()
def stack(
    data: Path | None = typer.Option(
        None, "--data", help="data folder (default: <POSTPULSE_HOME>/bluesky); kept across restarts"
    ),
    timeout: float = typer.Option(180.0, help="seconds to wait for the servers to answer"),
) -> None:
    """Start the local AT Protocol stack (PLC, PDS, AppView) on 127.0.0.1 until Ctrl-C.

    The first start installs Node 22 and the reference servers (a few minutes, once per
    machine). Prints one line on stdout when the stack is up:
    `READY pds=http://127.0.0.1:PORT appview=http://127.0.0.1:PORT plc=http://127.0.0.1:PORT`."""
    from postpulse.bluesky.stack import start_stack
    from postpulse.errors import PostpulseError

    bar, progress = _progress_bar()
    try:
        running = start_stack(data, progress=progress, timeout=timeout)
    except PostpulseError as exc:
        fail(str(exc))
    finally:
        if bar.live.is_started:
            bar.stop()
    print(running.urls.ready_line(), flush=True)
    err_console.print(f"data: {running.data_dir}  log: {running.log_path}  (Ctrl-C stops the stack)")
    stopping = {"flag": False}

    def _stop(signum, frame):  # noqa: ARG001
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping["flag"]:
            if not running.alive():
                fail(
                    f"the stack stopped by itself (exit {running.process.returncode}); see {running.log_path}"
                )
            time.sleep(0.5)
    finally:
        running.stop()
    err_console.print("local Bluesky stack stopped")
    sys.exit(0)


def _appview(url: str | None):
    from postpulse.bluesky.appview import AppView

    return AppView(url)


@app.command()
def collect(
    account: list[str] = typer.Option([], "--account", help="a connected account's handle (repeatable)"),
    profile: list[str] = typer.Option([], "--profile", help="another profile's handle or DID (repeatable)"),
    search: str | None = typer.Option(None, "--search", help="also collect the posts matching this query"),
    watch: bool = typer.Option(False, "--watch", help="keep the --profile handles on the watch list"),
    appview: str | None = typer.Option(
        None, "--appview", help="AppView URL (default: POSTPULSE_BLUESKY_APPVIEW or the public AppView)"
    ),
    limit: int = typer.Option(100, help="posts per page"),
    pages: int = typer.Option(5, help="pages per author feed"),
) -> None:
    """Collect posts, replies and profile counts of our accounts (all connected ones unless
    --account), watched profiles and --profile, as one download run with check-backs on."""
    from postpulse.bluesky.accounts import bluesky_accounts
    from postpulse.bluesky.collect import collect as run_collect
    from postpulse.bluesky.collect import watched_profiles
    from postpulse.errors import PostpulseError

    engine = open_store().engine
    with engine.connect() as conn:
        accounts = (
            [a for h in account for a in bluesky_accounts(conn, h)] if account else bluesky_accounts(conn)
        )
        missing = [h for h in account if not bluesky_accounts(conn, h)]
        watched = [] if account or profile else watched_profiles(conn)
    if missing:
        fail(
            f"no connected Bluesky account @{missing[0].lstrip('@')}: "
            "run `postpulse accounts connect bluesky`"
        )
    actors = list(dict.fromkeys([a["did"] for a in accounts] + list(profile) + watched))
    if not actors and not search:
        fail("nothing to collect: connect an account, or pass --profile HANDLE or --search QUERY")
    with _appview(appview) as client:
        try:
            res = run_collect(
                engine,
                client,
                actors=actors,
                watch=list(profile) if watch else [],
                search=search,
                limit=limit,
                pages=pages,
            )
        except PostpulseError as exc:
            fail(f"collection failed, nothing stored: {exc}")
    console.print(f"[green]{res.run_id}[/green] {escape(res.message)}", highlight=False, soft_wrap=True)


@app.command()
def checkback(
    now: bool = typer.Option(
        False, "--now", help="check every tracked Bluesky post now, not only the due ones"
    ),
    appview: str | None = typer.Option(None, "--appview", help="AppView URL"),
    limit: int = typer.Option(1000, help="posts per batch (one download run each)"),
) -> None:
    """Run the Bluesky check-backs (getPosts, 25 posts a call) that are due, or all with --now.
    The Dagster check-back sensor does this every minute when `postpulse up` runs."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from postpulse.bluesky.checkbacks import run_many
    from postpulse.checkbacks.due import due_posts

    engine = open_store().engine
    with engine.connect() as conn:
        if now:
            ids = list(
                conn.execute(
                    text(
                        "SELECT id FROM posts WHERE platform = 'bluesky' AND NOT tracking_complete "
                        "AND NOT is_deleted AND tracking_started_at IS NOT NULL ORDER BY id"
                    )
                ).scalars()
            )
        else:
            ids = [p["id"] for p in due_posts(conn, datetime.now(UTC), platform="bluesky", limit=100_000)]
    if not ids:
        console.print("no Bluesky posts to check")
        return
    totals = {"checked": 0, "deleted": 0, "failed": 0}
    errors: list[str] = []
    with _appview(appview) as client:
        for res in run_many(engine, ids, client, batch=limit):
            for k in totals:
                totals[k] += getattr(res, k)
            errors.extend(res.errors)
    console.print(
        f"{len(ids)} Bluesky posts: {totals['checked']} checked, {totals['deleted']} deleted, "
        f"{totals['failed']} failed",
        highlight=False,
    )
    if errors:
        fail(
            f"{totals['failed']} check-backs failed (the posts are retried with backoff); first: {errors[0]}"
        )


__all__ = ["app", "console"]
