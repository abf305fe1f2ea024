"""The console's Starlette application: middleware (allowed hosts, signed session cookie, the
logged-in user, security headers) and the routes of each page."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from postpulse import config
from postpulse.console.routes import accounts, approvals, auth, content, inbox, reports, team
from postpulse.console.web import SecurityHeadersMiddleware, SessionUserMiddleware
from postpulse.crypto import Vault

DEFAULT_PORT = 3001
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
SESSION_HOURS = 12


@dataclass
class ConsoleSettings:
    secret_key: str
    dagster_url: str = DEFAULT_DAGSTER_URL
    allowed_hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost"])
    #: the vault for DM text (None: DM text cannot be shown); called once, when first needed
    vault_loader: Callable[[], Vault | None] = lambda: None
    session_cookie: str = "postpulse_console"
    https_only: bool = False


def secret_key_file(data_dir: Path | None = None) -> Path:
    return (data_dir or config.data_dir()) / "console" / "session.key"


def load_secret_key(data_dir: Path | None = None) -> str:
    """The key that signs session cookies: a random secret kept in a 0600 file under the data
    directory (made on first use). It is never printed or logged."""
    path = secret_key_file(data_dir)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def healthz(request) -> PlainTextResponse:  # noqa: ARG001
    return PlainTextResponse("ok")


def create_app(engine: Engine, settings: ConsoleSettings) -> Starlette:
    routes = [
        Route("/healthz", healthz),
        *auth.routes,
        *approvals.routes,
        *inbox.routes,
        *accounts.routes,
        *reports.routes,
        *team.routes,
        *content.routes,
        Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts),
        Middleware(SecurityHeadersMiddleware),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie=settings.session_cookie,
            max_age=SESSION_HOURS * 3600,
            same_site="strict",
            https_only=settings.https_only,
        ),
        Middleware(SessionUserMiddleware, engine=engine),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.engine = engine
    app.state.settings = settings
    app.state.vault_cache = {}
    return app
