"""The action queue at a glance: counts by status and the actions waiting for approval (with
their ids, to paste into the ``approve_actions`` job's config)."""

import dagster as dg
from sqlalchemy import text

from assets.automation import on_cron_and_first
from resources.store import PostgresStore


@dg.asset(
    group_name="engagement",
    kinds={"postgres"},
    description="Action queue overview: counts by status, actions waiting for approval, frozen or "
    "logged-out accounts. Refreshed every 15 minutes (and on demand); approve with the "
    "approve_actions job.",
    automation_condition=on_cron_and_first("*/15 * * * *"),
)
def action_queue_overview(context: dg.AssetExecutionContext, store: PostgresStore) -> dg.MaterializeResult:
    from postpulse.engagement import repository as repo

    with store.engine().connect() as conn:
        counts = repo.queue_counts(conn)
        waiting = repo.list_actions(conn, status="queued", limit=50)
        paused = repo.is_globally_paused(conn)
        accounts = (
            conn.execute(
                text(
                    "SELECT username, platform, is_authorized, needs_relogin, frozen_until, frozen_reason "
                    "FROM accounts "
                    "ORDER BY platform, username"
                )
            )
            .mappings()
            .all()
        )
    lines = ["| id | account | type | target | priority | notes |", "|---|---|---|---|---|---|"]
    for a in waiting:
        lines.append(
            f"| {a['id']} | @{a['username']} ({a['platform']}) | {a['action_type']} | {a['target_id']} | "
            f"{a['priority']} | {(a['user_notes'] or '').replace('|', '/')[:60]} |"
        )
    acc_lines = ["| account | authorized | needs re-login | frozen until |", "|---|---|---|---|"]
    for a in accounts:
        acc_lines.append(
            f"| @{a['username']} ({a['platform']}) | {a['is_authorized']} | {a['needs_relogin']} | "
            f"{a['frozen_until'] or ''} |"
        )
    return dg.MaterializeResult(
        metadata={
            "global_pause": paused,
            "by_status": dg.MetadataValue.json(counts),
            "waiting_for_approval": len(waiting),
            "queued_actions": dg.MetadataValue.md("\n".join(lines)),
            "accounts": dg.MetadataValue.md("\n".join(acc_lines)),
            "approve_with": dg.MetadataValue.md(
                "Launchpad of job `approve_actions`: `ops: {apply_approval_decisions: {config: {action_ids: "
                "[act-...], "
                "decision: approve}}}`"
            ),
        }
    )


@dg.asset_check(
    asset=action_queue_overview,
    name="engagement_accounts_ok",
    description="Warns while an account's actions are held back: frozen after a block signal from the "
    "platform (until when, why), needing a new login, or paused; each with the fix.",
)
def engagement_accounts_ok(store: PostgresStore) -> dg.AssetCheckResult:
    from postpulse.engagement import repository as repo

    with store.engine().connect() as conn:
        alerts = repo.account_alerts(conn)
    return dg.AssetCheckResult(
        passed=not alerts,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "; ".join(f"{a['message']} (fix: {a['fix']})" for a in alerts) or "no account is held back"
        )[:2000],
        metadata={
            "frozen": sum(a["kind"] == "frozen" for a in alerts),
            "needs_relogin": sum(a["kind"] == "needs_relogin" for a in alerts),
            "paused": sum(a["kind"] == "paused" for a in alerts),
            "accounts": dg.MetadataValue.md(
                "\n".join(
                    ["| account | state | why | until | fix |", "|---|---|---|---|---|"]
                    + [
                        f"| {a['account']} | {a['kind']} | {str(a['reason']).replace('|', '/')[:120]} | "
                        f"{a['until'] or ''} | {a['fix']} |"
                        for a in alerts
                    ]
                )
            ),
        },
    )
