"""Watchlists in Dagster: every watched profile is a partition of ``watched_profiles`` (a
dynamic partition set, so each profile's collections and failures show in the UI), collected by
the asset ``watched_profile_collection``; the ``watchlist_sensor`` keeps the partitions in step
with the watches table and requests a run for each watch that is due, unless its source's daily
budget is spent (then it says so). Thin shells over ``postpulse.watchlists``."""

import json
from datetime import UTC, datetime

import dagster as dg

from postpulse.errors import PostpulseError
from postpulse.watchlists.collect import collect_watch
from postpulse.watchlists.store import budget, due_watches, get_source, list_watches
from resources.run_tags import PLATFORM_TAG
from resources.store import STORE, PostgresStore

WATCH_PARTITIONS = "watched_profiles"
WATCH_INTERVAL_S = 300

watched_profiles = dg.DynamicPartitionsDefinition(name=WATCH_PARTITIONS)


def add_watch_partitions(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """Add the watches' partitions to the instance (what `postpulse watch add` does); returns
    the keys that were new."""
    have = set(instance.get_dynamic_partitions(WATCH_PARTITIONS))
    new = [k for k in keys if k not in have]
    if new:
        instance.add_dynamic_partitions(WATCH_PARTITIONS, new)
    return new


def remove_watch_partition(instance: dg.DagsterInstance, key: str) -> None:
    if instance.has_dynamic_partition(WATCH_PARTITIONS, key):
        instance.delete_dynamic_partition(WATCH_PARTITIONS, key)


@dg.asset(
    partitions_def=watched_profiles,
    group_name="watchlists",
    kinds={"apify", "postgres"},
    description="One collection of a watched profile (partition = platform:username) through its source: "
    "posts, snapshots and a profile snapshot imported as a download run; paused with a notice when the "
    "source's daily budget is spent. Watches: `postpulse watch add`.",
)
def watched_profile_collection(
    context: dg.AssetExecutionContext, store: PostgresStore
) -> dg.MaterializeResult:
    try:
        res = collect_watch(store.engine(), context.partition_key, dagster_run_id=context.run_id)
    except PostpulseError as exc:
        raise dg.Failure(description=str(exc)) from None
    if res.status == "paused":
        context.log.warning(res.message)
    else:
        context.log.info(res.message)
    metadata = {"status": res.status, "notice": res.message, "results": dg.MetadataValue.int(res.items)}
    if res.run_id:
        metadata["download_run"] = res.run_id
    if res.budget is not None:
        metadata["results_left_today"] = dg.MetadataValue.int(res.budget.results_left)
        metadata["estimated_cost_today"] = dg.MetadataValue.float(round(res.budget.cost_used, 4))
    return dg.MaterializeResult(metadata=metadata)


collect_watched_profiles = dg.define_asset_job(
    "collect_watched_profiles",
    selection=dg.AssetSelection.assets(watched_profile_collection),
    partitions_def=watched_profiles,
    description="Collect one watched profile (a partition of watched_profiles).",
    tags={"postpulse/source": "watch"},
)


@dg.sensor(
    job=collect_watched_profiles,
    minimum_interval_seconds=WATCH_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: adds a partition for each new watch (and drops removed ones), then "
    "requests a collection for each watch that is due (its interval passed), one run per profile; a "
    "source whose daily budget is spent is skipped with a notice.",
)
def watchlist_sensor(context: dg.SensorEvaluationContext, store: PostgresStore):
    now = datetime.now(UTC)
    with store.engine().connect() as conn:
        watches = list_watches(conn)
        due = due_watches(conn, now)
        spent = {}
        for src_id in {w["source_id"] for w in due}:
            used = budget(conn, get_source(conn, src_id), now)
            if used.spent:
                spent[src_id] = used.notice(next(w["source"] for w in due if w["source_id"] == src_id))
    keys = {w["key"] for w in watches}
    have = set(context.instance.get_dynamic_partitions(WATCH_PARTITIONS))
    partition_requests = []
    if keys - have:
        partition_requests.append(watched_profiles.build_add_request(sorted(keys - have)))
    if have - keys:
        partition_requests.append(watched_profiles.build_delete_request(sorted(have - keys)))
    stamp = now.strftime("%Y%m%dT%H")
    runs = [
        dg.RunRequest(
            run_key=f"watch-{w['key']}-{stamp}",
            partition_key=w["key"],
            tags={PLATFORM_TAG: w["platform"], "postpulse/watch_source": w["source"]},
        )
        for w in due
        if w["source_id"] not in spent
    ]
    cursor = json.dumps({"last_tick": now.isoformat(), "due": len(due), "paused_sources": len(spent)})
    notes = list(spent.values())
    if not runs:
        return dg.SensorResult(
            skip_reason="; ".join(notes) or "no watched profile is due",
            dynamic_partitions_requests=partition_requests,
            cursor=cursor,
        )
    for note in notes:
        context.log.warning(note)
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=partition_requests, cursor=cursor)


defs = dg.Definitions(
    assets=[watched_profile_collection],
    jobs=[collect_watched_profiles],
    sensors=[watchlist_sensor],
    resources={"store": STORE},
)
