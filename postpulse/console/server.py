"""Running the console: on its own (``postpulse console``) or as a child of ``postpulse up``."""

from __future__ import annotations

import os
import threading

import uvicorn
from sqlalchemy.engine import Engine

from postpulse.console import users
from postpulse.console.app import DEFAULT_DAGSTER_URL, ConsoleSettings, create_app, load_secret_key

DAGSTER_URL_ENV = "POSTPULSE_DAGSTER_URL"
ALLOWED_HOSTS_ENV = "POSTPULSE_CONSOLE_HOSTS"


def settings_from_env(host: str) -> ConsoleSettings:
    from postpulse.engagement.secrets import load_vault

    hosts = ["127.0.0.1", "localhost"]
    if host not in ("127.0.0.1", "0.0.0.0", "::"):
        hosts.append(host)
    hosts += [h.strip() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    return ConsoleSettings(
        secret_key=load_secret_key(),
        dagster_url=os.environ.get(DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL).rstrip("/"),
        allowed_hosts=hosts,
        vault_loader=lambda: load_vault(create=False),
    )


def first_admin_password(engine: Engine) -> str | None:
    """The one-time password of the first admin, created when no console user exists yet."""
    with engine.begin() as conn:
        return users.ensure_first_admin(conn)


def make_server(engine: Engine, settings: ConsoleSettings, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(engine, settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # URLs carry ids only, but a console log has no need of them
        server_header=False,
        timeout_graceful_shutdown=2,  # a browser's idle keep-alive connection does not hold a stop
    )
    return uvicorn.Server(config)


class BackgroundServer:
    """The console in a thread (tests, benchmarks): ``with BackgroundServer(...) as url:``."""

    def __init__(self, engine: Engine, settings: ConsoleSettings, port: int = 0) -> None:
        import socket

        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.server = make_server(engine, settings, "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BackgroundServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
