"""Collecting one watched profile through its source, within the source's daily budget.

A collection checks today's use of the source in ``api_usage`` first: when the budget (results
per day, or estimated cost per day) is spent, it stores nothing and returns ``paused`` with a
notice saying so. Otherwise the source's collector runs (an Apify actor, its input filled with
the profile: ``{username}`` and ``{profile_url}`` in string values; the result limit capped at
what is left of the budget), the dataset is imported as one download run (so posts, snapshots,
the profile snapshot, tag rules and account links come from the import), and every API call is
recorded in ``api_usage`` with the source and the estimated cost of the results.

Collectors are looked up by the source's kind in :data:`COLLECTORS`; a kind without one (e.g.
``bluesky`` before its collector is installed) is a clear error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from postpulse import config as pp_config
from postpulse.agency.errors import AgencyError
from postpulse.api_usage import Call, record_calls
from postpulse.ingest.apify import ApifyClient, pull_actor
from postpulse.ingest.loader import import_file_as_pull
from postpulse.ingest.sandbox_source import DEFAULT_SANDBOX_TOKEN
from postpulse.watchlists.store import LOOPBACK, Budget, budget, get_source, get_watch

LIMIT_KEYS = ("resultsLimit", "maxItems", "resultsPerPage", "limit", "maxPosts")


@dataclass
class Collected:
    items: int
    run_id: str | None
    calls: list[dict]


@dataclass
class CollectResult:
    key: str
    status: str  # collected | paused
    message: str
    items: int = 0
    run_id: str | None = None
    budget: Budget | None = None


def fill_input(template: Any, watch: dict, profile_url: str | None) -> Any:
    """The source's input with ``{username}``/``{profile_url}`` filled in (string values only)."""
    if isinstance(template, dict):
        return {k: fill_input(v, watch, profile_url) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_input(v, watch, profile_url) for v in template]
    if isinstance(template, str):
        return template.replace("{username}", watch["username"]).replace("{profile_url}", profile_url or "")
    return template


def capped_input(run_input: dict, left: int) -> dict:
    """The input with its result limit at most ``left`` (``resultsLimit`` when it names none)."""
    out = dict(run_input)
    keys = [k for k in LIMIT_KEYS if k in out]
    for k in keys or ["resultsLimit"]:
        try:
            out[k] = min(int(out.get(k, left)), left)
        except (TypeError, ValueError):
            out[k] = left
    return out


def _apify_token(base_url: str | None) -> str:
    token = os.environ.get("APIFY_TOKEN", "")
    if token:
        return token
    host = (base_url or "").split("://")[-1].split("/")[0].split(":")[0]
    if host in LOOPBACK:
        return DEFAULT_SANDBOX_TOKEN  # the sandbox's Apify-style API
    raise AgencyError(
        "no Apify token", fix="set APIFY_TOKEN in the environment (never in the source's config)"
    )


def collect_apify(
    engine: Engine, source: dict, watch: dict, left: int, dagster_run_id: str | None
) -> Collected:
    cfg = source["config"] or {}
    base_url = (
        cfg.get("base_url") or os.environ.get("APIFY_BASE_URL") or os.environ.get("POSTPULSE_SANDBOX_URL")
    )
    run_input = capped_input(fill_input(cfg.get("input") or {}, watch, watch["profile_url"]), left)
    out = pp_config.data_dir() / "downloads" / "watch" / watch["platform"] / watch["username"]
    with ApifyClient(_apify_token(base_url), base_url, poll_interval=0.2) as client:
        try:
            pulled = pull_actor(client, cfg["actor_id"], run_input, Path(out))
        finally:
            calls = list(client.calls)
    if pulled.items == 0:  # nothing new on the profile: no download run to record
        return Collected(0, None, calls)
    res = import_file_as_pull(
        engine,
        pulled.path,
        source_kind="apify",
        platform=watch["platform"],
        apify_run_id=pulled.run.id,
        actor_id=cfg["actor_id"],
        dagster_run_id=dagster_run_id,
    )
    return Collected(pulled.items, res.run_id, calls)


Collector = Callable[[Engine, dict, dict, int, "str | None"], Collected]
COLLECTORS: dict[str, Collector] = {"apify": collect_apify}


def _record_usage(engine: Engine, source: dict, collected: Collected, now: datetime) -> None:
    """One api_usage row per API call; the dataset's results (and their estimated cost) on the
    first, so that a day's sum is the results collected."""
    cost_each = float(source["cost_per_result"] or 0)
    calls = []
    for i, call in enumerate(collected.calls or [{"endpoint": source["kind"]}]):
        items = collected.items if i == 0 else 0
        calls.append(
            Call(
                endpoint=str(call.get("endpoint") or source["kind"])[:200],
                status=call.get("status_code"),
                duration_ms=call.get("duration_ms"),
                called_at=now,
                items=items,
                estimated_cost=round(items * cost_each, 6),
            )
        )
    with engine.begin() as conn:
        record_calls(conn, source["kind"], calls, run_id=collected.run_id, watch_source_id=source["id"])


def collect_watch(
    engine: Engine, ref: str, *, now: datetime | None = None, dagster_run_id: str | None = None
) -> CollectResult:
    """Collect one watch (by id or partition key) unless its source's budget is spent."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        watch = get_watch(conn, ref)
        source = get_source(conn, watch["source_id"])
        used = budget(conn, source, now)
    if used.spent:
        message = used.notice(source["name"])
        _set_status(engine, watch["id"], message, collected_at=None)
        return CollectResult(watch["key"], "paused", message, budget=used)
    collector = COLLECTORS.get(source["kind"])
    if collector is None:
        raise AgencyError(
            f"source {source['name']!r} is of kind {source['kind']!r}, which has no collector installed",
            fix=f"use a source of kind {', '.join(sorted(COLLECTORS))}",
        )
    collected = collector(engine, source, watch, used.results_left, dagster_run_id)
    _record_usage(engine, source, collected, now)
    with engine.connect() as conn:
        after = budget(conn, source, now)
    message = f"{watch['key']}: {collected.items} result(s) via {source['name']} (run {collected.run_id})"
    _set_status(engine, watch["id"], message, collected_at=now)
    return CollectResult(watch["key"], "collected", message, collected.items, collected.run_id, after)


def _set_status(engine: Engine, watch_id: str, message: str, collected_at: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE watches SET last_status = :m, last_collected_at = coalesce(:t, last_collected_at) "
                "WHERE id = :i"
            ),
            {"m": message[:500], "t": collected_at, "i": watch_id},
        )
