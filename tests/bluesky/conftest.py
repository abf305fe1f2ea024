"""The Bluesky fixtures: one real local AT Protocol stack (PLC, PDS, AppView) per test session,
installed on first use into the shared cache (``postpulse.bluesky.install``), and helpers to
create accounts on it with the ``atproto`` SDK, as a user would.

All Bluesky tests live in ``test_bluesky.py``: with ``pytest -n 2 --dist loadfile`` they run on
one worker, so one session starts one stack."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from postpulse.bluesky import session as bsky_session
from postpulse.bluesky.stack import stop_postgres
from postpulse.crypto import Keyring, Vault


def stack_data_dir() -> Path:
    """A folder outside pytest's temporary root: the stack's PostgreSQL runs as another system
    user when the tests run as root, and pytest keeps its own root private (mode 700)."""
    return Path(tempfile.mkdtemp(prefix="postpulse-test-bluesky-"))


@pytest.fixture(scope="session")
def bluesky_stack():
    from postpulse.bluesky.stack import start_stack

    def progress(step: str, fraction: float | None) -> None:
        print(f"[bluesky stack] {step} {'' if fraction is None else f'{fraction:.0%}'}", file=sys.stderr)

    t0 = time.monotonic()
    data = stack_data_dir()
    running = start_stack(data, progress=progress)
    print(
        f"[bluesky stack] up in {time.monotonic() - t0:.1f} s: {running.urls.ready_line()}", file=sys.stderr
    )
    yield running
    running.stop()
    stop_postgres(data)
    shutil.rmtree(data, ignore_errors=True)


@dataclass
class StackAccount:
    handle: str
    password: str
    did: str
    client: object  # a logged-in atproto Client


@pytest.fixture(scope="session")
def new_account(bluesky_stack):
    """``new_account("alice")`` -> a fresh account on the local PDS, logged in with the SDK."""

    def make(prefix: str = "user") -> StackAccount:
        handle = f"{prefix}{secrets.token_hex(3)}.test"
        password = secrets.token_urlsafe(12)
        creator = bsky_session.new_client(bluesky_stack.urls.pds)
        made = creator.com.atproto.server.create_account(
            {"handle": handle, "email": f"{handle}@example.test", "password": password}
        )
        client = bsky_session.login(bluesky_stack.urls.pds, handle, password)
        return StackAccount(handle, password, made.did, client)

    return make


@pytest.fixture
def vault() -> Vault:
    return Vault(Keyring.generate("test1"))


def wait_until(check, *, timeout: float = 10.0, every: float = 0.2):
    """``check()``'s first truthy value within ``timeout`` (the AppView indexes asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
