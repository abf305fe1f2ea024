"""``postpulse up``: the store, the sandbox and Dagster (web UI + daemon), started and stopped
together. Only one ``up`` may run per data directory (an OS file lock guards it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from filelock import FileLock, Timeout

from postpulse import config
from postpulse.errors import AlreadyRunning, PostpulseError
from postpulse.freshness import metrics_start_date
from postpulse.store import migrate
from postpulse.store.database import connect_store
from postpulse.store.embedded import ensure_writable, stop_embedded

DAGSTER_YAML = """\
# Written by `postpulse up`. Dagster keeps runs, events, schedules and sensor cursors in
# postpulse's PostgreSQL (schema `dagster`); the URL comes from the environment, never this file.
storage:
  postgres:
    postgres_url:
      env: POSTPULSE_DAGSTER_PG_URL
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 6
    tag_concurrency_limits:
      - key: postpulse/platform
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: postpulse/executor
        limit: 4
      # one run at a time per value: automation runs, and the runs of daily_metrics
      - key: postpulse/serial
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
nux:
  enabled: false   # no "join the community" prompt over the first page
"""


def write_dagster_yaml(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(DAGSTER_YAML)
    return path


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PostpulseError(
                f"{what} exited with code {proc.returncode} while starting", fix="see its output above"
            )
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise PostpulseError(f"{what} did not answer on {url} within {timeout:.0f}s")


def admin_token_file(data: Path) -> Path:
    return data / "sandbox-admin-token"


def write_admin_token(data: Path) -> str:
    """A fresh random admin token for the sandbox, written to a file only the user can read."""
    import secrets

    token = secrets.token_urlsafe(24)
    path = admin_token_file(data)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a child started in its own session, and everything it started: Dagster starts its
    code servers in sessions of their own, out of reach of the group signal, so the child's
    descendants are listed first and any left after the group stopped are stopped one by one."""
    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass
    _stop_leftovers(descendants)


