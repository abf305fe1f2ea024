"""Content items in a real Chromium: an editor (who may not review) sees no decision buttons, an
approver approves an item from the review inbox, it is scheduled, a viewer sees no reschedule
form, an editor moves it to another day in the calendar and downloads the week, and a
client of another workspace downloads the same week without it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.publishing.schedule import schedule_item
from tests.console.conftest import PASSWORD, add_user, add_workspace
from tests.console.test_content import content_item, next_monday_at, status_of

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from postpulse.browser import launch_args

    with sync_playwright() as pw:
        b = pw.chromium.launch(**launch_args())
        yield b
        b.close()


def log_in(browser, base_url: str, username: str):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/content")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    return context, page


def test_approver_approves_and_editor_reschedules(engine, console, browser):
    ws = add_workspace(engine, "acme")
    item = content_item(engine, ws, "acme_x", "Spring launch <b>today</b>")
    add_user(engine, "appr", "approver")
    add_user(engine, "ed", "editor")
    add_user(engine, "vic", "viewer")

    context, editor = log_in(browser, console.url, "ed")  # may not review: sees the item, no buttons
    editor.goto("/content")
    assert "Spring launch" in editor.locator(f"#item-{item}").inner_text()
    assert editor.get_by_role("button", name="Approve").count() == 0
    context.close()

    context, approver = log_in(browser, console.url, "appr")
    approver.goto("/content")
    section = approver.locator(f"#item-{item}")
    assert "Spring launch <b>today</b>" in section.inner_text()  # shown as text, not markup
    assert "Valid for every account." in section.inner_text()
    section.get_by_role("button", name="Approve").click()
    assert f"{item}: approve done" in approver.locator(".flash").inner_text()
    context.close()
    assert status_of(engine, item) == "approved"

    monday = next_monday_at(9)
    with engine.begin() as conn:
        schedule_item(conn, item, monday, actor="test")

    context, viewer = log_in(browser, console.url, "vic")  # may not reschedule: no form
    viewer.goto(f"/calendar?view=month&date={monday.date()}")
    assert "Spring launch" in viewer.locator("main").inner_text()
    assert viewer.get_by_role("button", name="Reschedule").count() == 0
    context.close()

    context, editor = log_in(browser, console.url, "ed")
    editor.goto(f"/calendar?view=month&date={monday.date()}")
    later = monday + timedelta(days=2, hours=5)
    editor.get_by_label("New time (UTC)").fill(later.strftime("%Y-%m-%dT%H:%M"))
    editor.get_by_role("button", name="Reschedule").click()
    assert "rescheduled for" in editor.locator(".flash").inner_text()
    editor.goto(f"/calendar?view=week&date={later.date()}")
    assert later.strftime("%A %Y-%m-%d") in editor.locator("main").inner_text()
    with editor.expect_download() as download:
        editor.get_by_role("link", name="download this week (.ics)").click()
    assert download.value.suggested_filename == f"postpulse-week-{monday.date()}.ics"
    ics = Path(download.value.path()).read_text(encoding="utf-8")
    assert ics.count("BEGIN:VEVENT") == 1 and later.strftime("DTSTART:%Y%m%dT%H%M%SZ") in ics
    context.close()

    # a client of another workspace downloads the same week: nothing of acme's in it
    add_workspace(engine, "elsewhere")
    add_user(engine, "cli", "client", "elsewhere")
    context, client = log_in(browser, console.url, "cli")
    client.goto(f"/calendar?view=week&date={later.date()}")
    assert "Spring launch" not in client.locator("main").inner_text()
    with client.expect_download() as download:
        client.get_by_role("link", name="download this week (.ics)").click()
    ics = Path(download.value.path()).read_text(encoding="utf-8")
    assert "BEGIN:VCALENDAR" in ics and "BEGIN:VEVENT" not in ics and item not in ics
    context.close()
    with engine.connect() as conn:
        at = conn.execute(
            text(
                "SELECT scheduled_for FROM publications WHERE content_item_id = :i AND status = 'scheduled'"
            ),
            {"i": item},
        ).scalar_one()
    assert at == later
