"""Publishing due publications through the action queue, exactly once per publication.

One run:

1. takes the publishing lock (a session-level advisory lock: it dies with the process, so a
   run killed by ``kill -9`` leaves no lock behind);
2. releases publish actions a killed run left ``in_progress`` (only runs holding the lock claim
   them, so any such action is orphaned);
3. records an intent for each due publication (``status = 'publishing'``, ``intent_at``) and
   queues an approved ``publish`` action for it: the item's approval is the action's approval,
   and the executor applies the policy (quiet hours, per-account limits, pause) as for any action;
4. runs the executor on publish actions only. The driver first looks for a post with the same
   text published after the intent, so an action re-run after a crash between sending and
   recording finds the post instead of sending it again. Transient errors are retried with
   backoff, then deferred (the action keeps its intent);
5. reconciles: a published publication becomes a tracked post (``posts``, check-backs from its
   publish time); a publication whose action failed for good becomes ``failed`` with the reason,
   and its item can be scheduled again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.checkback_schedule import offsets_seconds, resolve_schedule, slot_state
from postpulse.engagement import repository as repo
from postpulse.engagement.drivers.registry import resolve
from postpulse.ids import insert_with_new_id
from postpulse.timeutil import as_utc

from .items import transition

LOCK_KEY = "postpulse:publishing"
WORKER_PREFIX = "publishing-"

DUE_SQL = text(
    "SELECT id FROM publications WHERE status = 'scheduled' AND scheduled_for <= :now "
    "ORDER BY scheduled_for LIMIT :n"
)


def due_publications(conn: Connection, now: datetime, limit: int = 100) -> list[str]:
    """Publications whose time has come (the partial index on scheduled publications)."""
    return list(conn.execute(DUE_SQL, {"now": now, "n": limit}).scalars())


@dataclass
class PublishRun:
    locked: bool = True
    released: int = 0
    started: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line each: publication and reason
    executor: dict[str, Any] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def release_orphans(conn: Connection, now: datetime) -> int:
    ids = list(
        conn.execute(
            text(
                "UPDATE action_queue SET status = 'approved', claimed_by = NULL, last_reason_code = "
                "'abandoned', "
                "system_notes = concat_ws(E'\\n', system_notes, 'released: the publishing run "
                "stopped before recording') "
                "WHERE action_type = 'publish' AND status = 'in_progress' AND claimed_by LIKE :w RETURNING id"
            ),
            {"w": WORKER_PREFIX + "%"},
        ).scalars()
    )
    if ids:
        conn.execute(
            text(
                "UPDATE action_attempts SET status = 'failed', error_code = 'abandoned', completed_at = :now "
                "WHERE action_id = ANY(:ids) AND status IN ('in_progress', 'pending')"
            ),
            {"ids": ids, "now": now},
        )
    return len(ids)


def _media_kind(media: list[dict]) -> str | None:
    kinds = {m["media_type"] for m in media}
    return "video" if "video" in kinds else ("image" if kinds else None)


def _media_param(platform: str, metadata: dict | None, media: list[dict]) -> Any:
    """The sandbox's compose form takes a media kind; API drivers take the files and alt texts."""
    driver, _ = resolve(platform, metadata)
    if driver == "sandbox":
        return _media_kind(media)
    return [{"path": m["stored_path"], "alt": m.get("alt_text") or ""} for m in media]


def _fail_publication(conn: Connection, pub_id: str, message: str, now: datetime) -> None:
    conn.execute(
        text(
            "UPDATE publications SET status = 'failed', error_message = :m, failed_at = :now, "
            "retry_count = retry_count + 1, last_retry_at = :now WHERE id = :i"
        ),
        {"m": message[:1000], "now": now, "i": pub_id},
    )


