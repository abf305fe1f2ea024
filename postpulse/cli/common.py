"""Shared CLI helpers: one console, one way to fail."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def open_store(*, keep_running: bool = False):
    """The store for a CLI command, with user-facing errors."""
    from postpulse.store.database import connect_store

    return connect_store(keep_running=keep_running)
