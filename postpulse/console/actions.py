"""Actions queued from the console: the engagement repository's ``add_action`` (approval and
policy as for any action), and an audit entry naming the person who queued it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from postpulse.console.users import User
from postpulse.engagement import audit
from postpulse.engagement import repository as repo


def queue_for(conn: Connection, user: User, **kwargs: Any) -> repo.AddResult:
    actor = f"console:{user.username}"
    res = repo.add_action(conn, actor=actor, run_id="console", **kwargs)
    a = res.action
    audit.record(
        conn,
        run_id="console",
        step_id="queue",
        event_type="approval",
        outcome="pending" if a["status"] == "queued" else "success",
        account_id=a["account_id"],
        action_id=a["id"],
        target_type=a["target_type"],
        target_id=a["target_id"],
        details={"decision": "queue", "by": actor, "action_type": a["action_type"], "status": a["status"]},
    )
    return res
