"""The engagement area in Dagster (graph, defaults, approval job, dry run, real run, sensor,
retention) and the CLI (accounts, actions, keys)."""

from __future__ import annotations

import base64
import os
import threading

import dagster as dg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.engagement import repository as repo
from postpulse.engagement.secrets import load_vault
from tests.engagement.conftest import action_row, make_account, posts_of, queue


@pytest.fixture
def env_key(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTPULSE_SECRET_KEY", "k1:" + base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    return load_vault(create=False)


def _resources(db_url, sandbox=None):
    from resources.browser import BrowserResource
    from resources.store import PostgresStore
    from resources.vault import VaultResource

    return {"store": PostgresStore(database_url=db_url), "engagement_vault": VaultResource(),
            "engagement_browser": BrowserResource(sandbox_url=sandbox.base_url if sandbox else None)}


def test_definitions_graph_and_defaults():
    from orchestration.definitions import defs
    from orchestration import engagement as eng

    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"engagement_execute_actions", "approve_actions", "set_global_pause", "engagement_dm_sync",
            "engagement_retention"} <= jobs
    job = defs.resolve_job_def("engagement_execute_actions")
    deps = {n: [d.node_name for ds in job.graph.dependency_structure.input_to_upstream_outputs_for_node(n).values()
                for d in ds] for n in ("claim_actions", "execute_actions", "verify_actions", "record_results")}
    assert deps == {"claim_actions": [], "execute_actions": ["claim_actions"], "verify_actions": ["execute_actions"],
                    "record_results": ["verify_actions"]}
    assert eng.engagement_due_actions_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert eng.engagement_dm_sync_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert eng.engagement_retention_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert eng.ExecuteConfig().dry_run is True


@pytest.mark.browser
def test_approve_dry_run_real_run_and_sensor(engine, db_url, env_key, sandbox, browser):
    from orchestration import engagement as eng

    acc = make_account(engine, env_key, sandbox, browser)
    pid = posts_of(sandbox, n=30)[20]
    aid = queue(engine, env_key, acc, "like", pid, approve=False)
    res = _resources(db_url, sandbox)
    out = eng.approve_actions.execute_in_process(
        run_config={"ops": {"apply_approval_decisions": {"config": {"action_ids": [aid], "decision": "approve"}}}},
        resources={"store": res["store"]})
    assert out.success and action_row(engine, aid)["approved_by"] == "dagster-ui"

    # the sensor sees the due action and launches a real (non-dry) run
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"store": res["store"]})
        result = eng.engagement_due_actions_sensor(ctx)
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
        cfg = result.run_requests[0].run_config["ops"]["claim_actions"]["config"]
        assert cfg["dry_run"] is False

    # default: dry run, nothing happens
    dry = eng.engagement_execute_actions.execute_in_process(resources=res)
    assert dry.success and action_row(engine, aid)["status"] == "approved"
    assert not sandbox.world.has_liked("x", "demo_x", pid)

    # (in a thread: this module's own Playwright already runs an event loop in the main thread)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", eng.engagement_execute_actions.execute_in_process(
        run_config={"ops": {"claim_actions": {"config": {"dry_run": False}}}}, resources=res)))
    t.start()
    t.join(120)
    real = box["r"]
    assert real.success
    assert real.output_for_node("record_results") == {"completed": 1}
    assert action_row(engine, aid)["status"] == "completed" and sandbox.world.has_liked("x", "demo_x", pid)

    ret = eng.engagement_retention.execute_in_process(resources={"store": res["store"]})
    assert ret.success

    pause = eng.set_global_pause.execute_in_process(resources={"store": res["store"]})
    assert pause.success
    with engine.connect() as conn:
        assert repo.is_globally_paused(conn)


def test_cli(store_env, engine, monkeypatch, tmp_path):
    from postpulse.cli import app

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    r = CliRunner()

    def ok(*args):
        res = r.invoke(app, list(args))
        assert res.exit_code == 0, res.output
        return res.output

    assert "acc-" in ok("accounts", "add", "--platform", "x", "--username", "demo_x")
    ok("accounts", "settings", "demo_x", "--no-quiet-hours", "--auto-approve", "follow")
    out = ok("actions", "add", "--account", "demo_x", "--type", "like", "--target", "123")
    aid = out.split()[0]
    assert "queued" in out
    assert "approved" in ok("actions", "add", "--account", "demo_x", "--type", "follow", "--to", "someone")
    ok("actions", "approve", aid)
    assert aid in ok("actions", "list", "--status", "approved")
    ok("actions", "pause")
    assert "global pause: True" in ok("actions", "status")
    ok("actions", "resume")
    out = ok("actions", "run")  # dry run: the account is not authorized
    assert "account_not_authorized" in out
    ok("accounts", "authorize", "demo_x")
    out = ok("actions", "add", "--account", "demo_x", "--type", "dm_send", "--to", "bob", "--text", "secret hello")
    dm = out.split()[0]
    assert "secret hello" not in ok("actions", "show", dm)
    ok("actions", "cancel", dm)
    bad = r.invoke(app, ["actions", "approve", dm])
    assert bad.exit_code == 1 and "skipped: is cancelled" in bad.output
    res = r.invoke(app, ["actions", "add", "--account", "demo_x", "--type", "comment", "--target", "1",
                         "--template", "nope"])
    assert res.exit_code == 1 and "no message template" in str(res.exception)  # main() prints it
    assert "action_queue.text" in ok("keys", "status")
    assert "posts_deleted" in ok("actions", "retention", "--dry-run")
    assert "demo_x" in ok("accounts", "list")
