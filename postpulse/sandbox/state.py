"""What one sandbox app instance shares: the world, the clock, the faults, the site's login
sessions and the Apify-style runs (:class:`Sandbox`), and the page rendering every route uses."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from . import apify as apify_mod
from .clock import SandboxClock
from .faults import Faults
from .html import changed_markup, env, reltime_factory, rich_text
from .routes.common import is_api, json_error
from .world import COMMENT_METRIC, LIKE_METRIC, PLATFORM_NAMES, PLATFORMS, World

DEFAULT_APIFY_TOKEN = "sandbox-token"
DEFAULT_SESSION_TTL = timedelta(days=7)


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
        if is_api(request.url.path):
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
