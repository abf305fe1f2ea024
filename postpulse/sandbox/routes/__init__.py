"""The sandbox app's routes, by area; each module's ``routes(sb)`` binds its handlers to the app's
:class:`~postpulse.sandbox.state.Sandbox` (handlers are ``async def name(request, sb)``).

- :mod:`.pages`  the site: HTML pages and forms (``general_routes`` first, ``site_routes`` last)
- :mod:`.api`    the JSON API, ``/api/...``
- :mod:`.apify`  the Apify-style API, ``/v2/...``
- :mod:`.admin`  ``/_admin/...`` (faults, clock, DMs, state, posts) and ``/healthz``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from . import admin, api, apify, pages

if TYPE_CHECKING:
    from ..state import Sandbox


def all_routes(sb: Sandbox) -> list[BaseRoute]:
    """Every route in matching order: the site's catch-all ``/{platform}/{rest:path}`` comes last."""
    return [
        *pages.general_routes(sb),
        *api.routes(sb),
        *apify.routes(sb),
        *admin.routes(sb),
        *pages.site_routes(sb),
    ]
