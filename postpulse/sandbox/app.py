"""The sandbox web application (Starlette): the site, the JSON endpoints, the Apify-style API and
the admin endpoints tests use. Build it with :func:`create_app`; run it with
:class:`postpulse.sandbox.server.SandboxServer`. The handlers live in ``postpulse.sandbox.routes``
by area (pages, api, apify, admin); the state they share is a :class:`Sandbox`.

Endpoints (``{platform}`` is ``linkedin``, ``instagram``, ``tiktok``, ``x`` or ``threads``):

Site (HTML, plain forms, POST + 303 redirect; every page but the login page needs a session)
    ``GET /``  platforms; ``GET|POST /{platform}/login``; ``POST /{platform}/logout``;
    ``GET /{platform}/`` feed (``?tag=``, ``?page=``); profile and post pages at the real sites'
    path shapes (``/linkedin/in/{u}/``, ``/linkedin/posts/{u}_...-activity-{id}-XXXX``,
    ``/linkedin/feed/update/urn:li:activity:{id}/``, ``/instagram/{u}/``, ``/instagram/p/{code}/``,
    ``/tiktok/@{u}``, ``/tiktok/@{u}/video/{id}``, ``/x/{u}``, ``/x/{u}/status/{id}``,
    ``/threads/@{u}``, ``/threads/@{u}/post/{code}``, and ``/{platform}/post/{any post id}``);
    ``POST /{platform}/action/{like|unlike|comment|reply|delete_comment|follow|unfollow}``;
    ``GET /{platform}/messages/``, ``GET|POST /{platform}/messages/new``,
    ``GET|POST /{platform}/messages/{thread_id}``; ``GET|POST /{platform}/compose``.
JSON
    ``GET /api/platforms``; ``GET /api/{platform}/posts?profile=&limit=&offset=``;
    ``GET /api/{platform}/posts/{post_id}`` (404 ``{"error": {...}}`` when deleted or unknown);
    ``GET /api/{platform}/comments?post=<post_id>``; ``GET /api/{platform}/profiles/{username}``.
Apify-style (token ``?token=`` or ``Authorization: Bearer``)
    ``POST /v2/acts/{actorId}/runs``, ``POST /v2/acts/{actorId}/run-sync-get-dataset-items``,
    ``GET /v2/acts/{actorId}``, ``GET /v2/actor-runs/{runId}`` (``?waitForFinish=``),
    ``POST /v2/actor-runs/{runId}/abort``, ``GET /v2/actor-runs/{runId}/dataset/items``,
    ``GET /v2/datasets/{datasetId}``, ``GET /v2/datasets/{datasetId}/items``
    (``offset``, ``limit``, ``format=json|jsonl``, ``clean``, ``desc``, ``fields``, ``omit``,
    ``flatten``; headers ``X-Apify-Pagination-Total/-Offset/-Limit/-Count``).
Admin (for tests; header ``X-Sandbox-Admin: <token>`` when the app has an admin token)
    ``GET|POST|DELETE /_admin/faults``, ``DELETE /_admin/faults/{kind}``;
    ``GET|POST /_admin/clock`` (``{"now": iso}`` or ``{"advance_seconds": n}``);
    ``POST /_admin/dm`` (``{"platform", "from", "to", "text"}``); ``GET /_admin/state``;
    ``POST /_admin/posts/{platform}/{post_id}/delete|restore|metrics`` (metrics:
    ``{"likes": -5}``); ``GET /healthz``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .clock import SandboxClock
from .faults import Faults
from .official import mount_official
from .routes import all_routes
from .routes.common import is_api, json_error
from .state import DEFAULT_APIFY_TOKEN, DEFAULT_SESSION_TTL, Sandbox, Session, cookie_name
from .world import World


def create_app(
    world: World | None = None,
    clock: SandboxClock | None = None,
    faults: Faults | None = None,
    *,
    apify_token: str | None = None,
    session_ttl: timedelta | float = DEFAULT_SESSION_TTL,
    admin_token: str | None = None,
    apify_polls_to_finish: int = 2,
    apify_seconds_to_finish: float | None = None,
) -> Starlette:
    """The sandbox Starlette app.

    ``apify_token`` defaults to ``$SANDBOX_APIFY_TOKEN`` (read now, not at import) or
    ``"sandbox-token"``; ``session_ttl`` is in sandbox time (a ``timedelta`` or seconds).
    The app keeps its shared state in ``app.state.sandbox``.
    """
    from .world import build_world

    world = world if world is not None else build_world()
    clock = clock if clock is not None else SandboxClock(world.now)
    faults = faults if faults is not None else Faults()
    if not isinstance(session_ttl, timedelta):
        session_ttl = timedelta(seconds=float(session_ttl))
    token = apify_token or os.environ.get("SANDBOX_APIFY_TOKEN") or DEFAULT_APIFY_TOKEN
    sb = Sandbox(
        world,
        clock,
        faults,
        apify_token=token,
        session_ttl=session_ttl,
        admin_token=admin_token,
        polls_to_finish=apify_polls_to_finish,
        seconds_to_finish=apify_seconds_to_finish,
    )

    async def http_exc(request: Request, exc: HTTPException) -> Response:
        msg = exc.detail if isinstance(exc.detail, str) else "request not accepted"
        if exc.status_code == 404:
            msg = f"there is no page at {request.url.path}"
        elif exc.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}"
        resp = sb.error_page(request, exc.status_code, msg)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    async def server_exc(request: Request, exc: Exception) -> Response:
        return json_error("internal sandbox error; this is a bug in the sandbox", 500, "internal-error")

    app = Starlette(
        # the official API emulations (sandbox/official/) first, then the sandbox's own routes
        routes=[*mount_official(sb, now=world.now), *all_routes(sb)],
        exception_handlers={HTTPException: http_exc, Exception: server_exc},
    )
    app.state.sandbox = sb
    app.add_middleware(FaultMiddleware, sandbox=sb)
    return app


class FaultMiddleware:
    """Applies ``slow``, ``rate_limit`` and ``server_error`` before the app sees a request."""

    def __init__(self, app, sandbox: Sandbox) -> None:
        self.app = app
        self.sb = sandbox

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "/")
        faults = self.sb.faults
        slow = faults.take("slow", path)
        if slow is not None:
            await asyncio.sleep(float(slow["delay"]))
        resp: Response | None = None
        rl = faults.take("rate_limit", path)
        if rl is not None:
            retry = str(int(float(rl["retry_after"])))
            msg = f"Too many requests: rate limit exceeded; retry after {retry} seconds"
            resp = (
                json_error(msg, 429, "rate-limit-exceeded", headers={"Retry-After": retry})
                if is_api(path)
                else HTMLResponse(_plain_page("Too many requests", msg), 429, headers={"Retry-After": retry})
            )
        else:
            se = faults.take("server_error", path)
            if se is not None:
                status = int(se["status"])
                msg = (
                    f"The server had an error (sandbox fault 'server_error', HTTP {status}); try again later"
                )
                resp = (
                    json_error(msg, status)
                    if is_api(path)
                    else HTMLResponse(_plain_page("Something went wrong", msg), status)
                )
        if resp is not None:
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _plain_page(title: str, message: str) -> str:
    from html import escape

    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title></head>"
        f"<body><main role=main><h1>{escape(title)}</h1><p role=alert data-testid=error-message>"
        f"{escape(message)}</p></main></body></html>"
    )


__all__ = ["create_app", "Sandbox", "Session", "cookie_name", "DEFAULT_APIFY_TOKEN", "DEFAULT_SESSION_TTL"]