def start_due(conn: Connection, now: datetime, run: PublishRun, *, run_id: str, limit: int = 100) -> None:
    rows = (
        conn.execute(
            text(
                "SELECT p.id, p.account_id, p.content, p.media, p.content_item_id, p.retry_count, "
                "c.approved_by, a.platform, a.metadata "
                "FROM publications p LEFT JOIN content_items c ON c.id = p.content_item_id "
                "JOIN accounts a ON a.id = p.account_id "
                "WHERE p.status = 'scheduled' AND p.scheduled_for <= :now ORDER BY p.scheduled_for LIMIT :n "
                "FOR UPDATE OF p SKIP LOCKED"
            ),
            {"now": now, "n": limit},
        )
        .mappings()
        .all()
    )
    for r in rows:
        missing = [m["stored_path"] for m in r["media"] if not Path(m["stored_path"]).is_file()]
        if missing:
            msg = (
                f"publication {r['id']}: media file {missing[0]} is missing; add the media again "
                "and reschedule"
            )
            _fail_publication(conn, r["id"], msg, now)
            run.refused.append(msg)
            settle_item(conn, r["content_item_id"])
            continue
        # the intent marker: the platform keeps it with the post, so a retry can find what was sent
        # and the intent's time (API drivers look for our post created since then)
        params = {
            "publication_id": r["id"],
            "client_ref": f"{r['id']}.{r['retry_count']}",
            "intent_at": now.isoformat(),
        }
        if r["media"]:
            params["media"] = _media_param(r["platform"], r["metadata"], r["media"])
        # the intent is recorded in the same transaction as the action: nothing is sent before both exist
        res = repo.add_action(
            conn,
            account=r["account_id"],
            action_type="publish",
            target_type="publication",
            target_id=r["id"],
            text_value=r["content"],
            params=params,
            scheduled_for=now,
            actor="publishing",
            run_id=run_id,
            now=now,
        )
        aid = res.action["id"]
        if res.action["status"] == "queued":
            repo.decide(
                conn,
                [aid],
                "approve",
                actor=f"content approval by {r['approved_by'] or 'user'}",
                run_id=run_id,
                now=now,
            )
        conn.execute(
            text(
                "UPDATE publications SET status = 'publishing', intent_at = :now, action_id = :a "
                "WHERE id = :i"
            ),
            {"now": now, "a": aid, "i": r["id"]},
        )
        item_status = conn.execute(
            text("SELECT status FROM content_items WHERE id = :i"), {"i": r["content_item_id"]}
        ).scalar()
        if item_status == "scheduled":
            transition(
                conn, r["content_item_id"], "publishing", reason="publishing started", actor="scheduler"
            )
        run.started.append(r["id"])


def _absolute(url: str | None, base_url: str | None) -> str | None:
    if url and url.startswith("/") and base_url:
        return base_url.rstrip("/") + url
    return url


def record_post(conn: Connection, pub: dict, now: datetime, base_url: str | None) -> str:
    """The published post as a tracked post of its account, check-backs anchored at publish time."""
    driver, site = resolve(pub["platform"], pub["account_metadata"])
    platform = site if driver == "sandbox" else pub["platform"]
    url = _absolute(pub["platform_post_url"], base_url)
    published = as_utc(pub["published_at"]) or now
    schedule = resolve_schedule(platform, None, pub["account_settings"])
    st = slot_state(offsets_seconds(schedule), published, now)
    values = {
        "platform": platform,
        "platform_post_id": pub["platform_post_id"],
        "url": url,
        "account_id": pub["account_id"],
        "author_username": pub["username"],
        "content_type": pub["content_type"]
        if pub["content_type"] in ("text", "image", "video", "carousel")
        else "text",
        "text_content": pub["content"],
        "posted_at": published,
        "raw_json": json.dumps({"publication_id": pub["id"], "content_item_id": pub["content_item_id"]}),
        "check_schedule": json.dumps(schedule),
        "tracking_started_at": now,
        "next_check_at": st.next_check_at or now,
        "checks_completed": st.checks_completed,
    }
    existing = conn.execute(
        text("SELECT id FROM posts WHERE platform = :p AND platform_post_id = :i"),
        {"p": platform, "i": pub["platform_post_id"]},
    ).scalar()
    if existing:
        conn.execute(
            text("UPDATE posts SET account_id = :a, url = coalesce(url, :u) WHERE id = :id"),
            {"a": pub["account_id"], "u": url, "id": existing},
        )
        post_id = existing
    else:
        post_id = insert_with_new_id(conn, "posts", values)["id"]
    conn.execute(
        text("UPDATE publications SET post_id = :p, platform_post_url = :u WHERE id = :i"),
        {"p": post_id, "u": url, "i": pub["id"]},
    )
    return post_id


