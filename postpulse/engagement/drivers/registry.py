"""Which driver acts for an account, and how a driver for a new platform plugs in.

A *driver* drives one platform's web UI in Playwright for one logged-in account. The executor
(actions), ``sessions.login_account`` (log in once) and ``dm_sync.sync_account`` (read DMs)
all open drivers through ``open_driver`` -- never a driver class directly -- so a new platform
needs no change outside its own modules and one registry line.

Only the sandbox driver exists: real platforms are not reachable from where postpulse is built
and tested, so every platform's accounts act on the matching sandbox site (``x`` on ``/x/``,
``instagram`` on ``/instagram/``, ...; accounts with platform ``sandbox`` name theirs in
``metadata.sandbox_site``).

Adding a driver for a platform, say Instagram:

1. ``drivers/instagram_selectors.py``: every selector and URL shape the driver uses, in one
   dict (as ``sandbox_selectors.py``). When the site's markup changes, only this file changes.
2. ``drivers/instagram.py``: a class with the ``Driver`` protocol of ``base.py``
   (``perform(task, text) -> (result, dom_check)``, ``verify(task, result, text) ->
   Verification`` after a fresh page load, ``screenshot(path)``, ``close()``; for sessions and
   DMs also ``login(password) -> storage_state``, ``list_threads()``, ``read_thread(id)``),
   constructed as ``InstagramDriver(browser, base_url=..., site=..., username=...,
   storage_state=..., timeout_ms=...)``. Raise the errors of ``base.py``: ``MarkupChanged``
   (with ``selector=KEY``) when a selector that must match finds nothing, ``TransientError`` for
   429 / 5xx / timeouts (with ``status`` and ``retry_after``), ``SessionExpired`` when the site
   shows its login page, ``ActionBlocked`` on a block notice, ``TargetNotFound``. Check the state
   before acting (already liked? -> ``{"already": True}``) so that a retried action never acts
   twice.
3. Register it here: ``DRIVERS["instagram"] = DriverSpec("instagram",
   "postpulse.engagement.drivers.instagram:InstagramDriver")`` and
   ``PLATFORM_DRIVERS["instagram"] = "instagram"``. One account can also pick a driver in
   ``accounts.metadata.driver``.
4. Tests: copy ``tests/engagement/test_actions_e2e.py`` against a local copy of the platform's
   pages (never the real site from tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import Driver, DriverError


@dataclass(frozen=True)
class DriverSpec:
    """``factory``: ``"module:attribute"`` of the driver class (or a function with the same
    keyword arguments). ``site``: ``"module:function"`` mapping ``(platform, metadata)`` to the
    driver's site key (``ActionTask.site``), raising ``DriverError``; default: the platform.
    ``kind``: ``browser`` (drives the site in Playwright: needs a browser) or ``api`` (talks to the
    platform's API: gets no browser, and ``on_session_change(state)`` to store refreshed tokens)."""

    name: str
    factory: str
    site: str | None = None
    kind: str = "browser"

    def load_factory(self) -> Callable[..., Driver]:
        return _load(self.factory)

    def site_for(self, platform: str, metadata: dict | None) -> str:
        return _load(self.site)(platform, metadata) if self.site else platform


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


#: driver name -> spec
DRIVERS: dict[str, DriverSpec] = {
    "sandbox": DriverSpec(
        "sandbox",
        "postpulse.engagement.drivers.sandbox:SandboxDriver",
        site="postpulse.engagement.drivers.sandbox:site_for",
    ),
    "bluesky": DriverSpec("bluesky", "postpulse.bluesky.driver:BlueskyDriver", kind="api"),
}

# accounts connected through an official API (``postpulse accounts connect PLATFORM``) carry
# metadata.driver = "official_<platform>": postpulse/platforms/driver.py, no browser
DRIVERS.update(
    {
        f"official_{p}": DriverSpec(
            f"official_{p}", "postpulse.platforms.driver:OfficialApiDriver", kind="api"
        )
        for p in ("youtube", "x", "instagram", "linkedin")
    }
)

#: platform -> driver name; platforms not listed use ``DEFAULT_DRIVER``
PLATFORM_DRIVERS: dict[str, str] = {"bluesky": "bluesky"}

DEFAULT_DRIVER = "sandbox"


def register_driver(spec: DriverSpec, *, platforms: tuple[str, ...] = ()) -> None:
    """Add (or replace) a driver and make it the one for ``platforms``."""
    DRIVERS[spec.name] = spec
    for p in platforms:
        PLATFORM_DRIVERS[p] = spec.name


def resolve(platform: str, metadata: dict | None = None) -> tuple[str, str]:
    """``(driver name, site)`` for an account: ``metadata.driver``, else the platform's driver,
    else the sandbox. Raises ``DriverError`` (code ``unsupported_platform``) naming the fix."""
    name = (metadata or {}).get("driver") or PLATFORM_DRIVERS.get(platform) or DEFAULT_DRIVER
    spec = DRIVERS.get(name)
    if spec is None:
        raise DriverError(
            f"no driver {name!r} for platform {platform!r} (accounts.metadata.driver or "
            f"PLATFORM_DRIVERS); known drivers: {', '.join(sorted(DRIVERS))}. See "
            "postpulse/engagement/drivers/registry.py for how to add one.",
            code="unsupported_platform",
        )
    return name, spec.site_for(platform, metadata)


def open_driver(
    name: str,
    browser: Any,
    *,
    base_url: str,
    site: str,
    username: str,
    storage_state: dict | None,
    timeout_ms: int = 15000,
    on_session_change: Callable[[dict], None] | None = None,
) -> Driver:
    """A driver instance for one account (a browser driver: one browser context)."""
    spec = DRIVERS.get(name)
    if spec is None:
        raise DriverError(
            f"no driver {name!r}; known drivers: {', '.join(sorted(DRIVERS))}", code="unsupported_platform"
        )
    extra = {"on_session_change": on_session_change} if spec.kind == "api" else {}
    return spec.load_factory()(
        browser,
        base_url=base_url,
        site=site,
        username=username,
        storage_state=storage_state,
        timeout_ms=timeout_ms,
        **extra,
    )


def needs_browser(name: str) -> bool:
    spec = DRIVERS.get(name)
    return spec is None or spec.kind == "browser"


__all__ = [
    "DRIVERS",
    "PLATFORM_DRIVERS",
    "DEFAULT_DRIVER",
    "DriverSpec",
    "needs_browser",
    "open_driver",
    "register_driver",
    "resolve",
]
