"""The approval inbox: queued actions with their context and the policy's answer; approve,
reject or edit one by one or in bulk; queue a new action.

Decisions go through the engagement repository (``decide`` for one action, ``decide_many`` for
several: one UPDATE), the same functions as ``postpulse actions approve``, so the queue's states
and the audit trail are the same whichever way an action was approved.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import text
from starlette.routing import Route

from postpulse.console import queries
from postpulse.console.actions import queue_for
from postpulse.console.web import (
    Forbidden,
    NotFound,
    actor,
    current_user,
    endpoint,
    flash,
    redirect,
    render,
    vault_of,
)
from postpulse.crypto import envelope_to_text
from postpulse.engagement import audit
from postpulse.engagement import repository as repo
from postpulse.engagement.secrets import queued_text_aad
from postpulse.errors import PostpulseError
from postpulse.policy import TEXT_ACTIONS, text_hash

#: Dagster run ids are UUIDs (other run ids: "manual", "console", "exec-...")
DAGSTER_RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: the most actions one bulk decision touches
BULK_MAX = 1000
#: action types the console queues (the others stay on the command line)
QUEUEABLE = ("like", "comment", "follow", "dm_send")


def page_after(request) -> tuple[datetime, str] | None:
    """The keyset of the next page, ``?after=<created_at ISO>~<action id>`` (None: the first)."""
    raw = request.query_params.get("after", "")
    stamp, _, action_id = raw.partition("~")
    try:
        return (datetime.fromisoformat(stamp), action_id) if stamp and action_id else None
    except ValueError:
        return None


@endpoint("view_queue")
def approvals(request, form):
    user = current_user(request)
    scope = user.workspaces_for("view_queue")
    after = page_after(request)
    engine = request.app.state.engine
    with engine.connect() as conn:
        rows = queries.queued_actions(
            conn,
            engine,
            scope,
            vault_of(request),
            show_private=user.may("read_dm"),
            after=after,
        )
        total = queries.queued_count(conn, scope)
        accounts = (
            queries.accounts_in_scope(conn, user.workspaces_for("queue_action"))
            if user.may("queue_action")
            else []
        )
    return render(
        request,
        "approvals.html",
        title="Approvals",
        rows=rows,
        total=total,
        count_cap=queries.COUNT_CAP,
        first_page=after is None,
        next_after=f"{rows[-1]['created_at'].isoformat()}~{rows[-1]['id']}"
        if len(rows) == queries.PAGE_SIZE
        else None,
        bulk_max=BULK_MAX,
        may_approve=user.may("approve"),
        may_edit=user.may("edit_action"),
        accounts=accounts,
        queueable=QUEUEABLE,
    )


@endpoint("view_queue")
def action_detail(request, form):
    user = current_user(request)
    engine = request.app.state.engine
    with engine.connect() as conn:
        rows = queries.queued_actions(
            conn,
            engine,
            user.workspaces_for("view_queue"),
            vault_of(request),
            show_private=user.may("read_dm"),
            action_id=request.path_params["action_id"],
            limit=1,
        )
        history = repo.action_history(conn, rows[0]["id"])["audit"] if rows else []
    if not rows:
        raise NotFound()
    for h in history:
        details = h["details"] or {}
        h["by"] = details.get("by", "")
        h["dagster_run"] = h["run_id"] if DAGSTER_RUN_ID.match(h["run_id"] or "") else None
    return render(
        request,
        "action.html",
        title=f"Action {rows[0]['id']}",
        a=rows[0],
        history=history,
        may_approve=user.may("approve", rows[0]["workspace_id"]),
        may_edit=user.may("edit_action", rows[0]["workspace_id"])
        and rows[0]["action_type"] in TEXT_ACTIONS
        and (not rows[0]["private"] or user.may("read_dm", rows[0]["workspace_id"])),
    )


@endpoint()
def decide(request, form):
    user = current_user(request)
    decision = str(form.get("decision", ""))
    ids = [str(v) for v in form.getlist("ids")][:BULK_MAX]
    for key, what in (("approve_one", "approve"), ("reject_one", "reject")):
        if form.get(key):
            ids, decision = [str(form.get(key))], what
    if decision == "approve_all":
        decision, every = "approve", True
    else:
        every = False
    if decision not in ("approve", "reject"):
        flash(request, "Choose approve or reject.")
        return redirect("/approvals")
    scope = user.workspaces_for("approve")
    if scope == []:
        raise Forbidden(
            "approve",
            {"action_id": ids[0] if len(ids) == 1 else None, "decision": decision, "count": len(ids)},
        )
    note = str(form.get("note", "")).strip()[:500] or None
    with request.app.state.engine.begin() as conn:
        if every:
            ids = queries.queued_ids(conn, scope, BULK_MAX)
        mine = queries.actions_in_scope(conn, ids, scope)
        if len(ids) == 1 and not mine:
            raise NotFound()
        done = list(repo.decide_many(conn, mine, decision, actor=actor(request), note=note, run_id="console"))
    verb = "approved" if decision == "approve" else "rejected"
    skipped = len(ids) - len(done)
    flash(
        request,
        f"{len(done)} action(s) {verb}"
        + (f"; {skipped} skipped (no longer queued or not yours)" if skipped else ""),
    )
    return redirect("/approvals")


@endpoint("edit_action")
def edit(request, form):
    user = current_user(request)
    action_id = request.path_params["action_id"]
    new_text = str(form.get("text", "")).strip()
    with request.app.state.engine.begin() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT q.id, q.action_type, q.action_params, q.status, q.account_id, q.target_type, "
                    "q.target_id, a.platform, a.workspace_id FROM action_queue q JOIN accounts a ON a.id = "
                    "q.account_id "
                    f"WHERE q.id = :i AND {queries.IN_SCOPE} FOR UPDATE OF q"
                ),
                {"i": action_id, "ws": user.workspaces_for("view_queue")},
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound()
        if not user.may("edit_action", row["workspace_id"]):
            raise Forbidden("edit_action", {"action_id": action_id})
        if row["action_type"] not in TEXT_ACTIONS or row["status"] != "queued":
            flash(
                request,
                f"{action_id} cannot be edited (only the text of a queued comment, reply, DM or post).",
            )
            return redirect(f"/approvals/{action_id}")
        if not new_text:
            flash(request, "The text is empty: reject the action instead.")
            return redirect(f"/approvals/{action_id}")
        params = dict(row["action_params"] or {})
        if "text_encrypted" in params:
            vault = vault_of(request)
            if vault is None or not user.may("read_dm", row["workspace_id"]):
                raise Forbidden("read_dm", {"action_id": action_id})
            params["text_encrypted"] = envelope_to_text(vault.encrypt(new_text, queued_text_aad(action_id)))
        else:
            params["text"] = new_text
        digest = text_hash(new_text)
        conn.execute(
            text("UPDATE action_queue SET action_params = CAST(:p AS jsonb), text_hash = :h WHERE id = :i"),
            {"p": json.dumps(params), "h": digest, "i": action_id},
        )
        audit.record(
            conn,
            run_id="console",
            step_id="edit",
            event_type="approval",
            outcome="success",
            platform=row["platform"],
            account_id=row["account_id"],
            action_id=action_id,
            target_type=row["target_type"],
            target_id=row["target_id"],
            details={"decision": "edit", "by": actor(request), "text_hash": digest},
        )
    flash(request, f"{action_id}: text changed")
    return redirect(f"/approvals/{action_id}")


@endpoint("queue_action")
def queue_new(request, form):
    user = current_user(request)
    account_id = str(form.get("account", ""))
    action_type = str(form.get("action_type", ""))
    target = str(form.get("target", "")).strip() or None
    body = str(form.get("text", "")).strip() or None
    if action_type not in QUEUEABLE:
        flash(request, f"Choose one of: {', '.join(QUEUEABLE)}.")
        return redirect("/approvals")
    with request.app.state.engine.begin() as conn:
        if queries.account_in_scope(conn, account_id, user.workspaces_for("queue_action")) is None:
            raise NotFound()
        try:
            res = queue_for(
                conn,
                user,
                account=account_id,
                action_type=action_type,
                target_id=target,
                text_value=body if action_type in TEXT_ACTIONS else None,
                vault=vault_of(request) if action_type == "dm_send" else None,
                user_notes=f"queued in the console by {user.username}",
            )
        except PostpulseError as exc:
            flash(request, f"Not queued: {exc}")
            return redirect("/approvals")
    a = res.action
    flash(
        request,
        f"{a['id']} {a['action_type']} queued: {a['status']}" + (f" ({res.error})" if res.error else ""),
    )
    return redirect("/approvals")


routes = [
    Route("/approvals", approvals, methods=["GET"]),
    Route("/approvals/decide", decide, methods=["POST"]),
    Route("/approvals/new", queue_new, methods=["POST"]),
    Route("/approvals/{action_id}", action_detail, methods=["GET"]),
    Route("/approvals/{action_id}/edit", edit, methods=["POST"]),
]
