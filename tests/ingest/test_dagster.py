"""The ingest area in Dagster: graph, the import asset/job, sensors, the check-back job."""

import os
import time

import dagster as dg
from dagster import DagsterInstance, build_sensor_context
from sqlalchemy import text

from assets.ingest.file_import import file_import
from orchestration.definitions import defs
from orchestration.ingest import checkback_sensor, drop_folder_sensor, sandbox_source_sensor
from postpulse.ingest.loader import sha256_file
from postpulse.ingest.sandbox_source import pull_platform
from postpulse.sandbox.server import SandboxServer
from resources.sandbox import SandboxResource
from resources.store import PostgresStore
from tests.ingest.helpers import T0, apify_name, count, scraper_items, store_snapshot, write_json


def test_graph():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"download_runs", "data_downloads", "posts", "profiles", "comments"} <= keys
    for k in ("download_runs", "data_downloads", "posts"):
        node = repo.asset_graph.get(dg.AssetKey(k))
        assert node.group_name == "ingest" and node.description
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {"import_file", "sandbox_pull", "apify_import", "checkback"} <= jobs
    sensors = {s.name: s for s in repo.sensor_defs}
    for name in ("drop_folder_sensor", "sandbox_source_sensor", "checkback_sensor"):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING
    assert {"apify", "sandbox", "store"} <= set(repo.get_top_level_resources())


