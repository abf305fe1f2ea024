"""Engagement in Dagster: the executor job and its sensor, approvals from the UI, the global
pause switch, DM sync, and nightly retention. Ops are thin shells over ``postpulse.engagement``.

Safe defaults:
- ``engagement_due_actions_sensor`` is STOPPED: nothing acts on an account until you start it.
  When started, the runs it launches execute for real (``dry_run: false``) -- but only approved,
  due actions of authorized accounts, within the policy (limits, quiet hours, blocklist...).
- ``engagement_execute_actions`` launched by hand from the launchpad defaults to ``dry_run: true``:
  it reports what the policy would decide for each due action and changes nothing.
- ``engagement_dm_sync_schedule`` is STOPPED (it logs in to the platform with stored sessions).
- ``engagement_retention_schedule`` is RUNNING (nightly, 03:15 UTC): it only deletes/redacts old data.

Block signals are visible: a run in which an account got frozen (action-blocked notice, a like
gone after reload, repeated 429s) or lost its session records everything, then fails with a
message naming the account, until when and the fix; the asset check ``engagement_accounts_ok``
(on ``action_queue_overview``) warns while any account is frozen, logged out or paused.

Approve from the UI: materialize ``action_queue_overview`` to see queued ids, then launch
``approve_actions`` with ``ops: {apply_approval_decisions: {config: {action_ids: [act-...],
decision: approve}}}`` (``reject`` / ``cancel`` likewise, ``all_queued: true`` for all).
"""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg

from assets.engagement import queue as queue_assets
from resources.browser import BrowserResource
from resources.store import STORE, PostgresStore
from resources.vault import VaultResource


class ExecuteConfig(dg.Config):
    dry_run: bool = True
    max_actions: int = 20
    worker_id: str | None = None


def _executor(
    context,
    store: PostgresStore,
    vault: VaultResource | None,
    browser_res: BrowserResource,
    *,
    browser=None,
    worker_id: str | None = None,
):
    from postpulse.engagement.executor import Executor, ExecutorConfig

    cfg = ExecutorConfig(base_url=browser_res.base_url(), timeout_ms=browser_res.timeout_ms)
    if worker_id:
        cfg.worker_id = worker_id
    else:
        cfg.worker_id = f"dagster-{context.run_id[:8]}"
    return Executor(
        store.engine(),
        vault.vault(store.engine()) if vault is not None else None,
        browser=browser,
        config=cfg,
        run_id=context.run_id,
    )


