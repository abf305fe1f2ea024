"""The driver registry (which driver acts for an account; how a new platform plugs in) and the
rule that a driver's selectors live in one module per platform."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.engagement import repository as repo
from postpulse.engagement.drivers import registry
from postpulse.engagement.drivers.sandbox import SandboxDriver
from postpulse.engagement.drivers.sandbox_selectors import SELECTORS
from tests.engagement.conftest import OPEN_SETTINGS, action_row, executor, make_account, posts_of, queue

DRIVERS_DIR = Path(registry.__file__).parent
_LOOKUPS = {
    "query_selector",
    "query_selector_all",
    "locator",
    "wait_for_selector",
    "get_by_test_id",
    "click",
    "fill",
}


def test_sandbox_selectors_live_in_one_module():
    tree = ast.parse((DRIVERS_DIR / "sandbox.py").read_text())
    literal_lookups, keys = [], set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _LOOKUPS
            and node.args
            and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
        ):
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr) and any(
                isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Subscript) for v in arg.values
            ):
                continue  # built from SELECTORS[...] (e.g. a comment by id)
            literal_lookups.append(f"line {node.lineno}: {ast.unparse(node)}")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "SELECTORS"
            and isinstance(node.slice, ast.Constant)
        ):
            keys.add(node.slice.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("need", "_pressed")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            keys.add(node.args[0].value)
    assert not literal_lookups, f"selectors outside sandbox_selectors.py: {literal_lookups}"
    assert keys and keys <= set(SELECTORS), f"unknown selector keys: {keys - set(SELECTORS)}"


def test_resolve_defaults_and_unknown_driver():
    assert registry.resolve("x") == ("sandbox", "x")
    assert registry.resolve("sandbox", {"sandbox_site": "tiktok"}) == ("sandbox", "tiktok")
    with pytest.raises(registry.DriverError, match="no driver 'nope'.*registry.py") as exc:
        registry.resolve("x", {"driver": "nope"})
    assert exc.value.code == "unsupported_platform"


class ProbeDriver(SandboxDriver):
    """A second driver (the sandbox driver under another name) to show the registry routes to it."""

    opened: list[str] = []

    def __init__(self, browser, *, base_url, site, username, storage_state, timeout_ms=15000):
        ProbeDriver.opened.append(username)
        super().__init__(browser, base_url, site, username, storage_state, timeout_ms=timeout_ms)


@pytest.mark.browser
def test_registered_driver_is_used_for_its_platform(engine, vault, sandbox, browser, monkeypatch):
    monkeypatch.setattr(registry, "DRIVERS", dict(registry.DRIVERS))
    monkeypatch.setattr(registry, "PLATFORM_DRIVERS", dict(registry.PLATFORM_DRIVERS))
    ProbeDriver.opened = []
    registry.register_driver(registry.DriverSpec("probe", f"{__name__}:ProbeDriver"), platforms=("threads",))

    acc = make_account(engine, vault, sandbox, browser, username="demo_threads", platform="threads")
    assert ProbeDriver.opened == ["demo_threads"]  # the login went through the registered driver
    pid = posts_of(sandbox, platform="threads")[0]
    aid = queue(engine, vault, acc, "like", pid)
    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert rep["completed"] == 1, rep
    assert ProbeDriver.opened == ["demo_threads", "demo_threads"]
    assert sandbox.world.has_liked("threads", "demo_threads", pid)
    assert action_row(engine, aid)["status"] == "completed"

    # an account that names a driver nobody registered: the action fails, saying how to fix it
    with engine.begin() as conn:
        other = repo.add_account(
            conn,
            platform="x",
            username="demo2_x",
            authorize=True,
            settings=OPEN_SETTINGS,
            metadata={"driver": "nope"},
        )["id"]
    bad = queue(engine, vault, other, "like", posts_of(sandbox)[0])
    executor(engine, vault, sandbox, browser).run_batch()
    row = action_row(engine, bad)
    assert row["status"] == "failed" and row["last_reason_code"] == "unsupported_platform"
    assert "registry.py" in row["last_error"]
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM action_attempts WHERE action_id = :i"), {"i": bad}
            ).scalar()
            == 0
        )
