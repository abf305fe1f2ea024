"""The postpulse sandbox: a small, local, deterministic social network (LinkedIn-, Instagram-,
TikTok-, X- and Threads-like) that serves the demo's data and is the peer of every HTTP and
real-browser test. See ``world`` (the data and login rule), ``formats`` (scraper JSON shapes),
``apify`` (the Apify-style API), ``faults`` (switchable faults), ``app`` (the Starlette app),
``state`` (what its handlers share), ``routes`` (the handlers by area: pages, api, apify, admin)
and ``server`` (:class:`SandboxServer`).

Submodules are imported lazily so that ``import postpulse.sandbox.world`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "build_world",
    "World",
    "SandboxServer",
    "SandboxClock",
    "Faults",
    "create_app",
    "PLATFORMS",
    "password_for",
    "our_accounts",
]


def __getattr__(name: str) -> Any:
    if name in ("build_world", "World", "PLATFORMS", "password_for", "our_accounts"):
        from . import world

        return getattr(world, name)
    if name == "SandboxServer":
        from .server import SandboxServer

        return SandboxServer
    if name == "SandboxClock":
        from .clock import SandboxClock

        return SandboxClock
    if name == "Faults":
        from .faults import Faults

        return Faults
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
