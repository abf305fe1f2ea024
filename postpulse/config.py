"""Where postpulse keeps its state, read from the environment at call time (never at import).

| variable | meaning | default |
|---|---|---|
| ``DATABASE_URL`` | any PostgreSQL (``postgresql://user:pw@host:5432/db``) | embedded server |
| ``POSTPULSE_HOME`` | data dir: embedded PostgreSQL, Dagster home, keys, drop folder | per-user data dir |
| ``DAGSTER_DATABASE_URL`` | Dagster's own storage, if not the store's ``dagster`` schema | the store |
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "postpulse"


def data_dir() -> Path:
    """The per-user data directory (``POSTPULSE_HOME`` overrides)."""
    env = os.environ.get("POSTPULSE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME)).resolve()


def database_url() -> str | None:
    value = os.environ.get("DATABASE_URL", "").strip()
    return value or None


def dagster_database_url() -> str | None:
    value = os.environ.get("DAGSTER_DATABASE_URL", "").strip()
    return value or None


def dagster_home() -> Path:
    env = os.environ.get("DAGSTER_HOME")
    return Path(env).resolve() if env else data_dir() / "dagster"


def drop_dir() -> Path:
    env = os.environ.get("POSTPULSE_DROP_DIR")
    return Path(env).expanduser().resolve() if env else data_dir() / "drop"


def repo_root() -> Path:
    """The checkout (where ``workspace.yaml`` lives)."""
    return Path(__file__).resolve().parents[1]
