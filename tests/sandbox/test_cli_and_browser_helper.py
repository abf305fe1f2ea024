"""``postpulse sandbox`` (typer app), ``python -m postpulse.sandbox``, and postpulse.browser."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from postpulse import browser as pbrowser
from postpulse.cli.sandbox import app


def test_world_json_is_deterministic():
    runner = CliRunner()
    args = [
        "world",
        "--seed",
        "3",
        "--profiles",
        "2",
        "--posts-per-profile",
        "2",
        "--now",
        "2025-06-01T12:00:00Z",
        "--json",
    ]
    a, b = runner.invoke(app, args), runner.invoke(app, args)
    assert a.exit_code == 0, a.output
    assert a.output == b.output
    data = json.loads(a.output)
    assert data["seed"] == 3 and data["password_rule"] == "sandbox-<username>"
    assert data["platforms"]["x"]["our_accounts"] == ["demo_x", "demo2_x"]
    assert data["platforms"]["x"]["posts_visible_at_now"] == 4 * 2
    other = runner.invoke(
        app,
        [
            "world",
            "--seed",
            "4",
            "--profiles",
            "2",
            "--posts-per-profile",
            "2",
            "--now",
            "2025-06-01T12:00:00Z",
            "--json",
        ],
    )
    assert other.output != a.output
    text = runner.invoke(app, ["world", "--profiles", "1", "--posts-per-profile", "1"])
    assert text.exit_code == 0 and "demo_linkedin" in text.output


def test_cli_rejects_bad_options():
    runner = CliRunner()
    r = runner.invoke(app, ["world", "--now", "yesterday"])
    assert r.exit_code != 0 and "ISO 8601" in r.output
    r = runner.invoke(app, ["serve", "--profiles", "-3"])
    assert r.exit_code != 0


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "postpulse.sandbox"],
        [
            sys.executable,
            "-m",
            "postpulse",
            "sandbox",
        ],  # `postpulse sandbox --seed N --profiles P ...` serves too
    ],
)
def test_python_m_serves_and_stops(command):
    proc = subprocess.Popen(
        [*command, "--port", "0", "--profiles", "2", "--posts-per-profile", "1", "--time-scale", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert m, line
        r = httpx.get(m.group(1) + "/api/x/posts", timeout=10)
        assert r.status_code == 200 and len(r.json()) == 4  # 2 profiles + 2 of ours, 1 post each
        t1 = httpx.get(m.group(1) + "/healthz").json()["now"]
        time.sleep(0.2)
        t2 = httpx.get(m.group(1) + "/healthz").json()["now"]
        assert t2 > t1, "time_scale makes sandbox time run"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None


def test_find_chromium_and_launch_args():
    path = pbrowser.find_chromium()
    if path is None:
        pytest.skip("no Chromium on this machine")
    assert os.access(path, os.X_OK)
    args = pbrowser.launch_args()
    assert args["headless"] is True
    for flag in (
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ):
        assert flag in args["args"]
    if "ms-playwright" not in path:
        assert args["executable_path"] == path


def test_no_chromium_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("POSTPULSE_CHROMIUM", raising=False)
    monkeypatch.setattr(pbrowser, "_playwright_chromium_fast", lambda: None)
    monkeypatch.setattr(pbrowser, "SYSTEM_CANDIDATES", (str(tmp_path / "none"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pbrowser.find_chromium() is None
    with pytest.raises(pbrowser.ChromiumNotFound) as exc:
        pbrowser.launch_args()
    assert "apt-get install chromium" in str(exc.value) and "playwright install chromium" in str(exc.value)
    monkeypatch.setenv("POSTPULSE_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(pbrowser.ChromiumNotFound, match="POSTPULSE_CHROMIUM"):
        pbrowser.launch_args()
