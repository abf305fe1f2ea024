"""Official API fixtures: one sandbox (with the API emulations) per module, a real Chromium for
the consent pages, a throw-away vault, and the connector pointed at the sandbox by its URL."""

from __future__ import annotations

import pytest

from postpulse.platforms.accounts import connect_account
from postpulse.sandbox.official import youtube as yt_emulation


@pytest.fixture(scope="module")
def sandbox():
    from postpulse.sandbox.server import SandboxServer
    from postpulse.sandbox.world import build_world

    with SandboxServer(build_world(seed=7, profiles=3, posts_per_profile=2), time_scale=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def official(sandbox):
    return sandbox.app.state.sandbox.official


@pytest.fixture
def youtube_env(sandbox, official, monkeypatch, tmp_path):
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTPULSE_YOUTUBE_API_URL", f"{sandbox.base_url}/official/youtube")
    monkeypatch.setenv("POSTPULSE_YOUTUBE_CLIENT_ID", yt_emulation.CLIENT_ID)
    monkeypatch.setenv("POSTPULSE_YOUTUBE_CLIENT_SECRET", yt_emulation.CLIENT_SECRET)
    official.youtube.faults.clear()
    yield official.youtube
    official.youtube.faults.clear()


def connect_in_chromium(engine, vault, browser, platform: str, *, decision: str = "allow") -> dict:
    """Run ``connect_account`` with the consent page in a real Chromium: open it, click."""
    page = browser.new_page()
    seen: list[str] = []

    def open_url(url: str) -> None:
        page.goto(url)
        seen.append(page.title())
        page.click(f"#{decision}")
        page.wait_for_load_state()

    try:
        return connect_account(engine, vault, platform, open_url=open_url, timeout_s=10, announce=seen.append)
    finally:
        page.close()


@pytest.fixture
def x_env(sandbox, official, monkeypatch, tmp_path):
    from postpulse.sandbox.official import x as x_emulation

    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTPULSE_X_API_URL", f"{sandbox.base_url}/official/x")
    monkeypatch.setenv("POSTPULSE_X_CLIENT_ID", x_emulation.CLIENT_ID)
    monkeypatch.setenv("POSTPULSE_X_CLIENT_SECRET", x_emulation.CLIENT_SECRET)
    official.x.faults.clear()
    official.x.windows.clear()
    official.x.limits = dict(x_emulation.LIMITS)
    yield official.x
    official.x.faults.clear()
    official.x.windows.clear()
    official.x.limits = dict(x_emulation.LIMITS)


@pytest.fixture
def instagram_env(sandbox, official, monkeypatch, tmp_path):
    from postpulse.sandbox.official import instagram as ig_emulation

    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTPULSE_INSTAGRAM_API_URL", f"{sandbox.base_url}/official/instagram")
    monkeypatch.setenv("POSTPULSE_INSTAGRAM_CLIENT_ID", ig_emulation.CLIENT_ID)
    monkeypatch.setenv("POSTPULSE_INSTAGRAM_CLIENT_SECRET", ig_emulation.CLIENT_SECRET)
    st = official.instagram
    st.faults.clear()
    st.usage_pct, st.usage_step, st.stuck_next = 0, 0, False
    yield st
    st.faults.clear()
    st.usage_pct, st.usage_step, st.stuck_next = 0, 0, False


@pytest.fixture
def linkedin_env(sandbox, official, monkeypatch, tmp_path):
    from postpulse.sandbox.official import linkedin as li_emulation

    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTPULSE_LINKEDIN_API_URL", f"{sandbox.base_url}/official/linkedin")
    monkeypatch.setenv("POSTPULSE_LINKEDIN_CLIENT_ID", li_emulation.CLIENT_ID)
    monkeypatch.setenv("POSTPULSE_LINKEDIN_CLIENT_SECRET", li_emulation.CLIENT_SECRET)
    monkeypatch.delenv("POSTPULSE_LINKEDIN_VERSION", raising=False)
    st = official.linkedin
    st.faults.clear()
    st.calls_today, st.daily_limit = 0, 100_000
    yield st
    st.faults.clear()
    st.calls_today, st.daily_limit = 0, 100_000
