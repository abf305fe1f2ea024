"""Publishing fixtures: images written by Pillow, accounts with a stored session."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from postpulse.engagement import repository as repo
from tests.bluesky.conftest import bluesky_stack, new_account  # noqa: F401 (the local AT Protocol stack)
from tests.engagement.conftest import sandbox  # noqa: F401 (a real sandbox)


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("POSTPULSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_image(path: Path, fmt: str = "PNG", size=(64, 48), color=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, fmt)
    return path


def add_account(engine, username: str, platform: str = "x", *, session: bool = True, **kw) -> str:
    """An authorized account; ``session`` stores a placeholder session blob (validation only checks
    that one exists; the end-to-end tests log in for real)."""
    with engine.begin() as conn:
        acc = repo.add_account(conn, platform=platform, username=username, authorize=True, **kw)
        if session:
            conn.execute(
                text("UPDATE accounts SET session_encrypted = '\\x00'::bytea WHERE id = :i"), {"i": acc["id"]}
            )
    return acc["id"]
