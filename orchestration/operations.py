"""Operations: the nightly backup of the store (pg_dump custom format, the newest N kept) and
the alerts sensor (failed runs, frozen accounts, expired sessions, failing checks, overdue
check-backs, ...) with its daily digest. The logic lives in ``postpulse.backups`` and
``postpulse.alerts``; these are thin shells."""

import dagster as dg

from resources.store import PostgresStore


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

defs = dg.Definitions(jobs=[store_backup_job], schedules=[nightly_backup])
