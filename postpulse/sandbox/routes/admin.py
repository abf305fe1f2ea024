"""Admin endpoints for tests and demos (``/_admin/...``): faults, the sandbox clock, incoming DMs,
the world's state and post changes; header ``X-Sandbox-Admin`` when the app has an admin token.
``/healthz`` answers without one."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..world import PLATFORMS
from .common import (
    BadRequest,
    bind,
    json_error,
    platform_of,
    read_json,
)

if TYPE_CHECKING:
    from ..state import Sandbox


async def healthz(request: Request, sb: Sandbox) -> Response:
    return JSONResponse({"ok": True, "now": sb.clock.now().isoformat()})


def check_admin(sb: Sandbox, request: Request) -> Response | None:
    if sb.admin_token and not secrets.compare_digest(
        (request.headers.get("x-sandbox-admin") or "").encode(), sb.admin_token.encode()
    ):
        return json_error("admin endpoints need the header X-Sandbox-Admin with the admin token", 403)
    return None


async def admin_faults(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    if request.method == "GET":
        return JSONResponse({"faults": sb.faults.active()})
    if request.method == "DELETE":
        sb.faults.clear()
        return JSONResponse({"faults": sb.faults.active()})
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest('send {"kind": "<fault>", "params": {...}} or {"clear": true}')
    if body.get("clear") is True:
        sb.faults.clear()
    elif isinstance(body.get("clear"), str):
        sb.faults.clear(body["clear"])
    else:
        kind = body.get("kind")
        if not isinstance(kind, str):
            raise BadRequest('the fault needs a "kind", e.g. {"kind": "rate_limit", "params": {"count": 2}}')
        params = body.get("params")
        if params is None:
            params = {k: v for k, v in body.items() if k != "kind"}
        if not isinstance(params, dict):
            raise BadRequest('"params" must be a JSON object')
        sb.faults.set(kind, **params)
    return JSONResponse({"faults": sb.faults.active()})


async def admin_fault_clear(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    sb.faults.clear(request.path_params["kind"])
    return JSONResponse({"faults": sb.faults.active()})


async def admin_clock(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest('send {"now": "<ISO 8601>"} or {"advance_seconds": <number>}')
        if "now" in body:
            try:
                dt = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
            except ValueError:
                raise BadRequest(f'"now" is not an ISO 8601 date-time: {body["now"]!r}') from None
            sb.clock.set(dt)
        elif "advance_seconds" in body:
            v = body["advance_seconds"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > 10 * 365 * 86400:
                raise BadRequest('"advance_seconds" must be a number of seconds (at most ten years)')
            sb.clock.advance(timedelta(seconds=v))
        else:
            raise BadRequest('send {"now": "<ISO 8601>"} or {"advance_seconds": <number>}')
    return JSONResponse({"now": sb.clock.now().isoformat(), "time_scale": sb.clock.time_scale})


async def admin_dm(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest('send {"platform", "from", "to", "text"}')
    platform = body.get("platform")
    if platform not in PLATFORMS:
        raise BadRequest(f'"platform" must be one of {", ".join(PLATFORMS)}')
    sender, to = body.get("from"), body.get("to")
    if not isinstance(sender, str) or not isinstance(to, str):
        raise BadRequest('"from" and "to" must be usernames')
    sender_p = sb.world.profile(platform, sender)
    thread, msg = sb.world.send_dm(platform, sender_p.username, to, body.get("text"), sb.clock.now())
    return JSONResponse(
        {
            "thread_id": thread.thread_id,
            "message_id": msg.message_id,
            "from": msg.sender,
            "to": thread.other(msg.sender),
        },
        status_code=201,
    )


async def admin_state(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    state = sb.world.state()
    state["now"] = sb.clock.now().isoformat()
    state["faults"] = sb.faults.active()
    state["sessions"] = sb.sessions.count()
    return JSONResponse(state)


async def admin_post(request: Request, sb: Sandbox) -> Response:
    if (bad := check_admin(sb, request)) is not None:
        return bad
    platform = platform_of(request)
    op = request.path_params["op"]
    pid = request.path_params["post_id"]
    if op == "delete":
        post = sb.world.delete_post(platform, pid)
    elif op == "restore":
        post = sb.world.restore_post(platform, pid)
    elif op == "metrics":
        body = await read_json(request)
        if not isinstance(body, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in body.values()
        ):
            raise BadRequest('send integer offsets, e.g. {"likes": -5}')
        post = sb.world.adjust_metrics(platform, pid, **body)
    else:
        raise BadRequest(f"unknown post operation {op!r}; use delete, restore or metrics", 404)
    return JSONResponse(
        {
            "platform": platform,
            "post_id": post.post_id,
            "deleted": post.deleted,
            "metrics": sb.world.metrics(post, sb.clock.now()),
        }
    )


def routes(sb: Sandbox) -> list[BaseRoute]:
    return [
        Route("/healthz", bind(sb, healthz)),
        Route("/_admin/faults", bind(sb, admin_faults), methods=["GET", "POST", "DELETE"]),
        Route("/_admin/faults/{kind}", bind(sb, admin_fault_clear), methods=["DELETE"]),
        Route("/_admin/clock", bind(sb, admin_clock), methods=["GET", "POST"]),
        Route("/_admin/dm", bind(sb, admin_dm), methods=["POST"]),
        Route("/_admin/state", bind(sb, admin_state)),
        Route("/_admin/posts/{platform}/{post_id:path}/{op}", bind(sb, admin_post), methods=["POST"]),
    ]
