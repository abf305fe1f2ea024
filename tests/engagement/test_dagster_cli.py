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

    return {
        "store": PostgresStore(database_url=db_url),
        "engagement_vault": VaultResource(),
        "engagement_browser": BrowserResource(sandbox_url=sandbox.base_url if sandbox else None),
    }


def test_definitions_graph_and_defaults():
    from orchestration import engagement as eng
    from orchestration.definitions import defs

    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {
        "engagement_execute_actions",
        "approve_actions",
        "set_global_pause",
        "engagement_dm_sync",
        "engagement_retention",
    } <= jobs
    job = defs.resolve_job_def("engagement_execute_actions")
    deps = {
        n: [
            d.node_name
            for ds in job.graph.dependency_structure.input_to_upstream_outputs_for_node(n).values()
            for d in ds
        ]
        for n in ("claim_actions", "execute_actions", "verify_actions", "record_results")
    }
    assert deps == {
        "claim_actions": [],
        "execute_actions": ["claim_actions"],
        "verify_actions": ["execute_actions"],
        "record_results": ["verify_actions"],
    }
    assert eng.engagement_due_actions_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert eng.engagement_dm_sync_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert eng.engagement_retention_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert eng.ExecuteConfig().dry_run is True
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert ("action_queue_overview", "engagement_accounts_ok") in checks


@pytest.mark.browser
def test_approve_dry_run_real_run_and_sensor(engine, db_url, env_key, sandbox, browser):
    from orchestration import engagement as eng

    acc = make_account(engine, env_key, sandbox, browser)
    pid = posts_of(sandbox, n=30)[20]
    aid = queue(engine, env_key, acc, "like", pid, approve=False)
    res = _resources(db_url, sandbox)
    out = eng.approve_actions.execute_in_process(
        run_config={
            "ops": {"apply_approval_decisions": {"config": {"action_ids": [aid], "decision": "approve"}}}
        },
        resources={"store": res["store"]},
    )
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
    t = threading.Thread(
        target=lambda: box.setdefault(
            "r",
            eng.engagement_execute_actions.execute_in_process(
                run_config={"ops": {"claim_actions": {"config": {"dry_run": False}}}}, resources=res
            ),
        )
    )
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
    out = ok(
        "actions", "add", "--account", "demo_x", "--type", "dm_send", "--to", "bob", "--text", "secret hello"
    )
    dm = out.split()[0]
    assert "secret hello" not in ok("actions", "show", dm)
    ok("actions", "cancel", dm)
    bad = r.invoke(app, ["actions", "approve", dm])
    assert bad.exit_code == 1 and "skipped: is cancelled" in bad.output
    res = r.invoke(
        app,
        ["actions", "add", "--account", "demo_x", "--type", "comment", "--target", "1", "--template", "nope"],
    )
    assert res.exit_code == 1 and "no message template" in str(res.exception)  # main() prints it
    assert "action_queue.text" in ok("keys", "status")
    assert "posts_deleted" in ok("actions", "retention", "--dry-run")
    assert "demo_x" in ok("accounts", "list")


def test_ui_reject_cancel_and_approve_all(engine, db_url):
    """The approve_actions job (the Dagster UI's launchpad) rejects, cancels and approves-all."""
    from orchestration import engagement as eng

    with engine.begin() as conn:
        acc = repo.add_account(conn, platform="x", username="demo_x", authorize=True)["id"]
    ids = [queue(engine, None, acc, "like", str(n), approve=False) for n in range(4)]
    with engine.begin() as conn:
        repo.decide(conn, [ids[1]], "approve", actor="test")
    store = _resources(db_url)["store"]

    def launch(cfg):
        return eng.approve_actions.execute_in_process(
            run_config={"ops": {"apply_approval_decisions": {"config": cfg}}},
            resources={"store": store},
            raise_on_error=False,
        )

    out = launch({"action_ids": [ids[0]], "decision": "reject", "note": "off-brand"})
    assert out.success and out.output_for_node("apply_approval_decisions") == {ids[0]: "rejected"}
    assert launch(
        {"action_ids": [ids[1]], "decision": "cancel"}
    ).success  # an approved action can be cancelled
    out = launch({"all_queued": True, "decision": "approve"})
    assert out.output_for_node("apply_approval_decisions") == {ids[2]: "approved", ids[3]: "approved"}
    rows = {i: action_row(engine, i) for i in ids}
    assert [rows[i]["status"] for i in ids] == ["rejected", "cancelled", "approved", "approved"]
    assert rows[ids[0]]["user_notes"] == "off-brand" and rows[ids[2]]["approved_by"] == "dagster-ui"
    # a finished action is not reopened; a wrong decision fails the run, naming the choices
    out = launch({"action_ids": [ids[0]], "decision": "approve"})
    assert out.output_for_node("apply_approval_decisions") == {ids[0]: "skipped: is rejected"}
    bad = launch({"action_ids": [ids[2]], "decision": "approved"})
    assert not bad.success and "use approve, reject or cancel" in str(bad.all_events)
    with engine.connect() as conn:
        by = conn.execute(
            text(
                "SELECT count(*) FROM audit_entries WHERE event_type = 'approval' "
                "AND details->>'by' = 'dagster-ui'"
            )
        ).scalar()
    assert by == 4


