"""The unified inbox: DM threads and comments on our posts, newest first, with unread counts.

DM text is decrypted per request, in memory, for roles that may read DMs, and never stored or
cached in plain text (pages are sent with ``Cache-Control: no-store``). Replying queues a normal
action (``dm_send`` or ``reply``): it goes through approval and the policy like any other.
"""

from __future__ import annotations

from starlette.routing import Route

from postpulse.console import queries
from postpulse.console.actions import queue_for
from postpulse.console.web import (
    Forbidden,
    NotFound,
    current_user,
    endpoint,
    flash,
    page_offset,
    redirect,
    render,
    vault_of,
)
from postpulse.errors import PostpulseError


@endpoint("view_inbox")
def inbox(request, form):
    user = current_user(request)
    scope = user.workspaces_for("view_inbox")
    offset = page_offset(request)
    with request.app.state.engine.connect() as conn:
        threads = queries.dm_threads(conn, scope, offset=offset)
        comments = queries.comments_on_our_posts(conn, scope, offset=offset)
        unread = queries.unread_total(conn, scope)
    return render(
        request,
        "inbox.html",
        title="Inbox",
        threads=threads,
        comments=comments,
        unread=unread,
        offset=offset,
        page_size=queries.PAGE_SIZE,
        may_reply=user.may("queue_action"),
    )


@endpoint("view_inbox")
def thread(request, form):
    user = current_user(request)
    with request.app.state.engine.begin() as conn:
        t = queries.dm_thread(conn, request.path_params["thread_id"], user.workspaces_for("view_inbox"))
        if t is None:
            raise NotFound()
        workspace = _workspace_of(conn, t["account_id"])
        readable = user.may("read_dm", workspace)
        messages = queries.dm_messages(conn, t["id"], vault_of(request), decrypt=readable)
        if readable:
            queries.mark_thread_read(conn, t["id"])
        may_reply = user.may("queue_action", workspace)
    return render(
        request,
        "thread.html",
        title=f"@{t['participant_username']}",
        t=t,
        messages=messages,
        readable=readable,
        vault_missing=vault_of(request) is None,
        may_reply=may_reply,
        opted_out=any(m["opt_out"] for m in messages),
    )


def _workspace_of(conn, account_id: str) -> str | None:
    from sqlalchemy import text

    return conn.execute(text("SELECT workspace_id FROM accounts WHERE id = :i"), {"i": account_id}).scalar()


@endpoint("queue_action")
def reply_dm(request, form):
    user = current_user(request)
    body = str(form.get("text", "")).strip()
    with request.app.state.engine.begin() as conn:
        t = queries.dm_thread(conn, request.path_params["thread_id"], user.workspaces_for("queue_action"))
        if t is None:
            raise NotFound()
        vault = vault_of(request)
        if vault is None:
            flash(request, "No vault key: DMs cannot be sent from here (see `postpulse keys`).")
            return redirect(f"/inbox/threads/{t['id']}")
        try:
            res = queue_for(
                conn,
                user,
                account=t["account_id"],
                action_type="dm_send",
                target_id=t["id"],
                target_type="dm_thread",
                text_value=body or None,
                vault=vault,
                user_notes=f"reply queued in the console by {user.username}",
            )
        except PostpulseError as exc:
            flash(request, f"Not queued: {exc}")
            return redirect(f"/inbox/threads/{t['id']}")
    flash(
        request,
        f"Reply queued as {res.action['id']} ({res.action['status']}); it goes through approval and policy.",
    )
    return redirect(f"/inbox/threads/{t['id']}")


@endpoint("queue_action")
def reply_comment(request, form):
    user = current_user(request)
    body = str(form.get("text", "")).strip()
    with request.app.state.engine.begin() as conn:
        c = queries.comment_in_scope(
            conn, request.path_params["comment_id"], user.workspaces_for("queue_action")
        )
        if c is None:
            raise NotFound()
        if not c["platform_comment_id"]:
            raise Forbidden("queue_action", {"reason": "comment without a platform id"})
        try:
            res = queue_for(
                conn,
                user,
                account=c["account_id"],
                action_type="reply",
                target_id=c["platform_comment_id"],
                post_id=c["platform_post_id"],
                text_value=body or None,
                user_notes=f"reply queued in the console by {user.username}",
            )
        except PostpulseError as exc:
            flash(request, f"Not queued: {exc}")
            return redirect("/inbox")
    flash(
        request,
        f"Reply queued as {res.action['id']} ({res.action['status']}); it goes through approval and policy.",
    )
    return redirect("/inbox")


routes = [
    Route("/inbox", inbox, methods=["GET"]),
    Route("/inbox/threads/{thread_id}", thread, methods=["GET"]),
    Route("/inbox/threads/{thread_id}/reply", reply_dm, methods=["POST"]),
    Route("/inbox/comments/{comment_id}/reply", reply_comment, methods=["POST"]),
]
