"""Ingestion in Dagster: the import job, the drop-folder sensor, the Apify and sandbox pulls, and
the check-backs (sensor + job). Thin shells over ``postpulse.ingest`` and ``postpulse.checkbacks``.

Runs carry the tag ``postpulse/platform`` (the launcher's dagster.yaml limits concurrent runs per
value).
"""

import json
import time as _time
from datetime import UTC, datetime

import dagster as dg

from assets.ingest import file_import as file_import_module
from assets.ingest.metadata import materializations, table_rows
from postpulse.checkbacks.apify_fetcher import ApifyFetcher, RoutingFetcher
from postpulse.checkbacks.due import DEFAULT_BATCH, claim_batches
from postpulse.checkbacks.fetchers import SandboxFetcher
from postpulse.checkbacks.runner import DEFAULT_CONCURRENCY, run_checkbacks
from postpulse.checkbacks.youtube_fetcher import youtube_fetcher_from_env
from postpulse.errors import PostpulseError
from postpulse.ingest import drop
from postpulse.ingest.loader import existing_run_for_hash, import_file_as_pull
from postpulse.ingest.sandbox_source import SANDBOX_ACTORS, pull_platform
from resources.apify import ApifyResource, checkback_apify_client
from resources.run_tags import PLATFORM_TAG
from resources.sandbox import SandboxResource
from resources.store import STORE, PostgresStore

SANDBOX_INTERVAL_S = 600
CHECKBACK_INTERVAL_S = 60
DROP_INTERVAL_S = 30

import_file_job = dg.define_asset_job(
    "import_file",
    selection=dg.AssetSelection.assets(file_import_module.file_import),
    description="Import one file (config: path, format, captured_at). A bad file fails the run with the "
    "reason and stores nothing.",
)


# ----------------------------------------------------------------------------- sandbox pull


class SandboxPullConfig(dg.Config):
    platform: str
    limit_per_profile: int | None = None


@dg.op(description="Pull one sandbox platform through its Apify-style actor and import the dataset.")
def sandbox_pull_op(
    context: dg.OpExecutionContext, config: SandboxPullConfig, store: PostgresStore, sandbox: SandboxResource
) -> None:
    url = sandbox.url()
    if not url:
        raise dg.Failure(description="no sandbox configured: set POSTPULSE_SANDBOX_URL (postpulse up does)")
    run_input = {"resultsLimit": config.limit_per_profile} if config.limit_per_profile else {}
    try:
        pulled = pull_platform(
            store.engine(),
            config.platform,
            base_url=url,
            token=sandbox.apify_token,
            run_input=run_input,
            dagster_run_id=context.run_id,
        )
    except PostpulseError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info("%s: %s items -> %s", config.platform, pulled.items, pulled.result.message)
    for m in materializations(
        pulled.result, f"sandbox pull of {config.platform}", table_rows(store.engine())
    ):
        context.log_event(m)


@dg.job(
    description="Pull one platform of the sandbox (the demo's live source) and import it, with "
    "check-back tracking on.",
    tags={"postpulse/source": "sandbox"},
)
def sandbox_pull():
    sandbox_pull_op()


@dg.sensor(
    job=sandbox_pull,
    minimum_interval_seconds=SANDBOX_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 10 minutes (first tick right after start): one sandbox pull per platform, "
    "so `postpulse up` shows data flowing. Idle without POSTPULSE_SANDBOX_URL.",
)
def sandbox_source_sensor(context: dg.SensorEvaluationContext, sandbox: SandboxResource):
    if not sandbox.url():
        return dg.SkipReason("no sandbox (POSTPULSE_SANDBOX_URL is not set)")
    bucket = int(_time.time()) // SANDBOX_INTERVAL_S
    requests = [
        dg.RunRequest(
            run_key=f"sandbox-{platform}-{bucket}",
            job_name="sandbox_pull",
            run_config={"ops": {"sandbox_pull_op": {"config": {"platform": platform}}}},
            tags={PLATFORM_TAG: platform},
        )
        for platform in SANDBOX_ACTORS
    ]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"last_bucket": bucket}))


# ----------------------------------------------------------------------------- Apify


class ApifyImportConfig(dg.Config):
    actor_id: str
    run_input: dict = {}
    platform: str | None = None
    track: bool = False


@dg.op(description="Run an Apify actor, page its dataset and import it as one download run.")
def apify_import_op(
    context: dg.OpExecutionContext, config: ApifyImportConfig, store: PostgresStore, apify: ApifyResource
) -> None:
    from postpulse import config as pp_config
    from postpulse.ingest.apify import pull_actor

    out = pp_config.data_dir() / "downloads" / "apify"
    try:
        with apify.client() as client:
            pulled = pull_actor(client, config.actor_id, config.run_input, out)
        res = import_file_as_pull(
            store.engine(),
            pulled.path,
            source_kind="apify",
            platform=config.platform,
            apify_run_id=pulled.run.id,
            actor_id=config.actor_id,
            track=config.track,
            dagster_run_id=context.run_id,
        )
    except PostpulseError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(res.message)
    for m in materializations(res, f"Apify actor {config.actor_id}", table_rows(store.engine())):
        context.log_event(m)


@dg.job(
    description="Import an Apify actor's dataset (token: APIFY_TOKEN; API: APIFY_BASE_URL).",
    tags={"postpulse/source": "apify"},
)
def apify_import():
    apify_import_op()