@dg.op(
    description="Claim due approved actions (FOR UPDATE SKIP LOCKED) and apply the policy under a "
    "per-account advisory lock, in one transaction; allowed actions get an in-progress attempt. Dry run: "
    "only report the policy decisions."
)
def claim_actions(
    context: dg.OpExecutionContext,
    config: ExecuteConfig,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> list:
    ex = _executor(context, store, engagement_vault, engagement_browser, worker_id=config.worker_id)
    if config.dry_run:
        preview = ex.preview(config.max_actions)
        context.add_output_metadata(
            {"dry_run": True, "due": len(preview), "decisions": dg.MetadataValue.json(preview)}
        )
        context.log.info(f"dry run: {len(preview)} due actions evaluated, nothing executed")
        return []
    report = ex.claim(config.max_actions)
    context.add_output_metadata(
        {
            "dry_run": False,
            "claimed": len(report.tasks),
            "denied": len(report.decisions),
            "paused": report.paused,
            "released_stale": report.released_stale,
            "denials": dg.MetadataValue.json(report.decisions),
        }
    )
    return report.tasks


@dg.op(
    description="Run the claimed actions in Chromium through the platform driver (retries transient faults)."
)
def execute_actions(
    context: dg.OpExecutionContext,
    tasks: list,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> list:
    if not tasks:
        return []
    with engagement_browser.launch() as browser:
        ex = _executor(context, store, engagement_vault, engagement_browser, browser=browser)
        results = ex.execute(tasks, verify=False)
    context.add_output_metadata(
        {"executed": sum(1 for r in results if r.ok), "failed": sum(1 for r in results if not r.ok)}
    )
    return results


@dg.op(
    description="Reload each target in a fresh browser context and check the action is visible "
    "(reload_verify)."
)
def verify_actions(
    context: dg.OpExecutionContext,
    results: list,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> list:
    if not any(r.ok for r in results):
        return results
    with engagement_browser.launch() as browser:
        ex = _executor(context, store, engagement_vault, engagement_browser, browser=browser)
        ex.verify(results)
    context.add_output_metadata(
        {"verified": sum(1 for r in results if r.verification and r.verification.verified)}
    )
    return results


@dg.op(
    description="Write attempts, verifications, queue states and audit entries; "
    "freeze accounts on block signals."
)
def record_results(
    context: dg.OpExecutionContext,
    results: list,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> dict:
    from postpulse.engagement import repository as repo
    from postpulse.engagement.executor import result_summary

    if not results:
        return {}
    ex = _executor(context, store, engagement_vault, engagement_browser)
    accounts = sorted({r.task.account_id for r in results})
    with store.engine().connect() as conn:
        before = {(a["account_id"], a["kind"]) for a in repo.account_alerts(conn, account_ids=accounts)}
    counts = ex.record(results)
    with store.engine().connect() as conn:
        new_alerts = [
            a
            for a in repo.account_alerts(conn, account_ids=accounts)
            if (a["account_id"], a["kind"]) not in before
        ]
    context.add_output_metadata(
        {
            "outcomes": dg.MetadataValue.json(counts),
            "actions": dg.MetadataValue.json([result_summary(r) for r in results]),
            "account_alerts": dg.MetadataValue.json(
                [{k: str(v) if k == "until" and v else v for k, v in a.items()} for a in new_alerts]
            ),
        }
    )
    if new_alerts:
        # the results are recorded; the run is marked failed so that the user sees it in the UI
        lines = [f"{a['message']}. Fix: {a['fix']}" for a in new_alerts]
        for line in lines:
            context.log.warning(line)
        raise dg.Failure(
            description="Engagement stopped for an account: " + " | ".join(lines),
            metadata={"outcomes": dg.MetadataValue.json(counts)},
        )
    return counts


@dg.job(
    description="Engagement executor: claim -> policy -> execute -> verify -> record. Defaults to dry_run.",
    tags={"postpulse/area": "engagement"},
)
def engagement_execute_actions():
    record_results(verify_actions(execute_actions(claim_actions())))


@dg.sensor(
    job=engagement_execute_actions,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launches the executor (for real) when approved actions are due; also applies accounts' "
    "auto-approve settings to queued actions. STOPPED by default.",
)
def engagement_due_actions_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    from postpulse.engagement import repository as repo

    now = datetime.now(UTC)
    with store.engine().begin() as conn:
        repo.auto_approve_queued(conn, now=now, run_id="sensor")
        if repo.is_globally_paused(conn):
            return dg.SkipReason("global pause is on (`postpulse actions resume` to resume)")
        due = repo.due_actions(conn, now, limit=1000)
    if not due:
        return dg.SkipReason("no approved actions are due")
    fingerprint = hashlib.sha256(
        json.dumps([[d["id"], d["updated_at"].isoformat()] for d in due]).encode()
    ).hexdigest()[:16]
    if context.cursor == fingerprint:
        return dg.SkipReason("the due actions have not changed since the last launch")
    batch = 20
    n_runs = min(4, (len(due) + batch - 1) // batch)
    requests = [
        dg.RunRequest(
            run_key=f"due-{fingerprint}-{i}",
            run_config={"ops": {"claim_actions": {"config": {"dry_run": False, "max_actions": batch}}}},
            tags={"postpulse/due": str(len(due))},
        )
        for i in range(n_runs)
    ]
    return dg.SensorResult(run_requests=requests, cursor=fingerprint)


class ApprovalConfig(dg.Config):
    action_ids: list[str] = []
    decision: str = "approve"
    note: str | None = None
    all_queued: bool = False


@dg.op(
    description="Approve, reject or cancel queued actions (config: action_ids, decision, note, all_queued)."
)
def apply_approval_decisions(
    context: dg.OpExecutionContext, config: ApprovalConfig, store: PostgresStore
) -> dict:
    from postpulse.engagement import repository as repo

    with store.engine().begin() as conn:
        ids = list(config.action_ids)
        if config.all_queued:
            ids += [a["id"] for a in repo.list_actions(conn, status="queued", limit=10000)]
        if not ids:
            raise dg.Failure(
                "no action ids given: set action_ids (see the action_queue_overview asset) or all_queued"
            )
        out = repo.decide(
            conn, ids, config.decision, actor="dagster-ui", note=config.note, run_id=context.run_id
        )
    context.add_output_metadata({"decisions": dg.MetadataValue.json(out)})
    return out


@dg.job(
    description="Approve / reject / cancel queued actions from the UI.", tags={"postpulse/area": "engagement"}
)
def approve_actions():
    apply_approval_decisions()


class PauseConfig(dg.Config):
    paused: bool = True


@dg.op(description="Turn the global pause switch on (paused: true) or off (paused: false).")
def set_global_pause_op(context: dg.OpExecutionContext, config: PauseConfig, store: PostgresStore) -> bool:
    from postpulse.engagement import repository as repo

    with store.engine().begin() as conn:
        repo.set_global_pause(conn, config.paused, actor="dagster-ui", run_id=context.run_id)
    return config.paused


@dg.job(description="Global pause switch for all engagement actions.", tags={"postpulse/area": "engagement"})
def set_global_pause():
    set_global_pause_op()


class DmSyncConfig(dg.Config):
    accounts: list[str] = []


@dg.op(
    description="Sync DM threads/messages (encrypted) of authorized accounts with a stored session; "
    "honour opt-outs."
)
def sync_direct_messages(
    context: dg.OpExecutionContext,
    config: DmSyncConfig,
    store: PostgresStore,
    engagement_vault: VaultResource,
    engagement_browser: BrowserResource,
) -> dict:
    from sqlalchemy import text

    from postpulse.engagement.dm_sync import sync_account

    engine = store.engine()
    with engine.connect() as conn:
        ids = (
            conn.execute(
                text(
                    "SELECT id FROM accounts WHERE is_authorized AND is_active "
                    "AND session_encrypted IS NOT NULL "
                    "AND NOT needs_relogin AND (cardinality(CAST(:a AS text[])) = 0 "
                    "OR id = ANY(CAST(:a AS text[])) "
                    "OR username = ANY(CAST(:a AS text[])))"
                ),
                {"a": list(config.accounts)},
            )
            .scalars()
            .all()
        )
    totals = {"accounts": len(ids), "threads": 0, "new_messages": 0, "opt_outs": 0}
    if ids:
        vault = engagement_vault.vault(engine)
        with engagement_browser.launch() as browser:
            for acc in ids:
                c = sync_account(
                    engine,
                    vault,
                    acc,
                    browser=browser,
                    base_url=engagement_browser.base_url(),
                    run_id=context.run_id,
                )
                for k in ("threads", "new_messages", "opt_outs"):
                    totals[k] += c[k]
    context.add_output_metadata({k: v for k, v in totals.items()})
    return totals


@dg.job(
    description="Sync DMs from the platform into dm_threads/dm_messages (content encrypted).",
    tags={"postpulse/area": "engagement"},
)
def engagement_dm_sync():
    sync_direct_messages()


engagement_dm_sync_schedule = dg.ScheduleDefinition(
    job=engagement_dm_sync,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="DM sync every 15 minutes (STOPPED by default: it logs in with stored sessions).",
)


class RetentionConfig(dg.Config):
    dry_run: bool = False


@dg.op(
    description="Retention: audit entries and attempts 1 year, posts 90 days unless engaged, "
    "DM content redacted after 30 days, screenshots 7 days. Audited with counts."
)
def apply_retention(context: dg.OpExecutionContext, config: RetentionConfig, store: PostgresStore) -> dict:
    from postpulse.engagement.retention import run_retention
    from postpulse.publishing.media import remove_unused_media

    now = datetime.now(UTC)
    counts = run_retention(store.engine(), now, run_id=context.run_id, dry_run=config.dry_run)
    with store.engine().begin() as conn:  # media files no content item uses any more
        counts["media_removed"] = remove_unused_media(conn, now, dry_run=config.dry_run)
    context.add_output_metadata({k: v for k, v in counts.items()})
    return counts


@dg.job(description="Retention (nightly).", tags={"postpulse/area": "engagement"})
def engagement_retention():
    apply_retention()


engagement_retention_schedule = dg.ScheduleDefinition(
    job=engagement_retention,
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly retention at 03:15 UTC.",
)


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([queue_assets]),
    asset_checks=dg.load_asset_checks_from_modules([queue_assets]),
    jobs=[
        engagement_execute_actions,
        approve_actions,
        set_global_pause,
        engagement_dm_sync,
        engagement_retention,
    ],
    sensors=[engagement_due_actions_sensor],
    schedules=[engagement_dm_sync_schedule, engagement_retention_schedule],
    resources={
        "store": STORE,
        "engagement_vault": VaultResource(),
        "engagement_browser": BrowserResource(),
    },
)
