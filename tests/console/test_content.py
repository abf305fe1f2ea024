"""Content items in the console over real HTTP: the review inbox (approve, back to draft,
cancel) and the calendar (week and month, reschedule), by role and by workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import text

from postpulse.publishing import items
from postpulse.publishing.schedule import schedule_item
from tests.console.conftest import add_account, add_user, add_workspace, login, post


def content_item(engine, workspace: str, username: str, body: str, *, status: str = "in_review") -> str:
    """An item with one variant on an authorized account with a stored session."""
    acc = add_account(engine, username, workspace)
    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET session_encrypted = '\\x00'::bytea WHERE id = :i"), {"i": acc})
        item_id = items.create_item(
            conn, items.ItemInput(text=body, title=f"about {username}", accounts=[acc]), workspace=workspace
        )
        items.submit(conn, item_id, actor="test")
        if status in ("approved", "scheduled"):
            items.approve(conn, item_id, actor="test")
        if status == "scheduled":
            schedule_item(conn, item_id, next_monday_at(10), actor="test")
    return item_id


def next_monday_at(hour: int) -> datetime:
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def status_of(engine, item_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status FROM content_items WHERE id = :i"), {"i": item_id}
        ).scalar_one()


def audited(engine, item_id: str, step: str) -> list[dict]:
    with engine.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT details FROM audit_entries WHERE step_id = :s AND "
                    "(target_id = :i OR details->>'content_item_id' = :i OR details->>'item_id' = :i)"
                ),
                {"s": step, "i": item_id},
            )
        ]


def test_an_approver_approves_and_sends_back_with_audit(engine, console):
    ws = add_workspace(engine, "acme")
    one = content_item(engine, ws, "acme_x", "first post")
    two = content_item(engine, ws, "acme_y", "second post")
    add_user(engine, "appr", "approver")
    client = login(console.url, "appr")
    page = client.get("/content")
    assert page.status_code == 200 and one in page.text and "Valid for every account." in page.text
    assert post(client, f"/content/{one}/decide", {"decision": "approve"}, page="/content").status_code == 303
    assert (
        post(client, f"/content/{two}/decide", {"decision": "to_draft"}, page="/content").status_code == 303
    )
    assert status_of(engine, one) == "approved" and status_of(engine, two) == "draft"
    assert [d["by"] for d in audited(engine, one, "content_review")] == ["console:appr"]
    assert audited(engine, two, "content_review")[0]["decision"] == "to_draft"
    assert audited(engine, one, "content_review")[0]["workspace_id"] == ws


def test_editors_and_viewers_cannot_approve_and_are_audited(engine, console):
    ws = add_workspace(engine, "acme")
    item = content_item(engine, ws, "acme_x", "a post")
    for name, role in (("ed", "editor"), ("vic", "viewer")):
        add_user(engine, name, role)
        client = login(console.url, name)
        page = client.get("/content")
        assert page.status_code == 200 and item in page.text and "Approve</button>" not in page.text
        r = post(client, f"/content/{item}/decide", {"decision": "approve"}, page="/content")
        assert r.status_code == 403
    assert status_of(engine, item) == "in_review"
    denied = audited(engine, item, "denied")
    assert sorted(d["by"] for d in denied) == ["ed", "vic"] and {d["denied"] for d in denied} == {
        "review_content"
    }


def test_a_client_reviews_only_their_workspace(engine, console):
    ws_mine, ws_other = add_workspace(engine, "mine"), add_workspace(engine, "other")
    mine = content_item(engine, ws_mine, "mine_x", "my post")
    other = content_item(engine, ws_other, "other_x", "their post", status="scheduled")
    other_review = content_item(engine, ws_other, "other_y", "their draft")
    add_user(engine, "cli", "client", "mine")
    client = login(console.url, "cli")
    page = client.get("/content").text
    assert mine in page and other_review not in page
    assert other not in client.get(f"/calendar?date={next_monday_at(10).date()}").text
    ics = client.get(f"/calendar.ics?date={next_monday_at(10).date()}")
    assert ics.status_code == 200 and other not in ics.text and "BEGIN:VCALENDAR" in ics.text
    r = post(client, f"/content/{other_review}/decide", {"decision": "approve"}, page="/content")
    assert r.status_code == 404 and status_of(engine, other_review) == "in_review"
    r = post(client, f"/calendar/{other}/reschedule", {"at": "2030-01-01T10:00"}, page="/content")
    assert r.status_code == 403
    assert post(client, f"/content/{mine}/decide", {"decision": "cancel"}, page="/content").status_code == 303
    assert status_of(engine, mine) == "cancelled"


def test_calendar_by_week_and_month_and_reschedule(engine, console):
    ws = add_workspace(engine, "acme")
    item = content_item(engine, ws, "acme_x", "planned post", status="scheduled")
    monday = next_monday_at(10)
    add_user(engine, "ed", "editor")
    add_user(engine, "vic", "viewer")
    editor = login(console.url, "ed")
    week = editor.get(f"/calendar?view=week&date={monday.date()}")
    assert week.status_code == 200 and "planned post" in week.text and "Reschedule" in week.text
    assert f"date={(monday - timedelta(days=7)).date()}" in week.text  # previous week
    assert (
        "planned post" not in editor.get(f"/calendar?view=week&date={monday.date() + timedelta(days=7)}").text
    )
    assert "planned post" in editor.get(f"/calendar?view=month&date={monday.date()}").text
    assert f"/calendar.ics?view=week&date={monday.date()}" in week.text
    ics = editor.get(f"/calendar.ics?view=week&date={monday.date()}")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.headers["content-disposition"] == f'attachment; filename="postpulse-week-{monday.date()}.ics"'
    events = Calendar.from_ical(ics.content).walk("VEVENT")
    assert [str(e["uid"]).endswith("@postpulse") for e in events] == [True]
    assert "planned post" in str(events[0]["description"]) and item in str(events[0]["description"])
    assert not Calendar.from_ical(
        editor.get(f"/calendar.ics?view=week&date={monday.date() + timedelta(days=7)}").content
    ).walk("VEVENT")

    later = monday + timedelta(days=1, hours=3)
    r = post(
        editor, f"/calendar/{item}/reschedule", {"at": later.strftime("%Y-%m-%dT%H:%M")}, page="/calendar"
    )
    assert r.status_code == 303
    with engine.connect() as conn:
        live = (
            conn.execute(
                text(
                    "SELECT scheduled_for FROM publications WHERE content_item_id = :i "
                    "AND status = 'scheduled'"
                ),
                {"i": item},
            )
            .scalars()
            .all()
        )
    assert live == [later] and status_of(engine, item) == "scheduled"
    assert audited(engine, item, "content_reschedule")[0]["by"] == "console:ed"

    viewer = login(console.url, "vic")
    page = viewer.get(f"/calendar?date={later.date()}").text
    assert "planned post" in page and "Reschedule" not in page
    r = post(viewer, f"/calendar/{item}/reschedule", {"at": "2030-01-01T10:00"}, page="/calendar")
    assert r.status_code == 403 and audited(engine, item, "denied")[0]["by"] == "vic"
    assert viewer.post(f"/calendar/{item}/reschedule", data={"at": "2030-01-01T10:00"}).status_code == 403


def test_content_html_is_escaped(engine, console):
    ws = add_workspace(engine, "acme")
    payload = "<script>alert(1)</script>"
    content_item(engine, ws, "acme_x", f"review {payload}")
    content_item(engine, ws, "acme_y", f"planned {payload}", status="scheduled")
    add_user(engine, "root", "admin")
    client = login(console.url, "root")
    joined = client.get("/content").text + client.get(f"/calendar?date={next_monday_at(10).date()}").text
    assert payload not in joined
    assert joined.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
