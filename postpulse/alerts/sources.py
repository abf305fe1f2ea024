"""Alert sources: each looks at the store and says what needs the user now.

An ``AlertSource`` has a ``name`` and ``collect(conn, now, config) -> list[Alert]``. Sources are
registered in ``SOURCES`` (``register_source`` adds one: an area that builds something worth an
alert plugs in here without touching the sensor). Each alert's ``dedup_key`` makes it fire once
per occurrence: a frozen account alerts once per freeze, overdue check-backs once per platform
and day, a watch source over budget once per source and day.

Failed runs and failing asset checks come from the Dagster instance; the sensor reads them and
builds alerts with ``run_failed_alert`` / ``check_failed_alert``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .config import AlertConfig
from .digest import DigestSource
from .model import Alert


class AlertSource(Protocol):
    name: str

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]: ...


class FrozenAccounts:
    """Accounts frozen after a block signal (one alert per freeze)."""

    name = "frozen_accounts"

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]:
        rows = conn.execute(
            text(
                "SELECT id, username, platform, workspace_id, frozen_until, frozen_reason FROM accounts "
                "WHERE frozen_until > :now ORDER BY id"
            ),
            {"now": now},
        ).mappings()
        return [
            Alert(
                "account_frozen",
                f"account_frozen:{r['id']}:{r['frozen_until']:%Y%m%dT%H%M}",
                f"@{r['username']} ({r['platform']}) is frozen until {r['frozen_until']:%Y-%m-%d %H:%M} UTC",
                f"The platform signalled a block ({r['frozen_reason'] or 'block signal'}); its actions wait. "
                f"If the block is over: postpulse accounts resume {r['username']}",
                severity="error",
                link=f"{config.dagster_url}/assets",
                workspace_id=r["workspace_id"],
                account_id=r["id"],
                details={"frozen_until": r["frozen_until"].isoformat(), "reason": r["frozen_reason"]},
            )
            for r in rows
        ]


class ExpiredSessions:
    """Accounts whose session expired (one alert per time the flag is raised)."""

    name = "expired_sessions"

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]:
        rows = conn.execute(
            text(
                "SELECT id, username, platform, workspace_id, coalesce(last_error_at, updated_at) AS since "
                "FROM accounts WHERE needs_relogin ORDER BY id"
            )
        ).mappings()
        return [
            Alert(
                "session_expired",
                f"session_expired:{r['id']}:{r['since']:%Y%m%dT%H%M}",
                f"@{r['username']} ({r['platform']}) needs a new login",
                f"Its session expired; its actions wait. Run: postpulse accounts login {r['username']}",
                severity="error",
                link=f"{config.dagster_url}/assets",
                workspace_id=r["workspace_id"],
                account_id=r["id"],
            )
            for r in rows
        ]


class OverdueCheckbacks:
    """Posts whose next check-back is later than the threshold (per platform, once a day)."""

    name = "overdue_checkbacks"

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]:
        cutoff = now - timedelta(hours=config.checkbacks_overdue_hours)
        rows = conn.execute(
            text(
                "SELECT platform, count(*) AS n, min(next_check_at) AS oldest FROM posts "
                "WHERE tracking_complete = false AND next_check_at < :cutoff "
                "GROUP BY platform ORDER BY platform"
            ),
            {"cutoff": cutoff},
        ).mappings()
        return [
            Alert(
                "checkbacks_overdue",
                f"checkbacks_overdue:{r['platform']}:{now:%Y-%m-%d}",
                f"{r['n']} {r['platform']} check-back(s) overdue by more than "
                f"{config.checkbacks_overdue_hours:g} h",
                f"The oldest was due at {r['oldest']:%Y-%m-%d %H:%M} UTC. Is the check-back sensor running, "
                "and does the platform's fetcher work? See `postpulse tracking`.",
                link=f"{config.dagster_url}/overview/sensors",
                details={
                    "platform": r["platform"],
                    "overdue": int(r["n"]),
                    "oldest": r["oldest"].isoformat(),
                },
            )
            for r in rows
        ]


class WatchesOverBudget:
    """Watch sources that spent today's budget (results or estimated cost; their watches pause
    until midnight UTC): once per source and day. Nothing when the store has no watchlists."""

    name = "watches_over_budget"

    def collect(self, conn: Connection, now: datetime, config: AlertConfig) -> list[Alert]:
        if conn.execute(text("SELECT to_regclass('watch_sources')")).scalar() is None:
            return []
        from postpulse.watchlists.store import budget

        sources = conn.execute(
            text(
                "SELECT s.*, (SELECT count(*) FROM watches w WHERE w.source_id = s.id AND w.is_active) "
                "AS active_watches FROM watch_sources s ORDER BY s.name"
            )
        ).mappings()
        out = []
        for s in sources:
            used = budget(conn, dict(s), now)
            if not used.spent or not s["active_watches"]:
                continue
            out.append(
                Alert(
                    "watch_over_budget",
                    f"watch_over_budget:{s['id']}:{now:%Y-%m-%d}",
                    f"watch source {s['name']} spent today's budget",
                    used.notice(s["name"]) + f"; {s['active_watches']} watch(es) wait. Raise the budget "
                    "(`postpulse watch source-add`) or collect less often.",
                    link=f"{config.dagster_url}/assets",
                    details={
                        "source_id": s["id"],
                        "results_used": used.results_used,
                        "results_per_day": used.results_per_day,
                        "cost_used": used.cost_used,
                        "cost_per_day": used.cost_per_day,
                    },
                )
            )
        return out


SOURCES: list[AlertSource] = [
    FrozenAccounts(),
    ExpiredSessions(),
    OverdueCheckbacks(),
    WatchesOverBudget(),
    DigestSource(),
]


def register_source(source: AlertSource) -> None:
    """Add a source (once per name)."""
    if all(s.name != source.name for s in SOURCES):
        SOURCES.append(source)


def collect(
    conn: Connection,
    now: datetime,
    config: AlertConfig,
    sources: list[AlertSource] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[Alert]:
    """Every source's alerts; a failing source is reported through ``on_error`` and skipped (the
    others still alert)."""
    out: list[Alert] = []
    for s in sources if sources is not None else SOURCES:
        try:
            with conn.begin_nested():
                out.extend(s.collect(conn, now, config))
        except Exception as exc:  # one broken source must not silence the others
            if on_error is None:
                raise
            on_error(s.name, exc)
    return out


def run_failed_alert(run_id: str, job_name: str, message: str, config: AlertConfig) -> Alert:
    """A failed Dagster run (the sensor passes what it read from the run's failure event)."""
    return Alert(
        "run_failed",
        f"run_failed:{run_id}",
        f"run of {job_name} failed",
        (message or "").strip()[:1000],
        severity="error",
        link=f"{config.dagster_url}/runs/{run_id}",
        details={"run_id": run_id, "job": job_name},
    )


def check_failed_alert(
    asset: str, check: str, run_id: str, description: str | None, severity: str, config: AlertConfig
) -> Alert:
    """A failing asset check (scraper health, data quality): once per check execution."""
    return Alert(
        "check_failed",
        f"check_failed:{asset}:{check}:{run_id}",
        f"check {check} on {asset} failed",
        (description or "").strip()[:1000],
        severity="error" if severity.upper() == "ERROR" else "warning",
        link=f"{config.dagster_url}/runs/{run_id}",
        details={"asset": asset, "check": check, "run_id": run_id},
    )
