"""The database sessions of an import: guards for a client that dies, and the sessions of imports
that were killed.

An import runs in one long transaction. When its process is killed (``kill -9``, an OOM kill), the
server only learns of it when it next talks to the client, so a backend in the middle of a long
statement kept running it (14 minutes, seen) and kept the locks a re-import then waited for.
Each import session therefore

* checks every ``CLIENT_CHECK_INTERVAL`` that its client is still connected, and ends its
  statement when it is not (``client_connection_check_interval``); TCP keepalives do the same
  for a client gone silent over the network;
* ends after ``IDLE_IN_TRANSACTION_TIMEOUT`` idle in its transaction, and ends any statement
  after ``STATEMENT_TIMEOUT``: limits far above what an import needs, for what the checks above
  cannot see (a stopped, not killed, process);
* names itself ``postpulse import <host> <pid> <file>`` (``application_name``; ``<file>``: the
  first characters of the file's SHA-256), so that the next import can recognise the session of
  an importer that no longer runs: the same host, a process id that is not running there. Such a
  session is ended (``pg_terminate_backend``) before the import starts, and the caller is told
  so; a session of an importer that still runs (here or on another host) is never touched, and
  an import of the same file says that it waits for it.
"""

from __future__ import annotations

import logging
import os
import re
import socket

import psycopg

from postpulse.store.database import TCP_KEEPALIVES

log = logging.getLogger(__name__)

APPLICATION_PREFIX = "postpulse import"
CLIENT_CHECK_INTERVAL = "2s"
IDLE_IN_TRANSACTION_TIMEOUT = "15min"
STATEMENT_TIMEOUT = "2h"
TERMINATE_WAIT_MS = 5000
_NAME = re.compile(rf"^{APPLICATION_PREFIX} (\S+) (\d+)(?: [0-9a-f]+)?$")
# the other running imports of the same file: (host, pid) from the names (%(name)s: this one's)
SAME_FILE_SQL = """
SELECT split_part(application_name, ' ', 3), split_part(application_name, ' ', 4)
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = current_database()
  AND split_part(application_name, ' ', 5) = split_part(%(name)s, ' ', 5)
  AND application_name LIKE 'postpulse import %%'
"""


def _host() -> str:
    return socket.gethostname()[:24]


def application_name(sha256: str | None = None) -> str:
    """This process's import sessions' name (the server keeps 63 bytes: host cut to 24)."""
    tag = f" {sha256[:8]}" if sha256 else ""
    return f"{APPLICATION_PREFIX} {_host()} {os.getpid()}{tag}"


def connect_options() -> dict[str, str | int]:
    """libpq connection parameters of an import session (keepalives matter for TCP only)."""
    return {"application_name": application_name(), **TCP_KEEPALIVES}


def guard_statements() -> list[str]:
    """The session settings of an import (constants, no input)."""
    return [
        f"SET statement_timeout = '{STATEMENT_TIMEOUT}'",
        f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'",
        f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'",
    ]


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def end_sessions_of_killed_imports(conn: psycopg.Connection) -> list[int]:
    """End the server sessions of imports whose process no longer runs on this host; returns the
    process ids of those importers. ``conn`` must be in autocommit mode."""
    host = _host()
    rows = conn.execute(
        "SELECT pid, application_name FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE %s",
        (APPLICATION_PREFIX + " %",),
    ).fetchall()
    ended: list[int] = []
    for backend, name in rows:
        m = _NAME.match(name or "")
        if not m or m.group(1) != host:
            continue
        importer = int(m.group(2))
        if importer == os.getpid() or _process_runs(importer):
            continue
        (done,) = conn.execute("SELECT pg_terminate_backend(%s, %s)", (backend, TERMINATE_WAIT_MS)).fetchone()
        if done and importer not in ended:
            ended.append(importer)
    if ended:
        log.warning(
            "ended the database sessions of %d killed import(s) (process %s) that were still running",
            len(ended),
            ", ".join(map(str, ended)),
        )
    return ended
