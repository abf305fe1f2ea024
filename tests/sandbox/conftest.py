"""Fixtures for the sandbox tests: real servers on 127.0.0.1, real httpx, real Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from postpulse.sandbox.server import SandboxServer
from postpulse.sandbox.world import build_world

FIXED_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
REAL_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/real"
PLATFORMS = ("linkedin", "instagram", "tiktok", "x", "threads")


def small_world(**kw):
    params = dict(seed=7, profiles=4, posts_per_profile=3, now=FIXED_NOW, future_days=3)
    params.update(kw)
    return build_world(**params)


@pytest.fixture
def server():
    """A fresh sandbox (small world, frozen clock) per test."""
    with SandboxServer(small_world(), time_scale=0.0) as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        yield c


def login(client: httpx.Client, platform: str, username: str | None = None) -> str:
    """Log ``client`` in on ``platform``; return a CSRF token from the feed page."""
    username = username or f"demo_{platform}"
    r = client.post(f"/{platform}/login", data={"username": username, "password": f"sandbox-{username}"})
    assert r.status_code == 303, r.text
    return csrf_of(client.get(f"/{platform}/").text)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def real_fixture(relpath: str) -> Path:
    path = REAL_FIXTURES / relpath
    if not path.exists():
        pytest.skip(f"real scraper fixtures are not on this machine ({path} is absent)")
    return path


@pytest.fixture(scope="module")
def shared_server():
    """One sandbox for a whole module (for tests that do not depend on each other's state)."""
    with SandboxServer(small_world(), time_scale=0.0) as srv:
        yield srv


@pytest.fixture
def shared_client(shared_server):
    shared_server.faults.clear()
    with httpx.Client(base_url=shared_server.base_url, timeout=10) as c:
        yield c