def test_file_import_materializes_with_metadata(db_url, engine, tmp_path):
    f = write_json(tmp_path / apify_name("tweet-scraper", T0), scraper_items("x"))
    result = dg.materialize(
        [file_import],
        resources={"store": PostgresStore(database_url=db_url)},
        run_config={"ops": {"file_import": {"config": {"path": str(f)}}}},
    )
    assert result.success
    mats = {
        m.asset_key.to_user_string(): m
        for m in result.get_asset_materialization_events()
        and [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    }
    assert set(mats) == {"download_runs", "data_downloads", "posts", "profiles", "comments"}
    md = mats["posts"].metadata
    assert md["rows_new"].value == 12 and md["rows_rejected"].value == 0
    assert md["run_id"].value.startswith("run-") and "| post_id |" in md["preview"].value
    assert md["source"].value == str(f.resolve())
    assert mats["data_downloads"].metadata["dagster/row_count"].value == 12


def test_rejected_records_are_shown_in_the_run_metadata(db_url, engine, tmp_path):
    items = scraper_items("x")
    items[1] = {**items[1], "likeCount": -5}
    items[3] = {k: v for k, v in items[3].items() if k != "id"}
    f = write_json(tmp_path / apify_name("tweet-scraper", T0), items)
    result = dg.materialize(
        [file_import],
        resources={"store": PostgresStore(database_url=db_url)},
        run_config={"ops": {"file_import": {"config": {"path": str(f)}}}},
    )
    assert result.success
    md = {
        m.asset_key.to_user_string(): m.metadata
        for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
    }["download_runs"]
    assert md["rows_rejected"].value == 2 and md["rows_new"].value == len(items) - 2
    table = md["rejected_records"].value
    lines = [ln for ln in table.splitlines() if ln.startswith(f"| {f.name} |")]
    assert len(lines) == 2
    assert lines[0].startswith(f"| {f.name} | 1 |") and "negative" in lines[0]
    assert lines[1].startswith(f"| {f.name} | 3 |") and "id" in lines[1]


def test_import_job_in_process_and_bad_file_fails_cleanly(store_env, engine, tmp_path):
    job = defs.resolve_job_def("import_file")
    f = write_json(tmp_path / apify_name("instagram-scraper", T0), scraper_items("instagram"))
    res = job.execute_in_process(
        run_config={"ops": {"file_import": {"config": {"path": str(f)}}}},
        instance=DagsterInstance.ephemeral(),
    )
    assert res.success and count(engine, "data_downloads") == 12
    before = store_snapshot(engine)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "1", "likesCount": ')
    res = job.execute_in_process(
        run_config={"ops": {"file_import": {"config": {"path": str(bad)}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    assert (
        "nothing stored" in failure.step_failure_data.error.message
        and "bad.json" in failure.step_failure_data.error.message
    )
    assert store_snapshot(engine) == before


def _old(path):
    t = time.time() - 60
    os.utime(path, (t, t))
    return path


def test_drop_folder_sensor_and_archive(store_env, engine, tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    monkeypatch.setenv("POSTPULSE_DROP_DIR", str(drop))
    drop.mkdir()
    good = _old(write_json(drop / apify_name("tweet-scraper", T0), scraper_items("x")))
    bad = drop / "broken.json"
    bad.write_text("[{")
    _old(bad)
    store = PostgresStore(database_url=store_env)
    instance = DagsterInstance.ephemeral()
    res = drop_folder_sensor(build_sensor_context(instance=instance, resources={"store": store}))
    assert isinstance(res, dg.SensorResult) and len(res.run_requests) == 2
    keys = {r.run_key for r in res.run_requests}
    assert sha256_file(good)[0] in keys
    assert all(r.tags["postpulse/platform"] for r in res.run_requests)
    # the next tick with the cursor does not ask again
    res2 = drop_folder_sensor(
        build_sensor_context(instance=instance, resources={"store": store}, cursor=res.cursor)
    )
    assert not res2.run_requests
    job = defs.resolve_job_def("import_file")
    for rr in res.run_requests:
        job.execute_in_process(run_config=rr.run_config, instance=instance, raise_on_error=False)
    assert (drop / "archive" / good.name).exists() and not good.exists()
    assert (drop / "failed" / "broken.json").exists()
    err = (drop / "failed" / "broken.json.error.txt").read_text()
    assert "broken.json" in err
    # the same content dropped again: archived as already imported, no run
    again = drop / "copy.json"
    again.write_bytes((drop / "archive" / good.name).read_bytes())
    _old(again)
    res3 = drop_folder_sensor(build_sensor_context(instance=instance, resources={"store": store}))
    assert not res3.run_requests and (drop / "archive" / "copy.json").exists()


def test_sandbox_source_sensor():
    on = sandbox_source_sensor(
        build_sensor_context(
            instance=DagsterInstance.ephemeral(),
            resources={"sandbox": SandboxResource(base_url="http://127.0.0.1:9")},
        )
    )
    assert len(on.run_requests) == 5
    assert {r.tags["postpulse/platform"] for r in on.run_requests} == {
        "linkedin",
        "instagram",
        "tiktok",
        "x",
        "threads",
    }
    off = sandbox_source_sensor(
        build_sensor_context(
            instance=DagsterInstance.ephemeral(), resources={"sandbox": SandboxResource(base_url="")}
        )
    )
    assert isinstance(off, dg.SkipReason)


def test_checkback_sensor_and_job(db_url, engine, tmp_path, monkeypatch):
    with SandboxServer(seed=2) as sb:
        for p in ("tiktok", "threads"):
            pull_platform(engine, p, base_url=sb.base_url, out_dir=tmp_path / p)
        with engine.begin() as c:  # make some posts due now
            c.execute(
                text(
                    "UPDATE posts SET next_check_at = now() - interval '1 minute' WHERE NOT tracking_complete"
                )
            )
            due = c.execute(
                text("SELECT platform, count(*) FROM posts WHERE NOT tracking_complete GROUP BY 1")
            ).all()
        store = PostgresStore(database_url=db_url)
        instance = DagsterInstance.ephemeral()
        res = checkback_sensor(build_sensor_context(instance=instance, resources={"store": store}))
        assert len(res.run_requests) == len(due)  # one run per platform, never one per post
        assert all(r.run_key.startswith("checkback-") for r in res.run_requests)
        assert sum(
            len(r.run_config["ops"]["checkback_op"]["config"]["post_ids"]) for r in res.run_requests
        ) == sum(n for _, n in due)
        res2 = checkback_sensor(
            build_sensor_context(instance=instance, resources={"store": store}, cursor=res.cursor)
        )
        assert not res2.run_requests  # leased: a repeated tick does not ask again
        monkeypatch.setenv("DATABASE_URL", db_url)
        monkeypatch.setenv("POSTPULSE_SANDBOX_URL", sb.base_url)
        job = defs.resolve_job_def("checkback")
        before = count(engine, "data_downloads")
        for rr in res.run_requests:
            out = job.execute_in_process(run_config=rr.run_config, instance=instance, tags=rr.tags)
            assert out.success
            mats = [e.event_specific_data.materialization for e in out.get_asset_materialization_events()]
            assert {m.asset_key.to_user_string() for m in mats} >= {
                "posts",
                "data_downloads",
                "download_runs",
            }
        assert count(engine, "data_downloads") == before + sum(n for _, n in due)
