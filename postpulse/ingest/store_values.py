"""Python values as PostgreSQL columns accept them: UTC datetimes, text without NUL, JSON for
``jsonb`` (no ``\\u0000``, no lone surrogates); and the one-line SQL helper of the loader modules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # not imported at run time: the parse worker needs no SQLAlchemy
    from sqlalchemy.engine import Connection


def run_sql(conn: Connection, sql: str, params: dict | None = None):
    """Run loader SQL (``%(name)s`` parameters, psycopg style) on a SQLAlchemy connection."""
    return conn.exec_driver_sql(sql, params or {})


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def storable(value: Any) -> Any:
    """Strings PostgreSQL can store: no NUL, no lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else str(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def jsonb_text(obj: Any) -> str:
    """JSON text for a jsonb column (no ``\\u0000``, which jsonb rejects)."""
    try:
        data = orjson.dumps(obj, option=JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        obj = storable(obj)
        try:
            data = orjson.dumps(obj, option=JSON_OPTIONS, default=str)
        except (TypeError, orjson.JSONEncodeError):
            data = json.dumps(obj, default=str, ensure_ascii=False).encode("utf-8", "replace")
    if b"\\u0000" in data:
        data = orjson.dumps(_strip_nul(obj), option=JSON_OPTIONS, default=str)
    return data.decode("utf-8")


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value