def _stop_leftovers(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    alive = [p for p in procs if p.is_running()]  # is_running() also rules out a reused pid
    for p in alive:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, still = psutil.wait_procs(alive, timeout=timeout)
    for p in still:
        try:
            p.kill()
        except psutil.Error:
            pass


@dataclass
class Launcher:
    host: str = "127.0.0.1"
    port: int = 3000
    sandbox: bool = True
    sandbox_port: int = 8765
    bluesky: bool = False
    console_port: int | None = 3001  # the team console (None: not started)
    say: Callable[[str], None] = print
    children: list[subprocess.Popen] = field(default_factory=list)

    def _lock(self, data: Path) -> FileLock:
        lock = FileLock(str(data / "up.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            pid_file = data / "up.pid"
            pid = pid_file.read_text().strip() if pid_file.exists() else "?"
            raise AlreadyRunning(
                f"postpulse up is already running on data directory {data} (pid {pid})",
                fix="use the running one, stop it with Ctrl-C, or set POSTPULSE_HOME to another directory",
            ) from None
        (data / "up.pid").write_text(str(os.getpid()))
        return lock

    def _spawn(self, args: list[str], env: dict, name: str) -> subprocess.Popen:
        proc = subprocess.Popen(args, env=env, cwd=config.repo_root(), start_new_session=True)
        self.children.append(proc)
        self.say(f"started {name} (pid {proc.pid})")
        return proc

    def run(self, *, stop_event: Callable[[], bool] | None = None) -> None:
        data = config.data_dir()
        ensure_writable(data)
        lock = self._lock(data)
        store = None
        bluesky_demo = None
        try:
            store = connect_store(keep_running=True)
            self.say(f"store: {store.urls.display()} (PostgreSQL {store.server_version})")
            migrate.upgrade(store.urls.app)
            if self.sandbox:  # the demo's workspace, accounts, tag rules and follower history
                from postpulse.agency.demo import ensure_demo

                ensure_demo(store.engine, data)
            if self.console_port:
                self._first_console_admin(store.engine)
            home = config.dagster_home()
            write_dagster_yaml(home)
            env = {
                **os.environ,
                "DATABASE_URL": store.urls.app,
                "POSTPULSE_DAGSTER_PG_URL": store.urls.dagster,
                "DAGSTER_HOME": str(home),
                "POSTPULSE_HOME": str(data),
                "PYTHONUNBUFFERED": "1",
            }
            if not os.environ.get("POSTPULSE_METRICS_START_DATE", "").strip():
                env["POSTPULSE_METRICS_START_DATE"] = metrics_start_date(store.engine)
                self.say(f"daily metrics from {env['POSTPULSE_METRICS_START_DATE']} (the first data)")
            if self.sandbox:
                sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
                env["POSTPULSE_SANDBOX_URL"] = sandbox_url
                # its admin endpoints (clock, faults, state) need a token only this user can read
                admin_token = write_admin_token(data)
                proc = self._spawn(
                    [sys.executable, "-m", "postpulse.sandbox", "serve", "--port", str(self.sandbox_port)],
                    {**env, "SANDBOX_ADMIN_TOKEN": admin_token},
                    "sandbox platform",
                )
                wait_http(f"{sandbox_url}/healthz", 60, proc, "the sandbox platform")
                self.say(f"sandbox platform: {sandbox_url}  (admin token in {admin_token_file(data)})")
            bluesky_demo = self._start_bluesky(store, env) if self.bluesky else None
            # Dagster's web server checks no Host header: it listens on an internal port and is
            # served through the host guard (DNS rebinding, see postpulse.host_guard)
            internal_port = _free_port()
            dagster = self._spawn(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "dev",
                    "-w",
                    str(config.repo_root() / "workspace.yaml"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(internal_port),
                ],
                env,
                "Dagster (web UI + daemon)",
            )
            wait_http(f"http://127.0.0.1:{internal_port}/server_info", 180, dagster, "the Dagster web UI")
            guard = self._spawn(
                [
                    sys.executable,
                    "-m",
                    "postpulse.host_guard",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--upstream",
                    f"http://127.0.0.1:{internal_port}",
                ],
                env,
                "Dagster UI host guard",
            )
            ui = f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"
            wait_http(f"{ui}/server_info", 30, guard, "the Dagster web UI")
            if self.console_port:
                self._start_console(env, ui)
            self.say(f"READY: Dagster UI at {ui}  (Ctrl-C stops everything)")
            self._wait(stop_event)
        finally:
            for proc in reversed(self.children):
                _stop_group(proc)
            if bluesky_demo is not None:
                bluesky_demo.stop()
                bluesky_demo.stack.stop()
                self.say("local Bluesky stack stopped")
            if store is not None:
                store.dispose()
                if store.urls.embedded:
                    stop_embedded(data)
                    self.say("embedded PostgreSQL stopped")
            self._release(lock, data)

    @staticmethod
    def _release(lock: FileLock, data: Path) -> None:
        """Remove ``up.pid`` (it names a live ``up`` only while the lock is held), then unlock."""
        (data / "up.pid").unlink(missing_ok=True)
        lock.release()

    def _start_bluesky(self, store, env: dict):
        """The local AT Protocol stack with demo accounts and growing activity; Dagster's Bluesky
        collection and check-backs read its AppView."""
        from postpulse.bluesky.demo import start_demo
        from postpulse.engagement.secrets import load_vault

        demo = start_demo(store.engine, load_vault(create=True, engine=store.engine), say=self.say)
        env["POSTPULSE_BLUESKY_APPVIEW"] = demo.stack.urls.appview
        return demo

    def _first_console_admin(self, engine) -> None:
        from postpulse.console.server import first_admin_password

        password = first_admin_password(engine)
        if password:
            self.say(
                f"console: first user 'admin', one-time password {password} (choose your own at the first "
                "login)"
            )

    def _start_console(self, env: dict, dagster_ui: str) -> None:
        console_url = f"http://{self.host}:{self.console_port}"
        proc = self._spawn(
            [
                sys.executable,
                "-m",
                "postpulse.console",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.console_port),
            ],
            {**env, "POSTPULSE_DAGSTER_URL": env.get("POSTPULSE_DAGSTER_URL", dagster_ui)},
            "team console",
        )
        wait_http(f"{console_url}/healthz", 60, proc, "the team console")
        self.say(f"team console: {console_url}")

    def _wait(self, stop_event: Callable[[], bool] | None) -> None:
        stopping = {"flag": False}

        def _handler(signum, frame):  # noqa: ARG001
            stopping["flag"] = True

        old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping["flag"] and not (stop_event and stop_event()):
                for proc in self.children:
                    if proc.poll() is not None:
                        raise PostpulseError(
                            f"child process {proc.args[2]} exited with code {proc.returncode}"
                        )
                time.sleep(0.5)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
