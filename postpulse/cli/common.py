"""Shared CLI helpers: one console, one way to fail."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero (the message is shown as is: file
    names and values in it are never read as markup)."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def open_store(*, keep_running: bool = False):
    """The store for a CLI command, with user-facing errors."""
    from postpulse.store.database import connect_store

    return connect_store(keep_running=keep_running)
