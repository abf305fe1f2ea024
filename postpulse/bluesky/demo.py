"""The Bluesky part of ``postpulse up --bluesky``: the local stack, a few demo accounts, and
activity that keeps growing, so the demo shows a real AT Protocol network.

- ``studio-demo.test`` is "our" account: connected (session in the vault) and authorized, so actions
  can be queued for it; ``ana-demo.test``, ``ben-demo.test`` and ``cleo-demo.test`` are other
  people, and ``ana-demo.test`` is on the watch list.
- Every ``interval`` seconds one of them does something: our account posts, the others like,
  repost or reply to its posts, or post themselves. Collection and check-backs (Dagster) then see
  the counts grow.

The demo accounts' passwords are kept in ``<stack data>/demo-accounts.json`` (mode 0600): they
exist only on this local stack.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from . import session as bsky_session
from .accounts import connect_account
from .appview import AppView
from .collect import collect
from .stack import RunningStack, start_stack

OURS = "studio"
OTHERS = ("ana", "ben", "cleo")
HANDLE_SUFFIX = "-demo"  # short common names are reserved handles on a PDS
LINES = (
    "Morning update: the new release is out",
    "What are you shipping this week?",
    "Three things we learned from our launch",
    "Behind the scenes at the studio today",
    "Thank you for 100 followers!",
)
REPLIES = ("Love this!", "Congrats on the launch", "Great thread", "Where can I read more?")


def _accounts(stack: RunningStack) -> dict[str, dict]:
    path = stack.data_dir / "demo-accounts.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    for name in (OURS, *OTHERS):
        if name in known:
            continue
        handle, password = f"{name}{HANDLE_SUFFIX}.test", secrets.token_urlsafe(12)
        made = bsky_session.new_client(stack.urls.pds).com.atproto.server.create_account(
            {"handle": handle, "email": f"{name}@example.test", "password": password}
        )
        known[name] = {"handle": handle, "password": password, "did": made.did}
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
    return known


@dataclass
class Demo:
    stack: RunningStack
    accounts: dict[str, dict]
    interval: float = 20.0
    say: Callable[[str], None] = print
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _clients: dict = field(default_factory=dict)

    def client(self, name: str):
        if name not in self._clients:
            a = self.accounts[name]
            self._clients[name] = bsky_session.login(self.stack.urls.pds, a["handle"], a["password"])
        return self._clients[name]

    def step(self, rng: random.Random) -> str:
        """One piece of activity; returns what happened."""
        ours = self.client(OURS)
        feed = ours.get_author_feed(self.accounts[OURS]["did"], limit=20).feed
        if not feed or rng.random() < 0.25:
            post = ours.send_post(f"{rng.choice(LINES)} #demo")
            return f"@{self.accounts[OURS]['handle']} posted {post.uri}"
        target = rng.choice(feed).post
        name = rng.choice(OTHERS)
        other = self.client(name)
        roll = rng.random()
        if roll < 0.5:
            other.like(target.uri, target.cid)
            return f"@{self.accounts[name]['handle']} liked {target.uri}"
        if roll < 0.7:
            other.repost(target.uri, target.cid)
            return f"@{self.accounts[name]['handle']} reposted {target.uri}"
        if roll < 0.9:
            ref = {"uri": target.uri, "cid": target.cid}
            other.send_post(rng.choice(REPLIES), reply_to={"root": ref, "parent": ref})
            return f"@{self.accounts[name]['handle']} replied to {target.uri}"
        other.send_post(f"{rng.choice(LINES)} (from {name})")
        return f"@{self.accounts[name]['handle']} posted"

    def _run(self) -> None:
        rng = random.Random()
        while not self._stop.wait(self.interval):
            try:
                self.step(rng)
            except Exception as exc:  # the demo keeps going; the stack may be restarting
                self.say(f"bluesky demo: {type(exc).__name__}: {str(exc)[:120]}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bluesky-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the activity (the stack keeps running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def seed_demo(
    engine: Engine, vault, stack: RunningStack, *, say: Callable[[str], None] = print, interval: float = 20.0
) -> Demo:
    """Make the demo accounts (once), connect ours, give it a few posts, collect once."""
    accounts = _accounts(stack)
    demo = Demo(stack, accounts, interval=interval, say=say)
    ours = accounts[OURS]
    connect_account(engine, vault, ours["handle"], ours["password"], service=stack.urls.pds, authorize=True)
    if not demo.client(OURS).get_author_feed(ours["did"], limit=1).feed:
        rng = random.Random(7)
        demo.client(OURS).send_post(f"{LINES[0]} #demo")
        for _ in range(3):
            demo.step(rng)
    with AppView(stack.urls.appview) as av:
        deadline = time.monotonic() + 15  # the AppView indexes the new posts a moment later
        while not next(av.author_feed(ours["did"], limit=1, pages=1), None) and time.monotonic() < deadline:
            time.sleep(0.2)
        collect(engine, av, actors=[ours["did"], accounts["ana"]["did"]], watch=[accounts["ana"]["did"]])
    return demo


def start_demo(
    engine: Engine,
    vault,
    *,
    data_dir: Path | None = None,
    say: Callable[[str], None] = print,
    interval: float = 20.0,
) -> Demo:
    """Start the stack, seed it, start the activity. ``demo.stop()`` then ``demo.stack.stop()``."""

    def progress(step: str, fraction: float | None) -> None:
        if fraction in (None, 0.0) or step.startswith("installed"):
            say(f"bluesky: {step}")

    stack = start_stack(data_dir, progress=progress)
    try:
        demo = seed_demo(engine, vault, stack, say=say, interval=interval)
    except Exception:
        stack.stop()
        raise
    demo.start()
    handles = ", ".join(a["handle"] for a in demo.accounts.values())
    say(f"bluesky: {stack.urls.ready_line()} (demo accounts: {handles})")
    return demo
