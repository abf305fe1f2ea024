"""The web layer's shared parts: the logged-in user, CSRF checks, role checks, rendering.

Every endpoint is declared with ``@endpoint(permission)``: a request without a valid session
was already sent to the login page by ``SessionUserMiddleware``; a POST without the session's
CSRF token is refused (403); a user without ``permission`` gets 403, and a refused POST is
audited. Handlers are plain functions run in a worker thread (they talk to the store).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from postpulse.console import users
from postpulse.engagement import audit

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
#: paths reachable without a session
PUBLIC_PATHS = ("/login", "/static/", "/healthz")
#: paths a user with a one-time password may reach before choosing a new one
PASSWORD_PATHS = ("/password", "/logout")
#: a bulk decision posts up to 1,000 ids (Starlette's default limit is 1,000 fields)
MAX_FORM_FIELDS = 1100


class Forbidden(Exception):
    """Raised inside a handler: the user may not do this (403, audited for POSTs)."""

    def __init__(self, permission: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(permission)
        self.permission = permission
        self.detail = detail or {}


class NotFound(Exception):
    """Raised inside a handler: no such object in the user's workspaces (404)."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, form: FormData) -> bool:
    expected = request.session.get("csrf")
    given = form.get("csrf")
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def current_user(request: Request) -> users.User:
    return request.state.user


def actor(request: Request) -> str:
    """The logged-in user as the audit trail and the histories name them."""
    return f"console:{current_user(request).username}"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    user = getattr(request.state, "user", None)
    flash = request.session.pop("flash", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": csrf_token(request),
            "flash": flash,
            "dagster_url": request.app.state.settings.dagster_url,
            **context,
        },
        status_code=status_code,
    )


def flash(request: Request, message: str) -> None:
    """A one-line message for the next page (never secret text: ids, counts and outcomes)."""
    request.session["flash"] = message[:300]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def audit_refusal(request: Request, permission: str, detail: dict[str, Any]) -> None:
    user = current_user(request)
    with request.app.state.engine.begin() as conn:
        audit.record(
            conn,
            run_id="console",
            step_id="denied",
            event_type="approval",
            outcome="failure",
            action_id=detail.get("action_id"),
            details={
                "by": user.username,
                "user_id": user.id,
                "denied": permission,
                "roles": user.role_label(),
                "path": request.url.path,
                **{k: v for k, v in detail.items() if k != "action_id"},
            },
        )


def endpoint(permission: str | None = None) -> Callable:
    """Declare a page or action: CSRF for POSTs, the permission, then the handler
    ``handler(request, form)`` in a worker thread."""

    def wrap(handler: Callable[[Request, FormData | None], Response]) -> Callable:
        async def run(request: Request) -> Response:
            form = None
            if request.method == "POST":
                form = await request.form(max_fields=MAX_FORM_FIELDS)
                if not csrf_ok(request, form):
                    return PlainTextResponse(
                        "This form has expired or did not come from the console: reload the page and try "
                        "again.",
                        status_code=403,
                    )
            user = getattr(request.state, "user", None)
            try:
                if permission is not None and (user is None or not user.may(permission)):
                    raise Forbidden(permission)
                return await run_in_threadpool(handler, request, form)
            except Forbidden as exc:
                if request.method == "POST" and user is not None:
                    detail = {**request.path_params, **exc.detail}
                    await run_in_threadpool(audit_refusal, request, exc.permission, detail)
                return render(
                    request,
                    "error.html",
                    status_code=403,
                    title="Not allowed",
                    message="Your role does not allow this. Ask an admin if you need it.",
                )
            except NotFound:
                return render(
                    request,
                    "error.html",
                    status_code=404,
                    title="Not found",
                    message="There is nothing here.",
                )

        run.__name__ = handler.__name__
        return run

    return wrap


class SessionUserMiddleware:
    """Loads the session's user for every request (inside SessionMiddleware). No valid user:
    the login page. A session issued before the user's last password reset or disable (another
    session epoch) is dropped. A one-time password must be changed before anything else."""

    def __init__(self, app: ASGIApp, engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = request.url.path
        user = None
        uid, epoch = request.session.get("uid"), request.session.get("epoch")
        if isinstance(uid, str) and isinstance(epoch, int):
            user = await run_in_threadpool(self._load, uid, epoch)
            if user is None:
                request.session.pop("uid", None)
                request.session.pop("epoch", None)
        scope.setdefault("state", {})["user"] = user
        if user is None and not path.startswith(PUBLIC_PATHS):
            await RedirectResponse("/login", status_code=303)(scope, receive, send)
            return
        if (
            user is not None
            and user.must_change_password
            and not path.startswith(PASSWORD_PATHS + ("/static/",))
        ):
            await RedirectResponse("/password", status_code=303)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _load(self, uid: str, epoch: int) -> users.User | None:
        with self.engine.connect() as conn:
            return users.load_user(conn, uid, epoch)


class SecurityHeadersMiddleware:
    """Headers on every response: no framing, no sniffing, scripts and styles from the console
    only (the report page sets its own, stricter policy)."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]
    CSP = (
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def vault_of(request: Request):
    """The vault, loaded once per app (the key is kept, never any plain text)."""
    app = request.app
    cache = app.state.vault_cache
    if "vault" not in cache:
        try:
            cache["vault"] = app.state.settings.vault_loader()
        except Exception:  # noqa: BLE001 - a missing or unreadable key means no DM text, not a crash
            cache["vault"] = None
    return cache["vault"]


def page_offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return int(raw) if raw.isdigit() and int(raw) < 10_000_000 else 0
