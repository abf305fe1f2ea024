"""``postpulse watch``: watched profiles collected on a schedule, within a daily budget.

postpulse watch source-add sandbox-tiktok --actor clockworks~tiktok-scraper --results-per-day 200 \
    [--input '{"profiles": ["{username}"]}'] [--cost-per-result 0.002] [--cost-per-day 1.5] [--base-url URL]
postpulse watch add https://www.tiktok.com/@name --source sandbox-tiktok [--role competitor]
postpulse watch list | sources | remove tiktok:name | collect tiktok:name
"""

from __future__ import annotations

import json
import os

import typer
from rich.markup import escape
from rich.table import Table

from postpulse.cli.common import console, fail, guarded, open_store

app = typer.Typer(help="Watched profiles: collected on a schedule through a source, within a budget.")


def _instance():
    """The Dagster instance `postpulse up` runs (None when it was never set up here)."""
    from postpulse import config

    home = config.dagster_home()
    if not (home / "dagster.yaml").exists():
        return None
    os.environ.setdefault("DAGSTER_HOME", str(home))
    os.environ.setdefault("POSTPULSE_DAGSTER_PG_URL", open_store().urls.dagster)
    import dagster as dg

    return dg.DagsterInstance.get()


@app.command("source-add")
def source_add(
    name: str,
    actor: str | None = typer.Option(None, "--actor", help="Apify actor id, e.g. apify~instagram-scraper"),
    run_input: str | None = typer.Option(
        None, "--input", help='actor input (JSON); "{username}"/"{profile_url}" are filled per profile'
    ),
    results_per_day: int = typer.Option(..., "--results-per-day", help="budget: results per day (UTC)"),
    cost_per_result: float = typer.Option(0.0, "--cost-per-result", help="estimated cost of one result"),
    cost_per_day: float | None = typer.Option(None, "--cost-per-day", help="budget: estimated cost per day"),
    kind: str = typer.Option("apify", "--kind", help="apify | bluesky"),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Apify API (default APIFY_BASE_URL or the sandbox)"
    ),
) -> None:
    """Add a collection source with its daily budget (the token comes from APIFY_TOKEN)."""
    from postpulse.watchlists.store import add_source

    def go():
        parsed = None
        if run_input is not None:
            try:
                parsed = json.loads(run_input)
            except ValueError as exc:
                fail(f"--input is not valid JSON: {exc}")
        with open_store().engine.begin() as conn:
            return add_source(
                conn,
                name,
                kind=kind,
                results_per_day=results_per_day,
                cost_per_result=cost_per_result,
                cost_per_day=cost_per_day,
                actor_id=actor,
                run_input=parsed,
                base_url=base_url,
            )

    src = guarded(go)()
    console.print(
        f"[green]{src['id']}[/green] source {escape(src['name'])} ({src['kind']}): "
        f"{src['results_per_day']} results/day",
        highlight=False,
    )


@app.command("add")
def add(
    profile: str = typer.Argument(..., help="profile URL or platform:username"),
    source: str = typer.Option(..., "--source", help="the watch source (name or id)"),
    role: str = typer.Option("competitor", "--role", help="ours | competitor | creator"),
    workspace: str | None = typer.Option(None, "--workspace"),
    every_hours: int = typer.Option(24, "--every-hours", help="collect every N hours"),
) -> None:
    """Watch a profile; its Dagster partition is added at once (or by the watchlist sensor)."""
    from postpulse.watchlists.store import add_watch

    def go():
        with open_store().engine.begin() as conn:
            return add_watch(
                conn, profile, source=source, role=role, workspace=workspace, every_hours=every_hours
            )

    w = guarded(go)()
    console.print(
        f"[green]{w['id']}[/green] watching {escape(w['key'])} via {escape(w['source'])}", highlight=False
    )
    instance = _instance()
    if instance is None:
        console.print("[dim]no Dagster instance set up yet: the watchlist sensor adds the partition[/dim]")
        return
    from orchestration.agency import add_watch_partitions

    add_watch_partitions(instance, [w["key"]])
    console.print(f"Dagster partition {escape(w['key'])} added to watched_profiles", highlight=False)


@app.command("remove")
def remove(key: str) -> None:
    """Stop watching a profile (its collected data stays)."""
    from postpulse.watchlists.store import remove_watch

    def go():
        with open_store().engine.begin() as conn:
            return remove_watch(conn, key)

    w = guarded(go)()
    instance = _instance()
    if instance is not None:
        from orchestration.agency import remove_watch_partition

        remove_watch_partition(instance, w["key"])
    console.print(f"no longer watching {escape(w['key'])}", highlight=False)


@app.command("list")
def list_() -> None:
    """Watched profiles with their source, interval and last collection."""
    from postpulse.watchlists.store import list_watches

    with open_store().engine.connect() as conn:
        rows = list_watches(conn)
    if not rows:
        console.print("[yellow]no watched profiles[/yellow]: `postpulse watch add URL --source NAME`")
        return
    t = Table(
        "partition", "role", "source", "every", "last collected", "last status", header_style="bold cyan"
    )
    for r in rows:
        last = f"{r['last_collected_at']:%Y-%m-%d %H:%M}" if r["last_collected_at"] else "-"
        t.add_row(
            escape(r["key"]),
            r["role"],
            escape(r["source"]),
            f"{r['every_hours']} h",
            last,
            escape(r["last_status"] or ""),
        )
    console.print(t)


@app.command("sources")
def sources() -> None:
    """Watch sources with today's use of their budget."""
    from sqlalchemy import text

    from postpulse.watchlists.store import budget, get_source

    with open_store().engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM watch_sources ORDER BY name")).scalars().all()
        rows = [(s, budget(conn, s)) for s in (get_source(conn, i) for i in ids)]
    t = Table("source", "kind", "results today", "estimated cost today", "state", header_style="bold cyan")
    for s, b in rows:
        cost = f"{b.cost_used:.2f}" + (f" / {b.cost_per_day:.2f}" if b.cost_per_day else "")
        t.add_row(
            escape(s["name"]),
            s["kind"],
            f"{b.results_used} / {b.results_per_day}",
            cost,
            "[red]paused: budget spent[/red]" if b.spent else "ok",
        )
    console.print(t)


@app.command("collect")
def collect(key: str) -> None:
    """Collect one watched profile now (outside the schedule), within its budget."""
    from postpulse.watchlists.collect import collect_watch

    res = guarded(lambda: collect_watch(open_store().engine, key))()
    color = "yellow" if res.status == "paused" else "green"
    console.print(f"[{color}]{escape(res.message)}[/{color}]", highlight=False)