_OPEN = text("""
SELECT p.*, q.status AS action_status, q.last_error, q.last_reason_code, q.scheduled_for AS retry_at,
       a.platform, a.username, a.metadata AS account_metadata, a.settings AS account_settings
FROM publications p JOIN accounts a ON a.id = p.account_id LEFT JOIN action_queue q ON q.id = p.action_id
WHERE p.content_item_id IS NOT NULL
  AND (p.status = 'publishing' OR (p.status = 'published' AND p.post_id IS NULL))
ORDER BY p.id FOR UPDATE OF p
""")


def reconcile(conn: Connection, now: datetime, run: PublishRun, *, base_url: str | None = None) -> None:
    items: set[str] = set()
    for pub in [dict(r) for r in conn.execute(_OPEN).mappings()]:
        items.add(pub["content_item_id"])
        if pub["status"] == "published":
            record_post(conn, pub, now, base_url)
            run.published.append(pub["id"])
        elif pub["action_status"] in ("failed", "rejected", "cancelled"):
            msg = f"publication {pub['id']} (@{pub['username']}): {pub['last_error'] or pub['action_status']}"
            _fail_publication(conn, pub["id"], msg, now)
            run.failed.append(msg)
        else:
            when = f" (next try {pub['retry_at']:%Y-%m-%d %H:%M} UTC)" if pub["retry_at"] else ""
            run.waiting.append(
                f"publication {pub['id']} (@{pub['username']}): {pub['last_reason_code'] or 'queued'}{when}"
            )
    for item_id in sorted(items):
        settle_item(conn, item_id)


def settle_item(conn: Connection, item_id: str) -> None:
    """The item's status from its variants' latest publications."""
    states = list(
        conn.execute(
            text(
                "SELECT DISTINCT ON (variant_id) status FROM publications WHERE content_item_id = :i "
                "AND status <> 'cancelled' ORDER BY variant_id, created_at DESC, id"
            ),
            {"i": item_id},
        ).scalars()
    )
    status = conn.execute(text("SELECT status FROM content_items WHERE id = :i"), {"i": item_id}).scalar()
    if (
        not states
        or status not in ("scheduled", "publishing")
        or any(s in ("scheduled", "publishing") for s in states)
    ):
        return
    if all(s == "published" for s in states):
        transition(conn, item_id, "published", reason="every variant published", actor="scheduler")
    else:
        n = sum(s == "failed" for s in states)
        transition(conn, item_id, "failed", reason=f"{n} of {len(states)} variants failed", actor="scheduler")


def run_publishing(
    engine: Engine,
    *,
    make_executor: Callable[[str], Any] | None,
    now_fn: Callable[[], datetime] = lambda: datetime.now(UTC),
    base_url: str | None = None,
    run_id: str | None = None,
) -> PublishRun:
    """One publishing run. ``make_executor(worker_id)`` returns an ``Executor`` configured with
    ``action_types=("publish",)`` and that worker id; ``None`` only starts and reconciles."""
    run = PublishRun()
    run_id = run_id or f"publish-{secrets.token_hex(4)}"
    with engine.connect() as lock_conn:
        got = lock_conn.execute(
            text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": LOCK_KEY}
        ).scalar()
        lock_conn.commit()
        if not got:
            run.locked = False
            return run
        try:
            with engine.begin() as conn:
                run.released = release_orphans(conn, now_fn())
                start_due(conn, now_fn(), run, run_id=run_id)
            if make_executor is not None:
                run.executor = make_executor(WORKER_PREFIX + secrets.token_hex(3)).run_until_idle()
            with engine.begin() as conn:
                reconcile(conn, now_fn(), run, base_url=base_url)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": LOCK_KEY})
            lock_conn.commit()
    return run


def executor_factory(
    engine: Engine,
    vault: Any,
    browser: Any,
    *,
    base_url: str,
    now_fn: Callable[[], datetime] | None = None,
    timeout_ms: int = 15000,
    **config: Any,
) -> Callable[[str], Any]:
    """``make_executor`` for :func:`run_publishing`: the engagement executor on publish actions."""
    from postpulse.engagement.executor import Executor, ExecutorConfig

    def make(worker_id: str):
        cfg = ExecutorConfig(
            base_url=base_url, timeout_ms=timeout_ms, action_types=("publish",), worker_id=worker_id, **config
        )
        extra = {"now_fn": now_fn} if now_fn is not None else {}
        return Executor(engine, vault, browser=browser, config=cfg, **extra)

    return make
