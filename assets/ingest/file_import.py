"""Importing one file: the multi-asset behind the ``import_file`` job and the drop-folder sensor."""

from datetime import datetime

import dagster as dg

from assets.ingest.metadata import INGEST_KEYS, metadata_for, table_rows
from postpulse.errors import PostpulseError
from postpulse.ingest import drop
from postpulse.ingest.loader import import_file
from resources.store import PostgresStore

DESCRIPTIONS = {
    "download_runs": "Every import, API pull and check-back as one run (`run-…`): source, SHA-256, format, "
    "capture time and where it came from, counts fetched/new/updated/rejected, system info.",
    "data_downloads": "The metrics time series: one snapshot (`dl-…`) of one post's counts per capture time, "
    "append-only, deduplicated on (post_id, downloaded_at).",
    "posts": "One row per platform post (`p-…`), upserted on (platform, platform_post_id): content, author, "
    "latest counts, first_seen_at / last_extracted_at, check-back schedule.",
    "profiles": "Authors seen in imports (`prf-…`), upserted on (platform, platform_user_id or username).",
    "comments": "Comments and replies (`cmt-…`), upserted on (platform, platform_comment_id), "
    "parents resolved.",
}


class ImportFileConfig(dg.Config):
    """Which file to import. A bad file fails the run and stores nothing."""

    path: str
    format: str | None = None
    captured_at: str | None = None
    mapping_paths: list[str] = []
    track: bool = False
    move_after: bool = False
    """Drop-folder mode: move the file to ``archive/`` (or ``failed/`` with the error) afterwards."""


@dg.multi_asset(
    name="file_import",
    specs=[
        dg.AssetSpec(k, group_name="ingest", kinds={"postgres"}, description=DESCRIPTIONS[k])
        for k in INGEST_KEYS
    ],
    description="Import one scraper export (JSON, JSONL, CSV, gzip; format detected) as one download run.",
)
def file_import(context: dg.AssetExecutionContext, config: ImportFileConfig, store: PostgresStore):
    captured = None
    if config.captured_at:
        try:
            captured = datetime.fromisoformat(config.captured_at.replace("Z", "+00:00"))
        except ValueError:
            raise dg.Failure(
                description=f"captured_at {config.captured_at!r} is not an ISO 8601 time "
                "(e.g. 2025-09-21T13:10:57Z)"
            ) from None
    try:
        res = import_file(
            store.engine(),
            config.path,
            format=config.format,
            captured_at=captured,
            mapping_paths=config.mapping_paths,
            track=config.track,
            dagster_run_id=context.run_id,
        )
    except PostpulseError as exc:
        if config.move_after:
            drop.move_failed(config.path, str(exc))
        raise dg.Failure(description=f"import failed, nothing stored: {exc}") from None
    if config.move_after:
        drop.move_done(config.path, res.message)
    context.log.info(res.message)
    rows = table_rows(store.engine())
    for key in INGEST_KEYS:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata_for(key, res, rows))
