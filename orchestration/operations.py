"""Operations: the nightly backup of the store (pg_dump custom format, the newest N kept) and
the alerts sensor (failed runs, frozen accounts, expired sessions, failing checks, overdue
check-backs, ...) with its daily digest. The logic lives in ``postpulse.backups`` and
``postpulse.alerts``; these are thin shells."""

import dagster as dg

from orchestration.analytics import daily_metrics_job
from resources.run_tags import SERIAL_TAG
from resources.store import STORE, PostgresStore

#: runs with the same value of this tag run one at a time (dagster.yaml written by `postpulse up`)


class BackupConfig(dg.Config):
    directory: str = ""  # empty: POSTPULSE_BACKUP_DIR, else $POSTPULSE_HOME/backups
    keep: int = 0  # 0: POSTPULSE_BACKUP_KEEP, else 7


@dg.op(
    description="pg_dump the store (custom format) into the backup folder, then keep the newest N.",
    out=dg.Out(str, description="the backup file"),
)
def backup_store(context: dg.OpExecutionContext, config: BackupConfig, store: PostgresStore):
    from pathlib import Path

    from postpulse import backups

    folder = Path(config.directory).expanduser() if config.directory else None
    b = backups.backup(store.urls.app, folder)
    gone = backups.prune(folder, config.keep or None)
    context.log.info(f"backup {b.path.name}: {b.size} bytes; {len(gone)} old backup(s) deleted")
    return dg.Output(
        str(b.path),
        metadata={
            "file": dg.MetadataValue.path(str(b.path)),
            "bytes": b.size,
            "seconds": round(b.seconds, 2),
            "deleted_old_backups": len(gone),
            "kept": len(backups.list_backups(folder)),
        },
    )


@dg.job(
    description="Back up the store now (pg_dump custom format; the key file is not in it).",
    tags={"postpulse/area": "operations"},
)
def store_backup_job():
    backup_store()


nightly_backup = dg.ScheduleDefinition(
    name="nightly_backup",
    job=store_backup_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly at 03:30 UTC: back up the store, keep the newest POSTPULSE_BACKUP_KEEP (default 7).",
)


def _alerts():
    from postpulse import alerts
    from postpulse.alerts.channels import channels_for

    cfg = alerts.load_config()
    return alerts, cfg, channels_for(cfg)


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Raises an alert (once per run) for every failed run, with a link to it; sent through "
    "the channels of alerts.toml.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, store: PostgresStore):
    alerts, cfg, channels = _alerts()
    run = context.dagster_run
    message = context.failure_event.message or ""
    with store.engine().begin() as conn:
        alerts.record(conn, [alerts.run_failed_alert(run.run_id, run.job_name, message, cfg)])
    sent = alerts.deliver_pending(store.engine(), channels)
    context.log.info(f"alert for failed run {run.run_id}: {sent}")


def failing_checks(context: dg.SensorEvaluationContext, cfg) -> list:
    """The latest execution of every asset check of this code location that failed."""
    from postpulse.alerts import check_failed_alert

    if context.repository_def is None:
        return []
    keys = list(context.repository_def.asset_graph.asset_check_keys)
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys) if keys else {}
    out = []
    for key, rec in latest.items():
        if rec.status.value != "FAILED":  # an explicit failed result (not planned, not passed)
            continue
        ev = rec.evaluation
        severity = ev.severity.value if ev is not None else "ERROR"
        description = ev.description if ev is not None else None
        out.append(
            check_failed_alert(
                key.asset_key.to_user_string(), key.name, rec.run_id, description, severity, cfg
            )
        )
    return out


@dg.sensor(
    name="alerts_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Raises alerts (once each) for frozen accounts, expired sessions, failing asset checks, "
    "overdue check-backs and watches over budget, and the daily digest per workspace; records them in "
    "the alerts table and sends them through the channels of alerts.toml.",
)
def alerts_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    from datetime import UTC, datetime

    alerts, cfg, channels = _alerts()
    now = datetime.now(UTC)
    found = failing_checks(context, cfg)
    engine = store.engine()
    with engine.begin() as conn:
        found += alerts.collect(
            conn,
            now,
            cfg,
            on_error=lambda name, exc: context.log.warning(f"alert source {name} failed: {exc}"),
        )
        new = alerts.record(conn, found, now)
    sent = alerts.deliver_pending(engine, channels, now)
    if not channels:
        from postpulse.alerts.config import config_path

        return dg.SkipReason(
            f"{len(new)} new alert(s) recorded; no channels configured (see {config_path()})"
        )
    return dg.SkipReason(f"{len(new)} new alert(s); {sent['sent']} sent, {sent['failed']} channel error(s)")


FRESH_EVERY_SECONDS = 600


@dg.sensor(
    name="daily_metrics_today_sensor",
    job=daily_metrics_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Materializes today's daily_metrics partition as soon as today's snapshots arrive (the "
    "first import of a new store shows today's metrics within minutes), then at most every 10 minutes "
    "while new snapshots keep coming.",
)
def daily_metrics_today_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    import json
    from datetime import UTC, datetime

    from assets.analytics.daily_metrics import daily_partitions
    from postpulse.freshness import latest_snapshot_on

    now = datetime.now(UTC)
    today = now.date()
    if today < daily_partitions.start.date():
        return dg.SkipReason(f"daily_metrics partitions start on {daily_partitions.start:%Y-%m-%d}")
    with store.engine().connect() as conn:
        latest = latest_snapshot_on(conn, today)
    if latest is None:
        return dg.SkipReason("no snapshots today yet")
    state = json.loads(context.cursor) if context.cursor else {}
    mark = f"{today}:{latest.isoformat()}"
    if state.get("mark") == mark:
        return dg.SkipReason("no new snapshots since the last run")
    if state.get("day") == today.isoformat() and now.timestamp() - state.get("at", 0) < FRESH_EVERY_SECONDS:
        return dg.SkipReason("new snapshots; today's partition was refreshed less than 10 minutes ago")
    cursor = json.dumps({"mark": mark, "day": today.isoformat(), "at": now.timestamp()})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"daily_metrics-today-{mark}",
                partition_key=today.isoformat(),
                tags={SERIAL_TAG: "daily_metrics"},
            )
        ],
        cursor=cursor,
    )


defs = dg.Definitions(
    jobs=[store_backup_job],
    schedules=[nightly_backup],
    sensors=[alert_on_run_failure, alerts_sensor, daily_metrics_today_sensor],
    resources={"store": STORE},
)
