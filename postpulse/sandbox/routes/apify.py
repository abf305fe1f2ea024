"""The Apify-style API (``/v2/...``): actor runs, their datasets and dataset items with Apify's
paging headers; a token (``?token=`` or ``Authorization: Bearer``) on every call."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import apify as apify_mod
from ..formats import flatten_item
from .common import (
    BadRequest,
    api_not_found,
    base_of,
    bind,
    bool_param,
    int_param,
    json_error,
    read_json,
)

if TYPE_CHECKING:
    from ..state import Sandbox


def check_token(sb: Sandbox, request: Request) -> Response | None:
    tok = request.query_params.get("token")
    auth = request.headers.get("authorization", "")
    if not tok and auth.lower().startswith("bearer "):
        tok = auth[7:].strip()
    if not tok:
        return json_error(
            "Authentication token was not provided: pass ?token=... or an 'Authorization: Bearer ...' header",
            401,
            "token-not-provided",
        )
    if not secrets.compare_digest(tok.encode(), sb.apify_token.encode()):
        return json_error(
            # never name a valid token (not even the default) to a caller who has none
            "Authentication token is not valid: pass the token the sandbox was started with "
            "(SANDBOX_APIFY_TOKEN)",
            401,
            "token-not-valid",
        )
    return None


def unknown_actor(actor_id: str) -> Response:
    return json_error(
        f"Actor {actor_id!r} was not found. The sandbox has: {', '.join(apify_mod.ACTORS)}",
        404,
        "record-not-found",
    )


async def act_info(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    actor_id = apify_mod.normalize_actor_id(request.path_params["actor_id"])
    spec = apify_mod.ACTORS.get(actor_id)
    if spec is None:
        return unknown_actor(actor_id)
    user, _, name = actor_id.partition("~")
    return JSONResponse(
        {
            "data": {
                "id": actor_id,
                "username": user,
                "name": name,
                "title": spec["title"],
                "platform": spec["platform"],
            }
        }
    )


async def start_actor_run(sb: Sandbox, request: Request):
    """The run an actor-run request starts, or the error response that refuses it."""
    if (bad := check_token(sb, request)) is not None:
        return bad
    actor_id = apify_mod.normalize_actor_id(request.path_params["actor_id"])
    if actor_id not in apify_mod.ACTORS:
        return unknown_actor(actor_id)
    run_input = await read_json(request, required=False)
    return sb.apify.start(actor_id, run_input, sb.clock.now())


async def act_run(request: Request, sb: Sandbox) -> Response:
    run = await start_actor_run(sb, request)
    if isinstance(run, Response):
        return run
    wait = int_param(request, "waitForFinish", 0, 0, 60)
    if wait:
        sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=True)
    return JSONResponse(
        {"data": run.info()},
        status_code=201,
        headers={"Location": f"{base_of(request)}/v2/actor-runs/{run.id}"},
    )


async def act_run_sync(request: Request, sb: Sandbox) -> Response:
    run = await start_actor_run(sb, request)
    if isinstance(run, Response):
        return run
    sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=True)
    if run.status != "SUCCEEDED":
        return json_error(f"Actor run {run.id} finished with status {run.status}", 400, "run-failed")
    return dataset_response(request, sb.apify.datasets[run.dataset_id])


def get_run(sb: Sandbox, request: Request):
    run = sb.apify.runs.get(request.path_params["run_id"])
    if run is None:
        raise BadRequest(f"Actor run {request.path_params['run_id']!r} was not found", 404)
    return run


async def run_get(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    run = get_run(sb, request)
    wait = int_param(request, "waitForFinish", 0, 0, 60)
    sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=bool(wait))
    return JSONResponse({"data": run.info()})


async def run_abort(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    run = sb.apify.abort(get_run(sb, request), sb.clock.now())
    return JSONResponse({"data": run.info()})


async def run_items(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    run = get_run(sb, request)
    return dataset_response(request, sb.apify.datasets[run.dataset_id])


def get_dataset(sb: Sandbox, request: Request) -> apify_mod.Dataset:
    ds = sb.apify.datasets.get(request.path_params["dataset_id"])
    if ds is None:
        raise BadRequest(f"Dataset {request.path_params['dataset_id']!r} was not found", 404)
    return ds


async def dataset_info(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    return JSONResponse({"data": get_dataset(sb, request).info()})


async def dataset_items(request: Request, sb: Sandbox) -> Response:
    if (bad := check_token(sb, request)) is not None:
        return bad
    return dataset_response(request, get_dataset(sb, request))


def dataset_response(request: Request, ds: apify_mod.Dataset) -> Response:
    offset = int_param(request, "offset", 0, 0, 10**9)
    limit = int_param(request, "limit", None, 0, 250000)
    fmt = (request.query_params.get("format") or "json").lower()
    if fmt not in ("json", "jsonl"):
        raise BadRequest(f"format {fmt!r} is not supported by the sandbox; use json or jsonl")
    bool_param(request, "clean")
    bool_param(request, "skipEmpty")
    desc = bool_param(request, "desc")
    items = list(reversed(ds.items)) if desc else list(ds.items)
    total = len(items)
    page = items[offset:] if limit is None else items[offset : offset + limit]
    flatten = [f for f in (request.query_params.get("flatten") or "").split(",") if f]
    fields = [f for f in (request.query_params.get("fields") or "").split(",") if f]
    omit = [f for f in (request.query_params.get("omit") or "").split(",") if f]
    if flatten:
        page = [flatten_item(it, flatten) for it in page]
    if fields:
        page = [{k: it[k] for k in fields if k in it} for it in page]
    if omit:
        page = [{k: v for k, v in it.items() if k not in omit} for it in page]
    headers = {
        "X-Apify-Pagination-Total": str(total),
        "X-Apify-Pagination-Offset": str(offset),
        "X-Apify-Pagination-Limit": str(limit if limit is not None else total),
        "X-Apify-Pagination-Count": str(len(page)),
        "X-Apify-Pagination-Desc": str(desc).lower(),
    }
    if fmt == "jsonl":
        body = "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in page)
        return Response(body, media_type="application/jsonl; charset=utf-8", headers=headers)
    return JSONResponse(page, headers=headers)


def routes(sb: Sandbox) -> list[BaseRoute]:
    return [
        Route("/v2/acts/{actor_id}", bind(sb, act_info)),
        Route("/v2/acts/{actor_id}/runs", bind(sb, act_run), methods=["POST"]),
        Route("/v2/acts/{actor_id}/run-sync-get-dataset-items", bind(sb, act_run_sync), methods=["POST"]),
        Route("/v2/actor-runs/{run_id}", bind(sb, run_get)),
        Route("/v2/actor-runs/{run_id}/abort", bind(sb, run_abort), methods=["POST"]),
        Route("/v2/actor-runs/{run_id}/dataset/items", bind(sb, run_items)),
        Route("/v2/datasets/{dataset_id}", bind(sb, dataset_info)),
        Route("/v2/datasets/{dataset_id}/items", bind(sb, dataset_items)),
        Route("/v2/{rest:path}", bind(sb, api_not_found), methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