def test_cli_keys_rotate(store_env, engine, monkeypatch, tmp_path):
    """`postpulse keys rotate` with the key file: new primary, queued DM text re-encrypted and still
    readable; with POSTPULSE_SECRET_KEY it refuses and says how to rotate an env key."""
    import json as _json

    from postpulse.cli import app
    from postpulse.engagement.executor import Executor

    monkeypatch.delenv("POSTPULSE_SECRET_KEY", raising=False)
    r = CliRunner()
    assert (
        r.invoke(app, ["accounts", "add", "--platform", "x", "--username", "demo_x", "--authorize"]).exit_code
        == 0
    )
    out = r.invoke(
        app, ["actions", "add", "--account", "demo_x", "--type", "dm_send", "--to", "bob", "--text", "hi bob"]
    )
    assert out.exit_code == 0, out.output
    dm = out.output.split()[0]
    key_file = tmp_path / "home" / "keys" / "keyring.json"
    assert key_file.is_file() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    old = _json.loads(r.invoke(app, ["keys", "status"]).output)["columns"]["action_queue.text"]
    res = r.invoke(app, ["keys", "rotate"])
    assert res.exit_code == 0, res.output
    kid = res.output.split("new primary key ")[1].split(";")[0].strip()
    status = _json.loads(r.invoke(app, ["keys", "status"]).output)
    assert status["columns"]["action_queue.text"] == {kid: 1} and set(old) != {kid}
    vault = load_vault(create=False)
    with engine.connect() as conn:
        row = (
            conn.execute(text("SELECT id, action_params FROM action_queue WHERE id = :i"), {"i": dm})
            .mappings()
            .one()
        )
    assert Executor(engine, vault)._text_of(dict(row)) == "hi bob"

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    bad = r.invoke(app, ["keys", "rotate"])
    assert bad.exit_code == 1 and "Cannot rotate a keyring from POSTPULSE_SECRET_KEY" in bad.output


def test_cli_blocklist(store_env, engine, monkeypatch):
    """`postpulse actions blocklist add/list/remove`: validated (RE2), audited, and the policy uses it."""
    from postpulse.cli import app

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    r = CliRunner()
    assert (
        r.invoke(
            app,
            [
                "accounts",
                "add",
                "--platform",
                "x",
                "--username",
                "demo_x",
                "--authorize",
                "--settings-json",
                '{"quiet_hours": null}',
            ],
        ).exit_code
        == 0
    )
    out = r.invoke(
        app,
        [
            "actions",
            "blocklist",
            "add",
            "--type",
            "user",
            "--value",
            "@Spammer",
            "--platform",
            "x",
            "--reason",
            "spam",
        ],
    )
    assert out.exit_code == 0, out.output
    blk = out.output.split()[0]
    assert blk.startswith("blk-") and "'spammer'" in out.output  # normalised
    dup = r.invoke(
        app, ["actions", "blocklist", "add", "--type", "user", "--value", "spammer", "--platform", "x"]
    )
    assert dup.exit_code == 1 and blk in str(dup.exception)
    bomb = r.invoke(
        app, ["actions", "blocklist", "add", "--type", "keyword", "--value", "(a+)+$", "--match", "regex"]
    )
    assert bomb.exit_code == 0, bomb.output  # accepted: RE2 runs it in linear time
    look = r.invoke(
        app, ["actions", "blocklist", "add", "--type", "keyword", "--value", "(?=x)y", "--match", "regex"]
    )
    assert look.exit_code == 1 and "lookaround" in str(look.exception)
    assert "spammer" in r.invoke(app, ["actions", "blocklist", "list"]).output
    refused = r.invoke(app, ["actions", "add", "--account", "demo_x", "--type", "follow", "--to", "spammer"])
    # refused when queued: recorded as rejected with the reason code, non-zero exit
    said = " ".join((refused.output + str(refused.exception or "")).split())
    assert refused.exit_code == 1 and "recorded as rejected" in said and "Blocked by the blocklist" in said
    assert r.invoke(app, ["actions", "blocklist", "remove", blk]).exit_code == 0
    follow = r.invoke(
        app, ["actions", "add", "--account", "demo_x", "--type", "follow", "--to", "spammer"]
    ).output.split()[0]
    assert r.invoke(app, ["actions", "approve", follow]).exit_code == 0
    assert "allow" in r.invoke(app, ["actions", "run"]).output
    with engine.connect() as conn:
        changes = (
            conn.execute(
                text(
                    "SELECT details->>'change' FROM audit_entries WHERE step_id = 'blocklist' "
                    'ORDER BY "timestamp", id'
                )
            )
            .scalars()
            .all()
        )
    assert sorted(changes) == ["added", "added", "removed"]


