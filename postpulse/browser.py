"""Finding and launching Chromium for Playwright on machines with or without Playwright's own
browser download.

    from playwright.sync_api import sync_playwright
    from postpulse.browser import launch_args

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args())

:func:`find_chromium` prefers Playwright's own Chromium (``playwright install chromium``); without
it, a system Chromium (``/usr/bin/chromium``, or ``chromium`` / ``chromium-browser`` /
``google-chrome`` on ``PATH``). ``POSTPULSE_CHROMIUM`` names an executable explicitly (read when
called, never at import).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

SYSTEM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
    "/snap/bin/chromium",
)
PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: flags for a machine without network access: no background fetches, updates, sync or QUIC
OFFLINE_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


class ChromiumNotFound(RuntimeError):
    """No Chromium for Playwright on this machine."""


def _playwright_chromium() -> str | None:
    """Playwright's own Chromium executable, if it was downloaded (``playwright install chromium``)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as pw:
            path = pw.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).is_file() and os.access(path, os.X_OK) else None


def _playwright_chromium_fast() -> str | None:
    """Look for Playwright's download without starting its driver (cheap; used first)."""
    roots = [os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or "", str(Path.home() / ".cache" / "ms-playwright")]
    for root in roots:
        if not root or root == "0" or not Path(root).is_dir():
            continue
        for pattern in (
            "chromium-*/chrome-linux*/chrome",
            "chromium_headless_shell-*/chrome-*/headless_shell",
            "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
        ):
            for cand in sorted(Path(root).glob(pattern), reverse=True):
                if cand.is_file() and os.access(cand, os.X_OK):
                    return str(cand)
    return None


def find_chromium() -> str | None:
    """Path of a Chromium Playwright can drive, or None.

    Order: ``$POSTPULSE_CHROMIUM``; Playwright's own download; ``/usr/bin/chromium`` and friends;
    ``chromium`` etc. on ``PATH``.
    """
    explicit = os.environ.get("POSTPULSE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() and os.access(explicit, os.X_OK) else None
    own = _playwright_chromium_fast()
    if own:
        return own
    for cand in SYSTEM_CANDIDATES:
        if Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def is_playwright_own(path: str) -> bool:
    return "ms-playwright" in path or bool(
        os.environ.get("PLAYWRIGHT_BROWSERS_PATH") and path.startswith(os.environ["PLAYWRIGHT_BROWSERS_PATH"])
    )


def launch_args(headless: bool = True, extra_args: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch(**launch_args())``.

    Sets ``executable_path`` when the browser is not Playwright's own, ``headless``, and flags for
    an offline machine (``--no-sandbox``, which root needs, and no background networking).
    Raises :class:`ChromiumNotFound` naming the fix when there is no Chromium.
    """
    path = find_chromium()
    if path is None:
        if os.environ.get("POSTPULSE_CHROMIUM"):
            raise ChromiumNotFound(
                f"POSTPULSE_CHROMIUM={os.environ['POSTPULSE_CHROMIUM']!r} is not an executable file; "
                "point it at a Chromium binary or unset it"
            )
        raise ChromiumNotFound(
            "No Chromium found for Playwright. Install one: `apt-get install chromium` (system "
            "Chromium at /usr/bin/chromium) or `playwright install chromium` (Playwright's own), "
            "or set POSTPULSE_CHROMIUM to a Chromium executable."
        )
    args: dict[str, Any] = {"headless": headless, "args": list(OFFLINE_ARGS) + list(extra_args or [])}
    if not is_playwright_own(path):
        args["executable_path"] = path
    return args
