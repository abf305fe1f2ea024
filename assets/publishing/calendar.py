"""The content calendar and planned-against-actual performance in the Dagster UI."""

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import text

from assets.automation import on_cron_and_first
from resources.store import PostgresStore

STUCK_AFTER = timedelta(hours=1)


def _cell(value) -> str:
    return str(value if value is not None else "").replace("|", "/").replace("\n", " ")[:60]


@dg.asset(
    group_name="publishing",
    kinds={"postgres"},
    description="The content calendar: every publication from 7 days ago to 30 days ahead (planned, "
    "published, failed), and its iCalendar file under POSTPULSE_HOME/calendar. Refreshed hourly.",
    automation_condition=on_cron_and_first("0 * * * *"),
)
def content_calendar(context: dg.AssetExecutionContext, store: PostgresStore) -> dg.MaterializeResult:
    from postpulse import config
    from postpulse.publishing.calendar import calendar_entries, excerpt, to_ics

    now = datetime.now(UTC)
    with store.engine().connect() as conn:
        rows = calendar_entries(conn, now - timedelta(days=7), now + timedelta(days=30))
    lines = ["| when (UTC) | account | status | item | text |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['at']:%Y-%m-%d %H:%M} | {r['platform']} @{_cell(r['username'])} | {r['status']} | "
            f"{r['content_item_id']} | {_cell(excerpt(r['title'] or r['content']))} |"
        )
    path = config.data_dir() / "calendar" / "content.ics"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_ics(rows))
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return dg.MaterializeResult(
        metadata={
            "publications": len(rows),
            "by_status": dg.MetadataValue.json(by_status),
            "calendar": dg.MetadataValue.md("\n".join(lines[:202])),
            "ics_file": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(
    group_name="publishing",
    kinds={"postgres"},
    description="Planned against actual per content item and platform: planned time, delay, engagement "
    "and how it compares with the account's usual posts. Refreshed hourly.",
    automation_condition=on_cron_and_first("30 * * * *"),
)
def content_performance(context: dg.AssetExecutionContext, store: PostgresStore) -> dg.MaterializeResult:
    from postpulse.publishing.report import by_platform, planned_vs_actual

    with store.engine().connect() as conn:
        rows = planned_vs_actual(conn)
    lines = [
        "| item | account | planned | delay (min) | engagement | vs usual |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows[:200]:
        delay = r["delay_s"] // 60 if r["delay_s"] is not None else r["status"]
        lines.append(
            f"| {r['content_item_id']} | {r['platform']} @{_cell(r['username'])} | "
            f"{r['scheduled_for']:%Y-%m-%d %H:%M} "
            f"| {delay} | {r['engagement'] if r['published_at'] else ''} | {r['vs_usual'] or ''} |"
        )
    return dg.MaterializeResult(
        metadata={
            "publications": len(rows),
            "published": sum(1 for r in rows if r["published_at"]),
            "by_item_and_platform": dg.MetadataValue.json(by_platform(rows)[:100]),
            "planned_vs_actual": dg.MetadataValue.md("\n".join(lines)),
        }
    )


@dg.asset_check(asset=content_calendar, description="No publication has been publishing for over an hour.")
def publications_not_stuck(store: PostgresStore) -> dg.AssetCheckResult:
    with store.engine().connect() as conn:
        stuck = (
            conn.execute(
                text(
                    "SELECT p.id, p.intent_at, q.last_reason_code FROM publications p "
                    "LEFT JOIN action_queue q ON q.id = p.action_id "
                    "WHERE p.status = 'publishing' AND p.intent_at < :cut ORDER BY p.intent_at LIMIT 20"
                ),
                {"cut": datetime.now(UTC) - STUCK_AFTER},
            )
            .mappings()
            .all()
        )
    return dg.AssetCheckResult(
        passed=not stuck,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "stuck": len(stuck),
            "publications": dg.MetadataValue.json(
                [
                    {"id": s["id"], "since": str(s["intent_at"]), "reason": s["last_reason_code"]}
                    for s in stuck
                ]
            ),
        },
    )
