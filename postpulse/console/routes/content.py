"""Content items in the console: the review inbox (items in review with their variants and the
validation result; approve, send back to draft or cancel) and the calendar (scheduled and
published content by week or month; reschedule a scheduled item).

Every change goes through the publishing functions (``items.approve``, ``items.transition``,
``items.cancel``, ``schedule.reschedule_item``), the same as ``postpulse content ...``, and is
audited with the console user.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from starlette.responses import Response
from starlette.routing import Route

from postpulse.console.web import Forbidden, NotFound, actor, current_user, endpoint, flash, redirect, render
from postpulse.engagement import audit
from postpulse.errors import PostpulseError
from postpulse.publishing import items
from postpulse.publishing.calendar import calendar_entries, to_ics
from postpulse.publishing.schedule import reschedule_item, validate_item

#: the most items the review inbox lists
REVIEW_LIMIT = 200
DECISIONS = ("approve", "to_draft", "cancel")


def item_in_scope(conn, item_id: str, scope: list[str] | None) -> dict:
    row = (
        conn.execute(
            text(
                "SELECT id, workspace_id, status, title FROM content_items WHERE id = :i "
                "AND (CAST(:ws AS text[]) IS NULL OR workspace_id = ANY(CAST(:ws AS text[])))"
            ),
            {"i": item_id, "ws": scope},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound()
    return dict(row)


def audit_content(request, step: str, item: dict, **details) -> None:
    with request.app.state.engine.begin() as conn:
        audit.record(
            conn,
            run_id="console",
            step_id=step,
            event_type="approval",
            outcome="success",
            target_type="content_item",
            target_id=item["id"],
            details={"by": actor(request), "workspace_id": item["workspace_id"], **details},
        )


@endpoint("view_content")
def review(request, form):
    user = current_user(request)
    scope = user.workspaces_for("view_content")
    with request.app.state.engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT c.id, c.workspace_id, c.title, c.text_content, c.updated_at, w.name AS workspace "
                    "FROM content_items c JOIN workspaces w ON w.id = c.workspace_id "
                    "WHERE c.status = 'in_review' "
                    "AND (CAST(:ws AS text[]) IS NULL OR c.workspace_id = ANY(CAST(:ws AS text[]))) "
                    "ORDER BY c.updated_at, c.id LIMIT :n"
                ),
                {"ws": scope, "n": REVIEW_LIMIT},
            )
            .mappings()
            .all()
        )
        listed = []
        for r in rows:
            item = dict(r)
            item["variants"] = items.variants(conn, item["id"])
            item["problems"] = validate_item(conn, item["id"], item["variants"])
            item["may_review"] = user.may("review_content", item["workspace_id"])
            listed.append(item)
    return render(request, "content_review.html", title="Content review", items=listed)


@endpoint()
def decide(request, form):
    user = current_user(request)
    item_id = request.path_params["item_id"]
    decision = str(form.get("decision", ""))
    if decision not in DECISIONS:
        flash(request, "Choose approve, back to draft or cancel.")
        return redirect("/content")
    with request.app.state.engine.begin() as conn:
        item = item_in_scope(conn, item_id, user.workspaces_for("view_content"))
    if not user.may("review_content", item["workspace_id"]):
        raise Forbidden("review_content", {"content_item_id": item_id, "decision": decision})
    try:
        with request.app.state.engine.begin() as conn:
            if decision == "approve":
                items.approve(conn, item_id, actor=actor(request))
            elif decision == "to_draft":
                items.transition(conn, item_id, "draft", reason="sent back in review", actor=actor(request))
            else:
                items.cancel(conn, item_id, actor=actor(request))
    except PostpulseError as exc:
        flash(request, f"{item_id}: not changed ({exc})")
        return redirect("/content")
    audit_content(request, "content_review", item, decision=decision)
    flash(request, f"{item_id}: {decision.replace('_', ' ')} done")
    return redirect("/content")


def period_of(request) -> tuple[str, date, date, date, date]:
    """(view, start, end, previous start, next start) from ``?view=week|month&date=YYYY-MM-DD``."""
    view = "month" if request.query_params.get("view") == "month" else "week"
    try:
        day = date.fromisoformat(request.query_params.get("date", ""))
    except ValueError:
        day = datetime.now(UTC).date()
    if view == "week":
        start = day - timedelta(days=day.weekday())
        return view, start, start + timedelta(days=7), start - timedelta(days=7), start + timedelta(days=7)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    prev = (start - timedelta(days=1)).replace(day=1)
    return view, start, end, prev, end


def at_midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def entries_in_scope(conn, user, start: date, end: date) -> list[dict]:
    """The calendar entries from ``start`` up to ``end`` of the workspaces the user may view."""
    scope = user.workspaces_for("view_content")
    return calendar_entries(conn, at_midnight(start), at_midnight(end), workspace_ids=scope)


@endpoint("view_content")
def calendar_ics(request, form):
    """The period shown on the calendar page as an iCalendar file, for a calendar app."""
    view, start, end, _, _ = period_of(request)
    with request.app.state.engine.connect() as conn:
        entries = entries_in_scope(conn, current_user(request), start, end)
    name = f"postpulse-{view}-{start.isoformat()}.ics"
    return Response(
        to_ics(entries, name=f"postpulse content calendar, {view} of {start.isoformat()}"),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@endpoint("view_content")
def calendar(request, form):
    user = current_user(request)
    view, start, end, prev, nxt = period_of(request)
    with request.app.state.engine.connect() as conn:
        entries = entries_in_scope(conn, user, start, end)
    days: dict[date, list[dict]] = {}
    for e in entries:
        e["may_reschedule"] = e["status"] == "scheduled" and user.may("schedule_content", e["workspace_id"])
        days.setdefault(e["at"].astimezone(UTC).date(), []).append(e)
    return render(
        request,
        "calendar.html",
        title="Calendar",
        view=view,
        start=start,
        end=end - timedelta(days=1),
        prev=prev,
        next=nxt,
        days=sorted(days.items()),
    )


@endpoint("schedule_content")
def reschedule(request, form):
    user = current_user(request)
    item_id = request.path_params["item_id"]
    back = str(form.get("back", "/calendar"))
    back = back if back.startswith("/calendar") else "/calendar"
    try:
        at = datetime.fromisoformat(str(form.get("at", ""))).replace(tzinfo=UTC)
    except ValueError:
        flash(request, "Give the new time as YYYY-MM-DD HH:MM (UTC).")
        return redirect(back)
    with request.app.state.engine.begin() as conn:
        item = item_in_scope(conn, item_id, user.workspaces_for("view_content"))
    if not user.may("schedule_content", item["workspace_id"]):
        raise Forbidden("schedule_content", {"content_item_id": item_id})
    if item["status"] != "scheduled":
        flash(request, f"{item_id} is {item['status']}: only a scheduled item can be rescheduled.")
        return redirect(back)
    try:
        with request.app.state.engine.begin() as conn:
            reschedule_item(conn, item_id, at, actor=actor(request))
    except PostpulseError as exc:
        flash(request, f"{item_id}: not rescheduled ({exc})")
        return redirect(back)
    audit_content(request, "content_reschedule", item, scheduled_for=at.isoformat())
    flash(request, f"{item_id}: rescheduled for {at:%Y-%m-%d %H:%M} UTC")
    return redirect(back)


routes = [
    Route("/content", review, methods=["GET"]),
    Route("/content/{item_id}/decide", decide, methods=["POST"]),
    Route("/calendar", calendar, methods=["GET"]),
    Route("/calendar.ics", calendar_ics, methods=["GET"]),
    Route("/calendar/{item_id}/reschedule", reschedule, methods=["POST"]),
]
