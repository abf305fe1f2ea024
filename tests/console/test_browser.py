"""The console in a real Chromium: an admin's first login and a new approver, a comment queued,
approved with its policy reasons and posted on the sandbox by the executor; a client's report;
a DM that says "stop" shown as an opt-out; each page, detail page and button for a role that
may use it and one that may not."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from postpulse.console import users
from postpulse.engagement import dm_sync
from tests.console.conftest import PASSWORD, add_account, add_dm, add_user, add_workspace, queue_comment
from tests.engagement.conftest import executor, make_account, posts_of

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sandbox():
    from postpulse.sandbox.server import SandboxServer

    with SandboxServer(seed=7) as server:
        yield server


_open_contexts: list = []


@pytest.fixture(autouse=True)
def _close_contexts():
    yield
    while _open_contexts:
        _open_contexts.pop().close()


def log_in(browser, base_url: str, username: str, password: str):
    context = browser.new_context(base_url=base_url)
    _open_contexts.append(context)
    page = context.new_page()
    page.goto("/approvals")  # no session: the login page
    assert page.url.endswith("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    return page


def choose_password(page, password: str) -> None:
    assert page.url.endswith("/password")
    page.get_by_label("New password").fill(password)
    page.get_by_label("Again").fill(password)
    page.get_by_role("button", name="Save").click()


def test_admin_adds_an_approver_who_approves_a_comment_that_reaches_the_sandbox(
    engine, vault, console, sandbox, browser
):
    with engine.begin() as conn:
        one_time = users.ensure_first_admin(conn)
    acc = make_account(engine, vault, sandbox, browser)
    post_id = posts_of(sandbox, n=5)[0]
    sb_post = sandbox.world.posts["x"][post_id] if hasattr(sandbox.world, "posts") else None
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posts (id, platform, platform_post_id, text_content, author_username) "
                "VALUES (pp_new_id('p'), 'x', :pp, :t, :a)"
            ),
            {
                "pp": post_id,
                "t": getattr(sb_post, "text", "a sandbox post"),
                "a": getattr(sb_post, "author", "someone"),
            },
        )

    admin = log_in(browser, console.url, "admin", one_time)
    choose_password(admin, "admin password 1")
    assert admin.url.endswith("/approvals")
    admin.goto("/team")
    admin.get_by_label("User name").fill("appr")
    admin.get_by_label("Role").select_option("approver")
    admin.get_by_role("button", name="Add").click()
    approver_password = admin.locator("code.password").inner_text()
    admin.goto("/approvals")
    admin.get_by_label("Type").select_option("comment")
    admin.get_by_label("Target (post id or user name)").fill(post_id)
    admin.get_by_label("Text (comment or message)").fill("Lovely light in this one!")
    admin.get_by_role("button", name="Queue").click()
    assert "comment queued: queued" in admin.locator(".flash").inner_text()
    with engine.connect() as conn:
        aid = conn.execute(text("SELECT id FROM action_queue WHERE account_id = :a"), {"a": acc}).scalar_one()

    approver = log_in(browser, console.url, "appr", approver_password)
    choose_password(approver, "approver password 1")
    row = approver.locator(f"#row-{aid}")
    assert "Lovely light in this one!" in row.inner_text()
    policy = row.locator(".policy").inner_text()
    assert "allow" in policy and "allowed" in policy  # the policy engine's decision and reason
    row.get_by_role("button", name="Approve").click()
    assert "1 action(s) approved" in approver.locator(".flash").inner_text()

    rep = executor(engine, vault, sandbox, browser).run_batch()
    assert rep["completed"] == 1, rep
    live = [c for c in sandbox.world.comments["x"].values() if c.live and c.author == "demo_x"]
    assert [c.text for c in live if c.post_id == post_id] == ["Lovely light in this one!"]
    with engine.connect() as conn:
        by = conn.execute(
            text("SELECT details->>'by' FROM audit_entries WHERE action_id = :a AND step_id = 'approve'"),
            {"a": aid},
        ).scalar_one()
    assert by == "console:appr"


def test_a_client_sees_only_their_workspace_report(engine, console, browser):
    add_workspace(engine, "Sunrise Bakery")
    other = add_workspace(engine, "Other Client")
    add_user(engine, "client1", "client", "Sunrise Bakery")
    page = log_in(browser, console.url, "client1", PASSWORD)
    assert page.url.endswith("/reports")
    links = page.locator("main a").all_inner_texts()
    assert links == ["Sunrise Bakery"]
    page.get_by_role("link", name="Sunrise Bakery").click()
    frame = page.frame_locator("iframe.report")
    assert "Sunrise Bakery" in frame.locator("h1").inner_text(timeout=60000)
    with page.expect_download() as dl:
        page.get_by_role("link", name=re.compile("Download")).click()
    assert dl.value.suggested_filename == "report-Sunrise_Bakery.html"
    assert page.goto(f"/reports/{other}").status == 404
    assert page.goto("/approvals").status == 403
    assert page.goto("/inbox").status == 403


def test_a_stop_message_shows_as_an_opt_out(engine, vault, console, browser):
    ws = add_workspace(engine, "acme")
    acc = add_account(engine, "acme_x", ws)
    thread = add_dm(engine, vault, acc, "pat", ["hi there", "STOP"])
    with engine.begin() as conn:  # what a DM sync does when it reads an opt-out
        dm_sync.add_opt_out(
            conn,
            platform="x",
            username="pat",
            account_id=acc,
            run_id="test",
            thread_id=thread,
            message_id=None,
            now=datetime.now(UTC),
        )
    add_user(engine, "ed", "editor", "acme")
    page = log_in(browser, console.url, "ed", PASSWORD)
    page.goto("/inbox")
    assert "2 unread" in page.locator("h1").inner_text()
    row = page.locator("tr", has_text="@pat")
    assert "opted out" in row.inner_text()
    row.get_by_role("link", name="@pat").click()
    assert "Opted out" in page.locator("p.opt-out").inner_text()
    stop = page.locator("li.opt-out")
    assert stop.count() == 1 and "STOP" in stop.inner_text()
    assert page.locator("textarea[name=text]").count() == 0  # no reply form to an opted-out person
    page.goto("/inbox")
    assert "0 unread" in page.locator("h1").inner_text()


PAGES = {
    "/approvals": ("approver", "client"),
    "/inbox": ("editor", "client"),
    "/accounts": ("viewer", "client"),
    "/reports": ("client", None),
    "/team": ("admin", "approver"),
}


def test_each_page_for_a_role_that_may_and_one_that_may_not(engine, console, browser):
    add_workspace(engine, "acme")
    for role in ("approver", "client", "editor", "viewer"):
        add_user(engine, f"u_{role}", role, "acme")
    add_user(engine, "u_admin", "admin")
    pages = {}
    for role in ("approver", "client", "editor", "viewer", "admin"):
        pages[role] = log_in(browser, console.url, f"u_{role}", PASSWORD)
    for path, (may, may_not) in PAGES.items():
        assert pages[may].goto(path).status == 200, (path, may)
        if may_not:
            assert pages[may_not].goto(path).status == 403, (path, may_not)
    # accounts: only an admin edits (viewers see no form fields)
    assert pages["viewer"].goto("/accounts").status == 200


def test_each_detail_page_and_its_buttons_for_a_role_that_may_and_one_that_may_not(
    engine, vault, console, browser
):
    """The pages of one action, account, DM thread and workspace report, and the buttons on them:
    each opened (and pressed) by a role that may, refused (or absent) for one that may not."""
    ws = add_workspace(engine, "acme")
    add_workspace(engine, "globex")
    acc = add_account(engine, "acme_x", ws)
    action = queue_comment(engine, acc, "P1", "nice post")
    thread = add_dm(engine, vault, acc, "fan", ["hello there"])
    for role in ("approver", "client", "editor", "viewer"):
        add_user(engine, f"u_{role}", role, "acme")
    add_user(engine, "u_admin", "admin")
    add_user(engine, "u_outsider", "client", "globex")
    pages = {
        role: log_in(browser, console.url, f"u_{role}", PASSWORD)
        for role in ("approver", "client", "editor", "viewer", "admin", "outsider")
    }
    for path, may, may_not, refused in (
        (f"/approvals/{action}", "approver", "client", 403),
        (f"/accounts/{acc}", "viewer", "client", 403),
        (f"/inbox/threads/{thread}", "editor", "client", 403),
        (f"/reports/{ws}/view", "client", "outsider", 404),
    ):
        assert pages[may].goto(path).status == 200, (path, may)
        assert pages[may_not].goto(path).status == refused, (path, may_not)

    def buttons(role: str, path: str, name: str) -> int:
        pages[role].goto(path)
        return pages[role].get_by_role("button", name=name, exact=True).count()

    for path, name, may, may_not in (
        (f"/approvals/{action}", "Approve", "approver", "editor"),
        (f"/approvals/{action}", "Save text", "editor", "viewer"),
        (f"/inbox/threads/{thread}", "Queue reply", "editor", "viewer"),
        (f"/accounts/{acc}", "Save limits and quiet hours", "admin", "viewer"),
    ):
        assert buttons(may, path, name) == 1, (path, name, may)
        assert buttons(may_not, path, name) == 0, (path, name, may_not)

    # pressed by those who may: the edit is saved, the approval recorded
    editor = pages["editor"]
    editor.goto(f"/approvals/{action}")
    editor.locator("textarea[name=text]").fill("a kinder comment")
    editor.get_by_role("button", name="Save text").click()
    assert f"{action}: text changed" in editor.locator(".flash").inner_text()
    approver = pages["approver"]
    approver.goto(f"/approvals/{action}")
    assert approver.locator("textarea[name=text]").input_value() == "a kinder comment"
    approver.get_by_role("button", name="Approve", exact=True).click()
    assert "1 action(s) approved" in approver.locator(".flash").inner_text()
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM action_queue WHERE id = :a"), {"a": action}).scalar()
    assert status == "approved"
