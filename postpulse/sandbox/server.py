"""Run the sandbox app with uvicorn in a background thread.

    with SandboxServer(seed=7) as server:
        httpx.get(server.base_url + "/api/x/posts?profile=demo_x")
        server.clock.advance(timedelta(hours=6))
        server.faults.set("rate_limit", count=2)

``port=0`` picks a free port. The server can be started and stopped many times in one process.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import uvicorn

from postpulse import host_guard

from .app import DEFAULT_SESSION_TTL, create_app
from .clock import SandboxClock
from .faults import Faults
from .world import World, build_world


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # never touch signals from a background thread
        pass


class SandboxServer:
    """The sandbox on ``host:port`` (default ``127.0.0.1``, a free port) in a background thread.

    ``world`` defaults to ``build_world(seed)``; the clock starts at ``world.now`` and runs at
    ``time_scale`` sandbox seconds per real second. ``apify_token`` defaults to
    ``$SANDBOX_APIFY_TOKEN`` or ``"sandbox-token"``. It answers only the Host names in
    ``allowed_hosts`` (default: ``postpulse.host_guard.allowed_hosts(host)``), any other gets 400.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 7,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        apify_token: str | None = None,
        session_ttl: timedelta | float = DEFAULT_SESSION_TTL,
        admin_token: str | None = None,
        apify_polls_to_finish: int = 2,
        apify_seconds_to_finish: float | None = None,
        log_level: str = "warning",
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        self.world = world if world is not None else build_world(seed=seed)
        self.clock = SandboxClock(self.world.now, time_scale=time_scale)
        self.faults = Faults()
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.apify_token = apify_token or os.environ.get("SANDBOX_APIFY_TOKEN") or "sandbox-token"
        self.app = create_app(
            self.world,
            self.clock,
            self.faults,
            apify_token=self.apify_token,
            session_ttl=session_ttl,
            admin_token=admin_token,
            apify_polls_to_finish=apify_polls_to_finish,
            apify_seconds_to_finish=apify_seconds_to_finish,
        )
        self.log_level = log_level
        self.allowed_hosts = allowed_hosts
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError(
                "the sandbox server is not running; call start() or use it as a context manager"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def sandbox(self) -> Any:
        """The app's shared state (sessions, Apify runs...)."""
        return self.app.state.sandbox

    def start(self, timeout: float = 10.0) -> SandboxServer:
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"the sandbox cannot listen on {self.host}:{self._requested_port}: {exc}; "
                f"pick another --port (0 picks a free one)"
            ) from exc
        sock.listen(128)
        sock.set_inheritable(True)
        self._sock = sock
        self.port = sock.getsockname()[1]
        # only its own host names, never a rebound foreign one (postpulse.host_guard)
        hosts = self.allowed_hosts if self.allowed_hosts is not None else host_guard.allowed_hosts(self.host)
        config = uvicorn.Config(
            host_guard.guarded(self.app, hosts),
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread stopped during startup (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox server did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        self.port = None

    def serve_forever(self) -> None:
        """Start and block until Ctrl-C."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.port else "stopped"
        return f"SandboxServer({where}, seed={self.world.seed})"