# ----------------------------------------------------------------------------- drop folder


@dg.sensor(
    job=import_file_job,
    minimum_interval_seconds=DROP_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the drop folder (POSTPULSE_DROP_DIR or <POSTPULSE_HOME>/drop): each new file "
    "becomes one import run (run_key = its SHA-256); afterwards it moves to archive/ or "
    "failed/ (with the error beside it).",
)
def drop_folder_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    def already_imported(sha: str) -> str | None:
        with store.engine().connect() as conn:
            return existing_run_for_hash(conn, sha)

    found = drop.scan(context.cursor, already_imported)
    requests = [
        dg.RunRequest(
            run_key=r.sha256,
            job_name="import_file",
            run_config={"ops": {"file_import": {"config": {"path": str(r.path), "move_after": True}}}},
            tags={
                PLATFORM_TAG: drop.platform_guess(r.path),
                "postpulse/source": "drop",
                "postpulse/file": r.path.name[:200],
            },
        )
        for r in found.requests
    ]
    if not requests:
        return dg.SensorResult(
            skip_reason="; ".join(found.notes) or f"no new files in {found.root}", cursor=found.cursor
        )
    return dg.SensorResult(run_requests=requests, cursor=found.cursor)


# ----------------------------------------------------------------------------- check-backs


class CheckbackConfig(dg.Config):
    platform: str
    post_ids: list[str]
    max_concurrency: int = DEFAULT_CONCURRENCY


@dg.op(description="Fetch the batch's posts concurrently, store snapshots, advance their schedules.")
def checkback_op(
    context: dg.OpExecutionContext, config: CheckbackConfig, store: PostgresStore, sandbox: SandboxResource
) -> None:
    if config.platform == "bluesky":  # the AT Protocol API: getPosts, 25 posts a call
        from postpulse.bluesky.checkbacks import run_bluesky_checkbacks

        res = run_bluesky_checkbacks(
            store.engine(),
            config.post_ids,
            max_concurrency=config.max_concurrency,
            dagster_run_id=context.run_id,
        )
        _log_checkback(context, config.platform, res, store.engine())
        return
    url = sandbox.url()
    apify = checkback_apify_client()
    youtube = youtube_fetcher_from_env(store.engine())
    if not url and apify is None and youtube is None:
        raise dg.Failure(
            description="no platform client: neither the sandbox (POSTPULSE_SANDBOX_URL), Apify "
            "(APIFY_TOKEN) nor the YouTube Data API (POSTPULSE_YOUTUBE_API_KEY) is configured; "
            "the posts stay due and are retried later"
        )
    fetcher = RoutingFetcher(
        SandboxFetcher(url) if url else None, ApifyFetcher(apify) if apify else None, youtube
    )
    try:
        res = run_checkbacks(
            store.engine(),
            config.post_ids,
            fetcher,
            max_concurrency=config.max_concurrency,
            platform=config.platform,
            dagster_run_id=context.run_id,
        )
    finally:
        fetcher.close()
    _log_checkback(context, config.platform, res, store.engine())


def _log_checkback(context: dg.OpExecutionContext, platform: str, res, engine=None) -> None:
    context.log.info(
        "%s: %s checked, %s deleted, %s failed, %s complete (run %s)",
        platform,
        res.checked,
        res.deleted,
        res.failed,
        res.completed_tracking,
        res.run_id,
    )
    if res.import_result is not None:
        rows = table_rows(engine) if engine is not None else None
        for m in materializations(res.import_result, f"check-back of {res.posts} {platform} posts", rows):
            context.log_event(m)


@dg.job(
    description="Check back on one batch of due posts of one platform.",
    tags={"postpulse/source": "checkback"},
)
def checkback():
    checkback_op()


@dg.sensor(
    job=checkback,
    minimum_interval_seconds=CHECKBACK_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute: the due tracked posts (next_check_at <= now), one run per platform with up "
    "to 500 posts (run_key from the batch); the batch is leased for 15 minutes so a queued run "
    "is not requested twice.",
)
def checkback_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    now = datetime.now(UTC)
    with store.engine().begin() as conn:
        batches = claim_batches(conn, now, batch_size=DEFAULT_BATCH)
    state = json.loads(context.cursor) if context.cursor else {}
    state["last_tick"] = now.isoformat()
    state["last_batches"] = {b.platform: len(b.post_ids) for b in batches}
    if not batches:
        return dg.SensorResult(skip_reason="no posts due", cursor=json.dumps(state))
    requests = [
        dg.RunRequest(
            run_key=b.run_key,
            job_name="checkback",
            run_config={
                "ops": {"checkback_op": {"config": {"platform": b.platform, "post_ids": b.post_ids}}}
            },
            tags={PLATFORM_TAG: b.platform, "postpulse/posts": str(len(b.post_ids))},
        )
        for b in batches
    ]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state))


defs = dg.Definitions(
    assets=[file_import_module.file_import],
    jobs=[import_file_job, sandbox_pull, apify_import, checkback],
    sensors=[drop_folder_sensor, sandbox_source_sensor, checkback_sensor],
    resources={
        "store": STORE,
        "apify": ApifyResource(token=dg.EnvVar("APIFY_TOKEN")),
        "sandbox": SandboxResource(),
    },
)
