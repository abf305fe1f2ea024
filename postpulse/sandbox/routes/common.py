"""What the route modules share: request parsing with one clear error (:class:`BadRequest`),
JSON errors in the Apify shape, and :func:`bind`, which gives a handler the app's
:class:`~postpulse.sandbox.state.Sandbox` and turns the sandbox's errors into responses."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import apify as apify_mod
from ..faults import FaultError
from ..world import PLATFORMS, WorldError

if TYPE_CHECKING:
    from ..state import Sandbox

MAX_BODY = 1_000_000
API_PREFIXES = ("/api/", "/v2/", "/_admin", "/healthz")

Handler = Callable[[Request, "Sandbox"], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def json_error(
    message: str, status: int, kind: str | None = None, headers: dict | None = None
) -> JSONResponse:
    kind = kind or {
        400: "invalid-input",
        401: "token-not-valid",
        403: "permission-denied",
        404: "record-not-found",
        405: "method-not-allowed",
        413: "payload-too-large",
        429: "rate-limit-exceeded",
    }.get(status, "server-error" if status >= 500 else "error")
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def safe_next(value: Any, default: str) -> str:
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and len(value) < 2000
        and not any(ord(ch) < 32 for ch in value)
    ):
        return value
    return default


async def read_json(request: Request, required: bool = True) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest(f"the request body is {len(body)} bytes; the limit is {MAX_BODY}", 413)
    if not body.strip():
        if required:
            raise BadRequest("the request body is empty; send a JSON object")
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


async def read_form(request: Request) -> dict[str, str]:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise BadRequest(f"the form is {length} bytes; the limit is {MAX_BODY}", 413)
    ctype = request.headers.get("content-type", "")
    if not (ctype.startswith("application/x-www-form-urlencoded") or ctype.startswith("multipart/form-data")):
        raise BadRequest("this endpoint takes an HTML form (application/x-www-form-urlencoded)", 415)
    try:
        form = await request.form(max_files=0, max_fields=50)
    except Exception as exc:  # malformed multipart / encoding
        raise BadRequest(f"the form could not be read: {exc}") from None
    out: dict[str, str] = {}
    for k, v in form.multi_items():
        if not isinstance(v, str):
            raise BadRequest("file uploads are not accepted here")
        out.setdefault(k, v)
    return out


def int_param(request: Request, name: str, default: int | None, lo: int = 0, hi: int = 10**6) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, not {raw!r}") from None
    if not lo <= v <= hi:
        raise BadRequest(f"query parameter {name!r} must be between {lo} and {hi}, got {v}")
    return v


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = (request.query_params.get(name) or "").lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise BadRequest(f"query parameter {name!r} must be true/false or 1/0, not {raw!r}")


def platform_of(request: Request) -> str:
    p = request.path_params.get("platform", "")
    if p not in PLATFORMS:
        raise WorldError(f"unknown platform {p!r}; the sandbox has {', '.join(PLATFORMS)}", 404)
    return p


def base_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def bind(sb: Sandbox, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint calling ``fn(request, sb)``; bad input, unknown records and bad fault
    settings become error pages (HTML) or JSON errors (API paths)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request, sb)
        except BadRequest as exc:
            return sb.error_page(request, exc.status, exc.message, request.path_params.get("platform"))
        except WorldError as exc:
            return sb.error_page(request, exc.status, exc.message, request.path_params.get("platform"))
        except apify_mod.InputError as exc:
            return json_error(str(exc), 400)
        except FaultError as exc:
            return json_error(str(exc), 400)

    endpoint.__name__ = fn.__name__
    return endpoint


async def api_not_found(request: Request, sb: Sandbox) -> Response:
    hint = " (actor ids are written username~actor-name)" if request.url.path.startswith("/v2/acts/") else ""
    return json_error(f"there is no {request.method} endpoint at {request.url.path}{hint}", 404)