def test_cli_templates(store_env, engine, monkeypatch):
    """`postpulse actions template add/list`, then a comment from the template with --var."""
    from postpulse.cli import app

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    r = CliRunner()
    assert r.invoke(app, ["accounts", "add", "--platform", "x", "--username", "demo_x"]).exit_code == 0
    out = r.invoke(
        app,
        [
            "actions",
            "template",
            "add",
            "--name",
            "thanks",
            "--type",
            "comment",
            "--content",
            "Thanks {{ first_name }}, great {{ topic | default('post') }}!",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "variables: first_name, topic" in out.output
    bad = r.invoke(
        app,
        ["actions", "template", "add", "--name", "broken", "--type", "comment", "--content", "Hi {{ name"],
    )
    assert bad.exit_code == 1 and "broken" in str(bad.exception)
    dup = r.invoke(app, ["actions", "template", "add", "--name", "thanks", "--type", "dm", "--content", "x"])
    assert dup.exit_code == 1 and "exists already" in str(dup.exception)
    assert "thanks" in r.invoke(app, ["actions", "template", "list"]).output
    out = r.invoke(
        app,
        [
            "actions",
            "add",
            "--account",
            "demo_x",
            "--type",
            "comment",
            "--target",
            "42",
            "--template",
            "thanks",
            "--var",
            "first_name=Ana",
        ],
    )
    assert out.exit_code == 0, out.output
    with engine.connect() as conn:
        params = conn.execute(
            text("SELECT action_params FROM action_queue WHERE id = :i"), {"i": out.output.split()[0]}
        ).scalar()
    assert params["text"] == "Thanks Ana, great post!"
    missing = r.invoke(
        app,
        [
            "actions",
            "add",
            "--account",
            "demo_x",
            "--type",
            "comment",
            "--target",
            "43",
            "--template",
            "thanks",
        ],
    )
    assert missing.exit_code == 1 and "first_name" in missing.output


@pytest.mark.browser
def test_cli_login(store_env, engine, sandbox, monkeypatch):
    """`postpulse accounts login`: a refused password is one line and exit 1; the right one stores
    the session encrypted (the password itself nowhere in the database)."""
    from postpulse.cli import app
    from postpulse.sandbox.world import password_for

    monkeypatch.setenv("POSTPULSE_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("PP_TEST_WRONG", "not-the-password")
    monkeypatch.setenv("PP_TEST_RIGHT", password_for("demo_x"))
    r = CliRunner()
    assert (
        r.invoke(app, ["accounts", "add", "--platform", "x", "--username", "demo_x", "--authorize"]).exit_code
        == 0
    )
    box = {}

    def login(var):  # in a thread: this module's Playwright may already run an event loop in the main thread
        t = threading.Thread(
            target=lambda: box.__setitem__(
                var,
                r.invoke(
                    app,
                    ["accounts", "login", "demo_x", "--password-env", var, "--sandbox-url", sandbox.base_url],
                ),
            )
        )
        t.start()
        t.join(120)
        return box[var]

    bad = login("PP_TEST_WRONG")
    assert bad.exit_code == 1 and "wrong username or password" in bad.output
    good = login("PP_TEST_RIGHT")
    assert good.exit_code == 0 and "session stored encrypted" in good.output, good.output
    with engine.connect() as conn:
        blob = bytes(
            conn.execute(text("SELECT session_encrypted FROM accounts WHERE username = 'demo_x'")).scalar()
        )
        audit_text = conn.execute(text("SELECT string_agg(details::text, ' ') FROM audit_entries")).scalar()
    assert password_for("demo_x").encode() not in blob and password_for("demo_x") not in audit_text
