"""The library of named analytics queries: ``sql/queries/<name>.sql``.

Each file starts with a header of SQL comments::

    -- name: top_posts
    -- title: Top posts per platform and period
    -- description: ...
    -- param: platform text = NULL       | only this platform
    -- param: limit int = 10             | posts per platform

Parameters are bound by DuckDB as prepared parameters (``$platform``), never formatted into
the SQL. Values from the command line (strings) are converted to the declared type here, with
a one-line error naming the parameter when they do not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from postpulse.analytics.duck import QUERIES_DIR, Analytics
from postpulse.analytics.errors import AnalyticsError, BadParameter, UnknownReport
from postpulse.errors import first_line

TYPES = ("text", "int", "float", "date", "timestamp", "bool")
_PARAM_RE = re.compile(r"^--\s*param:\s*(\w+)\s+(\w+)\s*(?:=\s*(.*?))?\s*(?:\|\s*(.*))?$")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str = ""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    title: str
    description: str
    sql: str
    path: Path
    params: tuple[Param, ...] = field(default_factory=tuple)

    def bind(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``values`` (converted to the declared types)."""
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise BadParameter(
                f"report {self.name!r} has no parameter {', '.join(unknown)}",
                fix=f"its parameters: {', '.join(known) or '(none)'}",
            )
        return {p.name: convert(p, values[p.name]) if p.name in values else p.default for p in self.params}

    def run(self, a: Analytics, values: dict[str, Any] | None = None):
        bound = self.bind(values)
        try:
            return a.con.execute(self.sql, bound or None).df()
        except duckdb.Error as exc:
            raise AnalyticsError(
                f"report {self.name!r} failed: {first_line(exc)}",
                fix="check the parameters; `postpulse report list` shows them",
            ) from None


def convert(p: Param, raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and raw.strip().upper() == "NULL"):
        return None
    if not isinstance(raw, str):
        return raw
    s = raw.strip()
    try:
        if p.type == "int":
            return int(s)
        if p.type == "float":
            return float(s)
        if p.type == "date":
            return date.fromisoformat(s)
        if p.type == "timestamp":
            return datetime.fromisoformat(s)
        if p.type == "bool":
            if s.lower() in ("1", "true", "yes", "on"):
                return True
            if s.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(s)
    except ValueError:
        example = {
            "int": "10",
            "float": "3.5",
            "date": "2025-01-31",
            "timestamp": "2025-01-31T12:00:00+00:00",
            "bool": "true",
        }[p.type]
        raise BadParameter(
            f"parameter {p.name}={raw!r} is not a {p.type}", fix=f"e.g. {p.name}={example}"
        ) from None
    return s


def _default(type_: str, text: str | None) -> Any:
    if text is None or text.upper() == "NULL":
        return None
    if type_ == "text":
        return text.strip("'\"")
    return convert(Param("default", type_, None), text)


def parse(path: Path) -> NamedQuery:
    meta: dict[str, str] = {}
    params: list[Param] = []
    text = path.read_text()
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        m = _PARAM_RE.match(line)
        if m:
            name, type_, default, help_ = m.groups()
            if type_ not in TYPES:
                raise ValueError(f"{path.name}: parameter {name} has unknown type {type_}")
            params.append(Param(name, type_, _default(type_, default), (help_ or "").strip()))
            continue
        km = re.match(r"^--\s*(name|title|description):\s*(.*)$", line)
        if km:
            meta[km.group(1)] = km.group(2).strip()
    name = meta.get("name") or path.stem
    return NamedQuery(
        name=name,
        title=meta.get("title", name),
        description=meta.get("description", ""),
        sql=text,
        path=path,
        params=tuple(params),
    )


def load_library(directory: Path = QUERIES_DIR) -> dict[str, NamedQuery]:
    out = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name.startswith("_"):
            continue
        q = parse(path)
        out[q.name] = q
    return out


def get(name: str, library: dict[str, NamedQuery] | None = None) -> NamedQuery:
    library = library if library is not None else load_library()
    if name not in library:
        raise UnknownReport(
            f"unknown report {name!r}; available: {', '.join(sorted(library))}",
            fix="run `postpulse report list` for their parameters",
        )
    return library[name]


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` from the command line -> dict; a one-line error for malformed items."""
    out: dict[str, str] = {}
    for item in pairs or []:
        if "=" not in item:
            raise BadParameter(f"--param {item!r} is not of the form name=value", fix="e.g. --param days=7")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out
