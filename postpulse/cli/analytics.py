"""``postpulse query``, ``postpulse report`` and ``postpulse metrics``: analytics from the shell.

* ``postpulse query "SELECT ..."`` — read-only SQL through DuckDB over the store (attached
  READ_ONLY; writes/DDL refused before execution). Tables are addressable unqualified.
* ``postpulse report list`` — the named queries and their parameters.
* ``postpulse report NAME [--param k=v ...] [--format table|csv|parquet|json] [-o FILE]``
* ``postpulse report html --workspace NAME -o report.html`` — self-contained HTML report.
* ``postpulse metrics daily --start YYYY-MM-DD [--end YYYY-MM-DD]`` — compute daily_metrics
  for a range directly (without Dagster; the same code as the asset).
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import typer
from rich.table import Table

from postpulse.cli.common import console, fail, open_store
from postpulse.errors import PostpulseError

MAX_TABLE_ROWS = 60


def _session():
    from postpulse.analytics.duck import open_analytics

    store = open_store()
    return store, open_analytics(store.urls.app)


def _print_df(df, title: str | None = None) -> None:
    from postpulse.analytics.report_format import cell_text, dates_as_dates
    from postpulse.safe_text import display_cell

    if df.empty:
        console.print(f"[yellow]no rows[/yellow]{f' ({title})' if title else ''}")
        return
    table = Table(title=title, show_lines=False, header_style="bold cyan")
    for col in df.columns:
        numeric = df[col].dtype.kind in "iuf"
        table.add_column(display_cell(col), justify="right" if numeric else "left", overflow="fold")
    for row in dates_as_dates(df.head(MAX_TABLE_ROWS)).itertuples(index=False):
        table.add_row(*[display_cell(cell_text(v)) for v in row])
    console.print(table)
    if len(df) > MAX_TABLE_ROWS:
        console.print(f"[dim]{len(df) - MAX_TABLE_ROWS} more row(s); use --format csv -o FILE for all[/dim]")


def _emit(df, fmt: str, output: Path | None, title: str | None = None) -> None:
    from postpulse.analytics import report_format

    if fmt not in report_format.FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(report_format.FORMATS)}")
    if fmt == "table":
        if output:
            fail("--format table prints to the terminal; use --format csv|json|parquet with -o FILE")
        _print_df(df, title)
        return
    if fmt == "parquet" and output is None:
        fail("--format parquet needs an output file: -o FILE.parquet")
    text = report_format.write(df, fmt, output)
    if text is not None:
        if sys.stdout.isatty():  # never let imported text drive the terminal
            from postpulse.safe_text import for_terminal

            text = for_terminal(text)
        typer.echo(text, nl=False)
    else:
        console.print(f"[green]wrote {len(df)} row(s) to {output}[/green]", highlight=False)


def query(
    sql: str = typer.Argument(
        ..., help='one SELECT statement, e.g. "SELECT platform, count(*) FROM posts GROUP BY 1"'
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | parquet | json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write to FILE instead of the terminal"),
) -> None:
    """Run read-only SQL (DuckDB dialect) over the store; writes and DDL are refused."""
    from postpulse.analytics.duck import check_read_only, run_user_query

    try:
        check_read_only(sql)  # refuse before even opening the store
        _, a = _session()
        with a:
            df = run_user_query(a, sql)
    except PostpulseError as exc:
        fail(str(exc))
    _emit(df, fmt, output)


def report(
    name: str = typer.Argument(
        ..., help="a report name, `list` to list them, or `html` for the workspace report"
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="report parameter name=value (repeatable)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | parquet | json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write to FILE"),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="workspace name (for `html`)"),
    days: int = typer.Option(30, "--days", help="period of the html report, in days"),
    period: str | None = typer.Option(None, "--period", help="day | week | month (weeks start on Monday)"),
    since: str | None = typer.Option(None, "--since", help="first day, YYYY-MM-DD (default: from the data)"),
    until: str | None = typer.Option(None, "--until", help="last day, YYYY-MM-DD, inclusive"),
) -> None:
    """Run a named report (sql/queries/NAME.sql). `postpulse report list` shows all of them.
    Without --since a report covers the last 30 days of the data there is, not of the clock."""
    from postpulse.agency.periods import period_values
    from postpulse.analytics import queries

    try:
        library = queries.load_library()
        if name == "list":
            _list(library)
            return
        periods = period_values(period, since, until)
        if name == "html":
            _html(workspace, output, days, periods)
            return
        q = queries.get(name, library)
        values = {**queries.parse_params(param), **periods.for_query(q, workspace, library)}
        q.bind(values)  # parameter errors before connecting
        _, a = _session()
        with a:
            df = q.run(a, values)
    except PostpulseError as exc:
        fail(str(exc))
    _emit(df, fmt, output, title=q.title)


def _list(library) -> None:
    table = Table(title="postpulse reports", header_style="bold cyan", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("what")
    table.add_column("parameters (type = default)")
    for q in library.values():
        params = "\n".join(
            f"{p.name} {p.type} = {p.default if p.default is not None else 'NULL'}"
            + (f"  [dim]{p.help}[/dim]" if p.help else "")
            for p in q.params
        )
        table.add_row(q.name, q.title, params or "-")
    console.print(table)
    console.print("[dim]also: `postpulse report html --workspace NAME -o report.html`[/dim]")


def _html(workspace: str | None, output: Path | None, days: int, periods) -> None:
    from postpulse.analytics import html_report

    if not workspace:
        fail("`postpulse report html` needs --workspace NAME (and -o FILE.html)")
    if output is None:
        fail("`postpulse report html` needs an output file: -o report.html")
    _, a = _session()
    with a:
        html = html_report.render(
            a, workspace, days=days, since=periods.since, until=periods.until, period=periods.period or "day"
        )
    output.write_text(html)
    console.print(f"[green]wrote {output} ({len(html) // 1024} KiB, self-contained)[/green]", highlight=False)


metrics_app = typer.Typer(
    help="Compute stored metrics directly (the same code the Dagster assets run).", no_args_is_help=True
)


@metrics_app.command("daily")
def metrics_daily(
    start: str = typer.Option(..., "--start", help="first UTC day, YYYY-MM-DD"),
    end: str | None = typer.Option(None, "--end", help="last UTC day, inclusive (default: start)"),
    max_gap_days: int = typer.Option(
        31, "--max-gap-days", help="snapshot gaps longer than this are not spread"
    ),
) -> None:
    """Recompute daily_metrics for START..END (inclusive) in one pass; idempotent."""
    from postpulse.analytics.daily import materialize_daily

    try:
        d0 = date.fromisoformat(start)
        d1 = date.fromisoformat(end) if end else d0
    except ValueError as exc:
        fail(f"bad date: {exc}; use YYYY-MM-DD")
    if d1 < d0:
        fail(f"--end {d1} is before --start {d0}")
    try:
        store, a = _session()
        with a:
            res = materialize_daily(a, store.urls.app, d0, d1 + timedelta(days=1), max_gap_days=max_gap_days)
    except PostpulseError as exc:
        fail(str(exc))
    console.print(
        f"[green]daily_metrics {d0}..{d1}: {res.rows:,} rows[/green] "
        f"({', '.join(f'{g} {n:,}' for g, n in res.rows_by_grain.items()) or 'no data in range'}; "
        f"{res.snapshots_read:,} snapshots read (the range and {max_gap_days} days around it)"
        + (
            f", {res.snapshot_rows_scanned:,} rows scanned by the parts of the range"
            if res.snapshot_rows_scanned != res.snapshots_read
            else ""
        )
        + f", {sum(res.timings.values()):.2f} s)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.command("report")(report)
    app.add_typer(metrics_app, name="metrics")
