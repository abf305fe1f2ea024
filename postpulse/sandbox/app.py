"""The sandbox web application (Starlette): the site, the JSON endpoints, the Apify-style API and
the admin endpoints tests use. Build it with :func:`create_app`; run it with
:class:`postpulse.sandbox.server.SandboxServer`.

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
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import apify as apify_mod
from .clock import SandboxClock
from .faults import FaultError, Faults
from .formats import flatten_item, item_for, post_path, profile_path, tiktok_comment_item
from .html import STATIC, avatar_svg, changed_markup, env, media_svg, reltime_factory, rich_text
from .official import mount_official
from .world import (
    COMMENT_METRIC,
    LIKE_METRIC,
    PLATFORM_NAMES,
    PLATFORMS,
    USERNAME_RE,
    World,
    WorldError,
    password_for,
)

DEFAULT_APIFY_TOKEN = "sandbox-token"
DEFAULT_SESSION_TTL = timedelta(days=7)
MAX_BODY = 1_000_000
API_PREFIXES = ("/api/", "/v2/", "/_admin", "/healthz")


# ------------------------------------------------------------------------------------ sessions


@dataclass
class Session:
    token: str
    platform: str
    username: str
    created_at: datetime
    expires_at: datetime
    csrf: str
    serial: int
    flash: list[str] = field(default_factory=list)


class Sessions:
    def __init__(self, faults: Faults) -> None:
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.faults = faults

    def create(self, platform: str, username: str, now: datetime, ttl: timedelta) -> Session:
        s = Session(
            secrets.token_urlsafe(32),
            platform,
            username,
            now,
            now + ttl,
            secrets.token_urlsafe(24),
            self.faults.next_serial(),
        )
        with self._lock:
            self._by_token[s.token] = s
        return s

    def get(self, token: str | None, platform: str, now: datetime) -> tuple[Session | None, bool]:
        """(session, expired): the valid session for ``token``, or None (expired=True if it was one)."""
        if not token:
            return None, False
        with self._lock:
            s = self._by_token.get(token)
            if s is None or s.platform != platform:
                return None, False
            if now >= s.expires_at or (
                self.faults.is_on("expired_sessions") and s.serial < self.faults.expired_before
            ):
                del self._by_token[token]
                return None, True
            return s, False

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)

    def count(self) -> int:
        with self._lock:
            return len(self._by_token)


def cookie_name(platform: str) -> str:
    return f"sandbox_session_{platform}"


# ------------------------------------------------------------------------------------ helpers


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _is_api(path: str) -> bool:
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


def _safe_next(value: Any, default: str) -> str:
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


def _int_param(request: Request, name: str, default: int | None, lo: int = 0, hi: int = 10**6) -> int | None:
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


def _bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = (request.query_params.get(name) or "").lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise BadRequest(f"query parameter {name!r} must be true/false or 1/0, not {raw!r}")


# ------------------------------------------------------------------------------------ the app


class Sandbox:
    """Everything one app instance shares: world, clock, faults, sessions, Apify state."""

    def __init__(
        self,
        world: World,
        clock: SandboxClock,
        faults: Faults,
        *,
        apify_token: str,
        session_ttl: timedelta,
        admin_token: str | None,
        polls_to_finish: int,
        seconds_to_finish: float | None,
    ) -> None:
        self.world = world
        self.clock = clock
        self.faults = faults
        self.apify_token = apify_token
        self.session_ttl = session_ttl
        self.admin_token = admin_token
        self.sessions = Sessions(faults)
        self.apify = apify_mod.ApifyState(world, polls_to_finish, seconds_to_finish)

    # ------------------------------------------------------------------ rendering
    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        platform = ctx.get("platform")
        now = self.clock.now()
        session: Session | None = ctx.pop("session", None)
        me = self.world.profiles[platform].get(session.username) if (platform and session) else None
        notices = list(session.flash) if session else []
        if session:
            session.flash.clear()
        base_ctx = {
            "platform": platform,
            "platform_name": PLATFORM_NAMES.get(platform or "", None),
            "me": me,
            "csrf": session.csrf if session else "",
            "notices": notices + ctx.pop("extra_notices", []),
            "now": now,
            "reltime": reltime_factory(now),
            "rich": rich_text,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "like_metric": LIKE_METRIC.get(platform or "", "likes"),
            "comment_metric": COMMENT_METRIC.get(platform or "", "comments"),
            "title": ctx.get("title", "postpulse sandbox"),
        }
        base_ctx.update(ctx)
        html = env().get_template(template).render(**base_ctx)
        if self.faults.is_on("changed_markup"):
            html = changed_markup(html)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def error_page(
        self,
        request: Request,
        status: int,
        message: str,
        platform: str | None = None,
        session: Session | None = None,
    ) -> Response:
        if _is_api(request.url.path):
            return json_error(message, status)
        heading = {
            400: "That did not work",
            401: "Log in first",
            403: "Not allowed",
            404: "Page not found",
            405: "Not allowed",
            413: "Too large",
            415: "Unsupported form",
            429: "Too many requests",
        }.get(status, "Something went wrong")
        back = f"/{platform}/" if platform in PLATFORMS else "/"
        return self.page(
            request,
            "error.html",
            status=status,
            platform=platform if platform in PLATFORMS else None,
            session=session,
            heading=heading,
            message=message,
            back=back,
            title=heading,
        )

    # ------------------------------------------------------------------ sessions
    def session_for(self, request: Request, platform: str) -> tuple[Session | None, bool]:
        return self.sessions.get(request.cookies.get(cookie_name(platform)), platform, self.clock.now())

    def login_redirect(self, request: Request, platform: str, expired: bool) -> RedirectResponse:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            nxt = f"/{platform}/"
        params = {"next": nxt}
        if expired:
            params["expired"] = "1"
        resp = RedirectResponse(f"/{platform}/login?{urlencode(params)}", status_code=303)
        if expired:
            resp.delete_cookie(cookie_name(platform), path="/")
        return resp


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

    def handler(fn):
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except BadRequest as exc:
                return sb.error_page(request, exc.status, exc.message, request.path_params.get("platform"))
            except WorldError as exc:
                return sb.error_page(request, exc.status, exc.message, request.path_params.get("platform"))
            except apify_mod.InputError as exc:
                return json_error(str(exc), 400)
            except FaultError as exc:
                return json_error(str(exc), 400)

        wrapped.__name__ = fn.__name__
        return wrapped

    def platform_of(request: Request) -> str:
        p = request.path_params.get("platform", "")
        if p not in PLATFORMS:
            raise WorldError(f"unknown platform {p!r}; the sandbox has {', '.join(PLATFORMS)}", 404)
        return p

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # ------------------------------------------------------------------ general
    async def index(request: Request) -> Response:
        return sb.page(
            request,
            "index.html",
            platforms=[(p, PLATFORM_NAMES[p]) for p in PLATFORMS],
            title="postpulse sandbox",
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "now": sb.clock.now().isoformat()})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def media(request: Request) -> Response:
        platform = platform_of(request)
        name = request.path_params["name"]
        stem, _, ext = name.rpartition(".")
        if ext in ("mp4", "mp3"):
            return json_error(
                "the sandbox serves no video or audio bytes; use the poster image "
                f"/media/{platform}/{stem}.svg",
                404,
            )
        if ext != "svg" or not stem or len(stem) > 120:
            return json_error(f"no media named {name!r}", 404)
        if stem.startswith("avatar-"):
            user = stem[len("avatar-") :]
            prof = sb.world.profiles[platform].get(user)
            initials = (prof.first_name[:1] + prof.last_name[:1]) if prof else "?"
            body = avatar_svg(user, initials)
        elif stem.startswith("cover-"):
            body = media_svg(stem, "", 1500, 500)
        else:
            body = media_svg(stem, f"{PLATFORM_NAMES[platform]} sandbox media {stem[:8]}")
        return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})

    # ------------------------------------------------------------------ JSON
    async def api_platforms(request: Request) -> Response:
        return JSONResponse({"platforms": list(PLATFORMS), "actors": apify_mod.ACTORS})

    async def api_posts(request: Request) -> Response:
        platform = platform_of(request)
        limit = _int_param(request, "limit", None, 0, 10000)
        offset = _int_param(request, "offset", 0, 0, 10**6)
        profile = request.query_params.get("profile")
        now = sb.clock.now()
        author = None
        if profile is not None:
            author = sb.world.profile(platform, profile).username
        posts = sb.world.visible_posts(platform, now, author)
        posts = posts[offset:] if limit is None else posts[offset : offset + limit]
        base = base_of(request)
        return JSONResponse([item_for(sb.world, p, now, base) for p in posts])

    async def api_post(request: Request) -> Response:
        platform = platform_of(request)
        now = sb.clock.now()
        post = sb.world.post(platform, request.path_params["post_id"], now)
        return JSONResponse(item_for(sb.world, post, now, base_of(request)))

    async def api_comments(request: Request) -> Response:
        platform = platform_of(request)
        ident = request.query_params.get("post")
        if not ident:
            raise BadRequest("give the post: /api/<platform>/comments?post=<post_id>")
        now = sb.clock.now()
        post = sb.world.post(platform, ident, now)
        base = base_of(request)
        if platform == "tiktok":
            return JSONResponse(
                [
                    tiktok_comment_item(sb.world, c, post, base)
                    for c in sb.world.comments_for(platform, post.post_id, now)
                ]
            )
        return JSONResponse(
            [
                {
                    "id": c.comment_id,
                    "post_id": c.post_id,
                    "parent_id": c.parent_id,
                    "author": c.author,
                    "text": c.text,
                    "likes": c.likes,
                    "created_at": c.created_at.isoformat(),
                }
                for c in sb.world.comments_for(platform, post.post_id, now)
            ]
        )

    async def api_profile(request: Request) -> Response:
        platform = platform_of(request)
        prof = sb.world.profile(platform, request.path_params["username"])
        now = sb.clock.now()
        return JSONResponse(
            {
                "platform": platform,
                "username": prof.username,
                "user_id": prof.user_id,
                "display_name": prof.display_name,
                "headline": prof.headline,
                "bio": prof.bio,
                "followers": sb.world.follower_count(prof),
                "following": sb.world.following_count(prof),
                "posts": len(sb.world.visible_posts(platform, now, prof.username)),
                "url": base_of(request) + profile_path(prof),
                "is_ours": prof.is_ours,
            }
        )

    # ------------------------------------------------------------------ Apify
    def check_token(request: Request) -> Response | None:
        tok = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        if not tok and auth.lower().startswith("bearer "):
            tok = auth[7:].strip()
        if not tok:
            return json_error(
                "Authentication token was not provided: pass ?token=... or an "
                "'Authorization: Bearer ...' header",
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

    async def act_info(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
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

    async def start_actor_run(request: Request):
        """The run an actor-run request starts, or the error response that refuses it."""
        if (bad := check_token(request)) is not None:
            return bad
        actor_id = apify_mod.normalize_actor_id(request.path_params["actor_id"])
        if actor_id not in apify_mod.ACTORS:
            return unknown_actor(actor_id)
        run_input = await read_json(request, required=False)
        return sb.apify.start(actor_id, run_input, sb.clock.now())

    async def act_run(request: Request) -> Response:
        run = await start_actor_run(request)
        if isinstance(run, Response):
            return run
        wait = _int_param(request, "waitForFinish", 0, 0, 60)
        if wait:
            sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=True)
        return JSONResponse(
            {"data": run.info()},
            status_code=201,
            headers={"Location": f"{base_of(request)}/v2/actor-runs/{run.id}"},
        )

    async def act_run_sync(request: Request) -> Response:
        run = await start_actor_run(request)
        if isinstance(run, Response):
            return run
        sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=True)
        if run.status != "SUCCEEDED":
            return json_error(f"Actor run {run.id} finished with status {run.status}", 400, "run-failed")
        return dataset_response(request, sb.apify.datasets[run.dataset_id])

    def get_run(request: Request):
        run = sb.apify.runs.get(request.path_params["run_id"])
        if run is None:
            raise BadRequest(f"Actor run {request.path_params['run_id']!r} was not found", 404)
        return run

    async def run_get(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
            return bad
        run = get_run(request)
        wait = _int_param(request, "waitForFinish", 0, 0, 60)
        sb.apify.poll(run, sb.clock.now(), base_of(request), sb.faults, wait=bool(wait))
        return JSONResponse({"data": run.info()})

    async def run_abort(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
            return bad
        run = sb.apify.abort(get_run(request), sb.clock.now())
        return JSONResponse({"data": run.info()})

    async def run_items(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
            return bad
        run = get_run(request)
        return dataset_response(request, sb.apify.datasets[run.dataset_id])

    def get_dataset(request: Request) -> apify_mod.Dataset:
        ds = sb.apify.datasets.get(request.path_params["dataset_id"])
        if ds is None:
            raise BadRequest(f"Dataset {request.path_params['dataset_id']!r} was not found", 404)
        return ds

    async def dataset_info(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
            return bad
        return JSONResponse({"data": get_dataset(request).info()})

    async def dataset_items(request: Request) -> Response:
        if (bad := check_token(request)) is not None:
            return bad
        return dataset_response(request, get_dataset(request))

    def dataset_response(request: Request, ds: apify_mod.Dataset) -> Response:
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", None, 0, 250000)
        fmt = (request.query_params.get("format") or "json").lower()
        if fmt not in ("json", "jsonl"):
            raise BadRequest(f"format {fmt!r} is not supported by the sandbox; use json or jsonl")
        _bool_param(request, "clean")
        _bool_param(request, "skipEmpty")
        desc = _bool_param(request, "desc")
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

    # ------------------------------------------------------------------ admin
    def check_admin(request: Request) -> Response | None:
        if sb.admin_token and not secrets.compare_digest(
            (request.headers.get("x-sandbox-admin") or "").encode(), sb.admin_token.encode()
        ):
            return json_error("admin endpoints need the header X-Sandbox-Admin with the admin token", 403)
        return None

    async def admin_faults(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
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
                raise BadRequest(
                    'the fault needs a "kind", e.g. {"kind": "rate_limit", "params": {"count": 2}}'
                )
            params = body.get("params")
            if params is None:
                params = {k: v for k, v in body.items() if k != "kind"}
            if not isinstance(params, dict):
                raise BadRequest('"params" must be a JSON object')
            sb.faults.set(kind, **params)
        return JSONResponse({"faults": sb.faults.active()})

    async def admin_fault_clear(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
            return bad
        sb.faults.clear(request.path_params["kind"])
        return JSONResponse({"faults": sb.faults.active()})

    async def admin_clock(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
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

    async def admin_dm(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
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

    async def admin_state(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
            return bad
        state = sb.world.state()
        state["now"] = sb.clock.now().isoformat()
        state["faults"] = sb.faults.active()
        state["sessions"] = sb.sessions.count()
        return JSONResponse(state)

    async def admin_post(request: Request) -> Response:
        if (bad := check_admin(request)) is not None:
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

    # ------------------------------------------------------------------ site: auth
    async def login(request: Request) -> Response:
        platform = platform_of(request)
        nxt = _safe_next(request.query_params.get("next"), f"/{platform}/")
        if request.method == "GET":
            session, _ = sb.session_for(request, platform)
            if session is not None:
                return RedirectResponse(nxt, status_code=303)
            return sb.page(
                request,
                "login.html",
                platform=platform,
                next=nxt,
                username="",
                error=None,
                expired=request.query_params.get("expired") == "1",
                title="Log in",
            )
        form = await read_form(request)
        nxt = _safe_next(form.get("next"), f"/{platform}/")
        username = (form.get("username") or "").strip().lower().lstrip("@")
        password = form.get("password") or ""
        prof = sb.world.profiles[platform].get(username) if USERNAME_RE.match(username or "-") else None
        if prof is None or not secrets.compare_digest(
            password.encode(), password_for(prof.username).encode()
        ):
            return sb.page(
                request,
                "login.html",
                status=401,
                platform=platform,
                next=nxt,
                username=form.get("username", "")[:100],
                expired=False,
                title="Log in",
                error="Wrong username or password.",
            )
        old = request.cookies.get(cookie_name(platform))
        sb.sessions.drop(old)
        session = sb.sessions.create(platform, prof.username, sb.clock.now(), sb.session_ttl)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(cookie_name(platform), session.token, httponly=True, samesite="lax", path="/")
        return resp

    async def logout(request: Request) -> Response:
        platform = platform_of(request)
        session, _ = sb.session_for(request, platform)
        if session is not None:
            form = await read_form(request)
            if not secrets.compare_digest((form.get("csrf_token") or "").encode(), session.csrf.encode()):
                raise BadRequest("the form token is missing or wrong; reload the page and try again", 403)
            sb.sessions.drop(session.token)
        resp = RedirectResponse(f"/{platform}/login", status_code=303)
        resp.delete_cookie(cookie_name(platform), path="/")
        return resp

    def require(request: Request, platform: str) -> tuple[Session | None, Response | None]:
        session, expired = sb.session_for(request, platform)
        if session is None:
            return None, sb.login_redirect(request, platform, expired)
        return session, None

    async def require_form(
        request: Request, platform: str
    ) -> tuple[Session | None, dict[str, str], Response | None]:
        session, redirect = require(request, platform)
        if redirect is not None:
            return None, {}, redirect
        form = await read_form(request)
        if not secrets.compare_digest((form.get("csrf_token") or "").encode(), session.csrf.encode()):
            raise BadRequest("the form token is missing or wrong; reload the page and try again", 403)
        return session, form, None

    def cards(posts, username: str, now: datetime):
        return [
            (
                p,
                sb.world.profiles[p.platform][p.author],
                sb.world.metrics(p, now),
                sb.world.has_liked(p.platform, username, p.post_id),
            )
            for p in posts
        ]

    # ------------------------------------------------------------------ site: pages
    async def feed(request: Request) -> Response:
        platform = platform_of(request)
        session, redirect = require(request, platform)
        if redirect is not None:
            return redirect
        now = sb.clock.now()
        page = _int_param(request, "page", 1, 1, 10000)
        tag = (request.query_params.get("tag") or "").strip().lstrip("#")[:100]
        posts = sb.world.visible_posts(platform, now)
        if tag:
            posts = [p for p in posts if tag.lower() in (h.lower() for h in p.hashtags)]
        per = 20
        chunk = posts[(page - 1) * per : page * per]
        return sb.page(
            request,
            "feed.html",
            session=session,
            platform=platform,
            tag=tag,
            page=page,
            more=len(posts) > page * per,
            items=cards(chunk, session.username, now),
            title=f"#{tag}" if tag else "Feed",
        )

    async def profile_page(request: Request, platform: str, username: str, session: Session) -> Response:
        prof = sb.world.profile(platform, username)
        now = sb.clock.now()
        posts = sb.world.visible_posts(platform, now, prof.username)
        return sb.page(
            request,
            "profile.html",
            session=session,
            platform=platform,
            profile=prof,
            n_posts=len(posts),
            followers=sb.world.follower_count(prof),
            following=sb.world.following_count(prof),
            is_following=sb.world.is_following(platform, session.username, prof.username),
            items=cards(posts[:30], session.username, now),
            title=f"{prof.display_name} (@{prof.username})",
        )

    async def post_page(request: Request, platform: str, ident: str, session: Session) -> Response:
        now = sb.clock.now()
        post = sb.world.post(platform, ident, now)
        comments = sb.world.comments_for(platform, post.post_id, now)
        top = [c for c in comments if c.parent_id is None]
        replies: dict[str, list] = {}
        for c in comments:
            if c.parent_id:
                replies.setdefault(c.parent_id, []).append(c)
        author = sb.world.profiles[platform][post.author]

        def author_path(username: str) -> str:
            prof = sb.world.profiles[platform].get(username)
            return profile_path(prof) if prof else f"/{platform}/"

        return sb.page(
            request,
            "post.html",
            session=session,
            platform=platform,
            post=post,
            author=author,
            m=sb.world.metrics(post, now),
            liked=sb.world.has_liked(platform, session.username, post.post_id),
            top=top,
            replies=replies,
            author_path=author_path,
            title=f"{author.display_name}: {post.text[:40]}",
        )

    def resolve(platform: str, parts: list[str]) -> tuple[str, str] | None:
        """Map a site path (after ``/{platform}/``) to ("profile", username) or ("post", id)."""
        if not parts:
            return None
        if parts[0] == "post" and len(parts) == 2:
            return ("post", parts[1])
        if platform == "linkedin":
            if parts[0] == "in" and len(parts) == 2:
                return ("profile", parts[1])
            if parts[0] == "posts" and len(parts) == 2:
                import re

                m = re.search(r"activity-(\d+)-", parts[1])
                return ("post", m.group(1)) if m else None
            if parts[0] == "feed" and len(parts) == 3 and parts[1] == "update":
                return ("post", parts[2])
            return None
        if platform == "instagram":
            if parts[0] in ("p", "reel") and len(parts) == 2:
                return ("post", parts[1])
            return ("profile", parts[0]) if len(parts) == 1 else None
        if platform in ("tiktok", "threads"):
            if not parts[0].startswith("@"):
                return None
            if len(parts) == 1:
                return ("profile", parts[0][1:])
            if len(parts) == 3 and parts[1] in ("video", "post"):
                return ("post", parts[2])
            return None
        if platform == "x":
            if len(parts) == 1:
                return ("profile", parts[0].lstrip("@"))
            if len(parts) == 3 and parts[1] == "status":
                return ("post", parts[2])
        if len(parts) == 1 and parts[0].startswith("@"):
            return ("profile", parts[0][1:])
        return None

    async def site_path(request: Request) -> Response:
        platform = platform_of(request)
        parts = [p for p in request.path_params["rest"].split("/") if p]
        if len(parts) == 1 and parts[0].startswith("@") and platform not in ("tiktok", "threads"):
            target = ("profile", parts[0][1:])  # mention links
        else:
            target = resolve(platform, parts)
        if target is None:
            raise WorldError(f"there is no page at {request.url.path}", 404)
        session, redirect = require(request, platform)
        if redirect is not None:
            return redirect
        kind, value = target
        if kind == "profile":
            return await profile_page(request, platform, value, session)
        return await post_page(request, platform, value, session)

    # ------------------------------------------------------------------ site: actions
    def blocked(session: Session, request: Request, action: str) -> bool:
        if sb.faults.take("action_blocked", request.url.path, action=action) is not None:
            session.flash.append("blocked")
            return True
        return False

    async def action(request: Request) -> Response:
        platform = platform_of(request)
        verb = request.path_params["verb"]
        if verb not in ("like", "unlike", "comment", "reply", "delete_comment", "follow", "unfollow"):
            raise WorldError(f"unknown action {verb!r}", 404)
        session, form, redirect = await require_form(request, platform)
        if redirect is not None:
            return redirect
        me = session.username  # the acting account is always the session's; form fields cannot change it
        now = sb.clock.now()
        default_next = f"/{platform}/"
        if verb in ("like", "unlike", "comment", "reply"):
            pid = form.get("post_id")
            if not pid:
                raise BadRequest("the form has no post_id")
            post = sb.world.post(platform, pid, now)
            default_next = post_path(post)
        nxt = _safe_next(form.get("next"), default_next)
        if blocked(session, request, verb):
            return RedirectResponse(nxt, status_code=303)
        if verb == "like":
            sb.world.like(platform, me, form["post_id"], now)
        elif verb == "unlike":
            sb.world.unlike(platform, me, form["post_id"], now)
        elif verb == "comment":
            sb.world.add_comment(platform, me, form["post_id"], form.get("text"), now)
        elif verb == "reply":
            parent = form.get("parent_id")
            if not parent:
                raise BadRequest("a reply needs the parent_id of the comment it answers")
            sb.world.add_comment(platform, me, form["post_id"], form.get("text"), now, parent_id=parent)
        elif verb == "delete_comment":
            cid = form.get("comment_id")
            if not cid:
                raise BadRequest("the form has no comment_id")
            sb.world.delete_comment(platform, me, cid, now)
        elif verb in ("follow", "unfollow"):
            target = form.get("target")
            if not target:
                raise BadRequest("the form has no target username")
            if verb == "follow":
                sb.world.follow(platform, me, target, now)
            else:
                sb.world.unfollow(platform, me, target, now)
        return RedirectResponse(nxt, status_code=303)

    async def messages(request: Request) -> Response:
        platform = platform_of(request)
        session, redirect = require(request, platform)
        if redirect is not None:
            return redirect
        rows = []
        for t in sb.world.threads_of(platform, session.username):
            other = sb.world.profiles[platform].get(t.other(session.username))
            if other is not None:
                rows.append((t, other, t.messages[-1] if t.messages else None))
        return sb.page(
            request,
            "messages.html",
            session=session,
            platform=platform,
            threads=rows,
            to=(request.query_params.get("to") or "")[:100],
            title="Messages",
        )

    async def message_new(request: Request) -> Response:
        platform = platform_of(request)
        if request.method == "GET":
            return await messages(request)
        session, form, redirect = await require_form(request, platform)
        if redirect is not None:
            return redirect
        to = (form.get("to") or "").strip().lstrip("@").lower()
        if not to:
            raise BadRequest("say who the message is for (the To field)")
        if blocked(session, request, "dm"):
            return RedirectResponse(f"/{platform}/messages/", status_code=303)
        thread, _ = sb.world.send_dm(platform, session.username, to, form.get("text"), sb.clock.now())
        return RedirectResponse(f"/{platform}/messages/{thread.thread_id}", status_code=303)

    async def message_thread(request: Request) -> Response:
        platform = platform_of(request)
        tid = request.path_params["thread_id"]
        if request.method == "GET":
            session, redirect = require(request, platform)
            if redirect is not None:
                return redirect
            thread = sb.world.thread(platform, tid, session.username)
            other = sb.world.profiles[platform][thread.other(session.username)]
            return sb.page(
                request,
                "thread.html",
                session=session,
                platform=platform,
                thread=thread,
                other=other,
                title=f"Messages with {other.display_name}",
            )
        session, form, redirect = await require_form(request, platform)
        if redirect is not None:
            return redirect
        sb.world.thread(platform, tid, session.username)
        if not blocked(session, request, "dm"):
            sb.world.send_dm_in_thread(platform, session.username, tid, form.get("text"), sb.clock.now())
        return RedirectResponse(f"/{platform}/messages/{tid}", status_code=303)

    async def compose(request: Request) -> Response:
        platform = platform_of(request)
        if request.method == "GET":
            session, redirect = require(request, platform)
            if redirect is not None:
                return redirect
            return sb.page(request, "compose.html", session=session, platform=platform, title="New post")
        session, form, redirect = await require_form(request, platform)
        if redirect is not None:
            return redirect
        if blocked(session, request, "publish"):
            return RedirectResponse(f"/{platform}/compose", status_code=303)
        post = sb.world.publish(
            platform,
            session.username,
            form.get("text"),
            sb.clock.now(),
            media_kind=form.get("media") or None,
            client_ref=form.get("client_ref") or None,
        )
        return RedirectResponse(post_path(post), status_code=303)

    async def api_not_found(request: Request) -> Response:
        hint = (
            " (actor ids are written username~actor-name)" if request.url.path.startswith("/v2/acts/") else ""
        )
        return json_error(f"there is no {request.method} endpoint at {request.url.path}{hint}", 404)

    h = handler
    routes = [
        Route("/", h(index)),
        Route("/healthz", h(healthz)),
        Route("/favicon.ico", h(favicon)),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
        Route("/media/{platform}/{name}", h(media)),
        Route("/api/platforms", h(api_platforms)),
        Route("/api/{platform}/posts", h(api_posts)),
        Route("/api/{platform}/posts/{post_id:path}", h(api_post)),
        Route("/api/{platform}/comments", h(api_comments)),
        Route("/api/{platform}/profiles/{username}", h(api_profile)),
        Route("/v2/acts/{actor_id}", h(act_info)),
        Route("/v2/acts/{actor_id}/runs", h(act_run), methods=["POST"]),
        Route("/v2/acts/{actor_id}/run-sync-get-dataset-items", h(act_run_sync), methods=["POST"]),
        Route("/v2/actor-runs/{run_id}", h(run_get)),
        Route("/v2/actor-runs/{run_id}/abort", h(run_abort), methods=["POST"]),
        Route("/v2/actor-runs/{run_id}/dataset/items", h(run_items)),
        Route("/v2/datasets/{dataset_id}", h(dataset_info)),
        Route("/v2/datasets/{dataset_id}/items", h(dataset_items)),
        Route("/v2/{rest:path}", h(api_not_found), methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Route("/api/{rest:path}", h(api_not_found), methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Route("/_admin/faults", h(admin_faults), methods=["GET", "POST", "DELETE"]),
        Route("/_admin/faults/{kind}", h(admin_fault_clear), methods=["DELETE"]),
        Route("/_admin/clock", h(admin_clock), methods=["GET", "POST"]),
        Route("/_admin/dm", h(admin_dm), methods=["POST"]),
        Route("/_admin/state", h(admin_state)),
        Route("/_admin/posts/{platform}/{post_id:path}/{op}", h(admin_post), methods=["POST"]),
        Route("/{platform}/login", h(login), methods=["GET", "POST"]),
        Route("/{platform}/logout", h(logout), methods=["POST"]),
        Route("/{platform}/action/{verb}", h(action), methods=["POST"]),
        Route("/{platform}/messages/", h(messages)),
        Route("/{platform}/messages", h(messages)),
        Route("/{platform}/messages/new", h(message_new), methods=["GET", "POST"]),
        Route("/{platform}/messages/{thread_id}", h(message_thread), methods=["GET", "POST"]),
        Route("/{platform}/compose", h(compose), methods=["GET", "POST"]),
        Route("/{platform}/", h(feed)),
        Route("/{platform}", h(feed)),
        Route("/{platform}/{rest:path}", h(site_path)),
    ]

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

    routes[:0] = mount_official(sb, now=world.now)  # the official API emulations (sandbox/official/)
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_exc, Exception: server_exc})
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
                if _is_api(path)
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
                    if _is_api(path)
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
_ = (quote, timezone)
