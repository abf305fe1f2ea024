"""`postpulse up` end to end: embedded store, Dagster on Postgres, the UI answering, one `up`
per data directory, and a clean stop."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)


def _wait_for(q: queue.Queue, needle: str, timeout: float, log: list[str]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=1)
        except queue.Empty:
            continue
        log.append(line)
        if needle in line:
            return True
    return False


def test_up_starts_everything_once_and_stops_cleanly(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env.update({"POSTPULSE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    port, sandbox_port, console_port = _free_port(), _free_port(), _free_port()
    args = [sys.executable, "-m", "postpulse", "up", "--port", str(port), "--sandbox-port", str(sandbox_port)]
    args += ["--console-port", str(console_port)]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    log: list[str] = []
    try:
        assert _wait_for(lines, "READY", 240, log), "".join(log[-40:])
        assert httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=10).status_code == 200
        # DNS rebinding: the UI answers only its own host names
        foreign = {"Host": f"attacker.example:{port}"}
        assert (
            httpx.get(f"http://127.0.0.1:{port}/server_info", headers=foreign, timeout=10).status_code == 400
        )
        # the team console beside it: its first admin announced once, nothing open without login
        assert any("first user 'admin', one-time password" in line for line in log), "".join(log[-40:])
        console = httpx.get(f"http://127.0.0.1:{console_port}/approvals", timeout=10)
        assert console.status_code == 303 and console.headers["location"] == "/login"
        gql = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            timeout=30,
            json={"query": "{ assetNodes { assetKey { path } } }"},
        ).json()
        keys = {"/".join(n["assetKey"]["path"]) for n in gql["data"]["assetNodes"]}
        assert "store_overview" in keys
        # no "join the community" prompt over the first page (dagster.yaml `nux`), no telemetry
        nux = httpx.post(
            f"http://127.0.0.1:{port}/graphql", timeout=30, json={"query": "{ shouldShowNux }"}
        ).json()
        assert nux["data"]["shouldShowNux"] is False, nux
        assert '"telemetryEnabled": false' in httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text

        # Dagster keeps its runs in the store's `dagster` schema
        with psycopg.connect(f"postgresql://postgres@/postpulse?host={home / 'pg'}") as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dagster'"
                )
            }
        assert {"runs", "event_logs"} <= tables

        # The live sandbox runs on the wall clock (check-backs are scheduled in real time).
        admin = f"http://127.0.0.1:{sandbox_port}/_admin/clock"
        assert httpx.get(admin, timeout=10).status_code == 403  # under `up` the admin needs its token
        token = (home / "sandbox-admin-token").read_text().strip()
        assert oct((home / "sandbox-admin-token").stat().st_mode & 0o777) == "0o600"
        foreign = {"Host": f"attacker.example:{sandbox_port}", "X-Sandbox-Admin": token}
        assert httpx.get(admin, headers=foreign, timeout=10).status_code == 400
        clock = httpx.get(admin, headers={"X-Sandbox-Admin": token}, timeout=10).json()
        lag = abs(time.time() - datetime.fromisoformat(clock["now"]).timestamp())
        assert lag < 60, f"sandbox clock is {lag:.0f} s off the wall clock"

        # Data flows without anyone clicking: the sandbox sensor's first tick pulls every platform.
        store = f"postgresql://postgres@/postpulse?host={home / 'pg'}"
        deadline, landed = time.monotonic() + 240, []
        while time.monotonic() < deadline and len(landed) < 2:
            with psycopg.connect(store) as conn:
                landed = conn.execute(
                    "SELECT platform, posts_new FROM download_runs "
                    "WHERE source_kind = 'sandbox' AND status = 'completed'"
                ).fetchall()
            time.sleep(3)
        assert len(landed) >= 2 and all(n > 0 for _, n in landed), landed

        # ...and the automation sensor materializes the analytics on top of the first snapshots.
        query = "{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { timestamp } } }"
        deadline, materialized = time.monotonic() + 240, set()
        while time.monotonic() < deadline and not {"post_metrics", "store_overview"} <= materialized:
            nodes = httpx.post(f"http://127.0.0.1:{port}/graphql", timeout=30, json={"query": query}).json()
            materialized = {
                "/".join(n["assetKey"]["path"])
                for n in nodes["data"]["assetNodes"]
                if n["assetMaterializations"]
            }
            time.sleep(3)
        assert {"post_metrics", "store_overview", "data_downloads"} <= materialized, materialized

        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "already running" in second.stderr
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, "".join(log[-40:])
    while not lines.empty():
        log.append(lines.get())
    assert not (home / "pg" / "postmaster.pid").exists(), (
        "the embedded PostgreSQL must be stopped:\n"
        + "".join(line for line in log[-60:] if " DEBUG " not in line)
    )
    # nothing that `up` started is left running (Dagster's code servers run in sessions of their own)
    assert _processes_with_env(f"POSTPULSE_HOME={home}") == []


def _processes_with_env(entry: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if entry.encode() in f.read().split(b"\0"):
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        cmdline = c.read().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{pid}: {cmdline[:160]}")
        except OSError:
            continue
    return found
