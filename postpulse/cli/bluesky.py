"""``postpulse bluesky ...``: the local AT Protocol stack and Bluesky collection.

postpulse bluesky stack [--data DIR]                  # installs on first use, prints one READY line
postpulse bluesky collect [--account H] [--profile H] [--search Q] [--appview URL]
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer

from postpulse.cli.common import console, err_console, fail

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


__all__ = ["app", "console"]
