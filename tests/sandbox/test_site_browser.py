"""The site in a real Chromium (Playwright, sync API): every action, verified after a reload."""

from __future__ import annotations

import pytest

from postpulse.browser import launch_args
from postpulse.sandbox.server import SandboxServer

from .conftest import small_world

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def site():
    with SandboxServer(small_world(), time_scale=0.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(**launch_args())
        yield b
        b.close()


@pytest.fixture
def page(site, browser):
    site.faults.clear()
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.set_default_timeout(5000)
    yield pg
    ctx.close()


def ui_login(page, site, platform, username=None):
    username = username or f"demo_{platform}"
    page.goto(f"{site.base_url}/{platform}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"sandbox-{username}")
    submit(page, page.get_by_role("button", name="Log in"))
    sync_api.expect(page.get_by_test_id("current-user")).to_have_attribute("data-username", username)


def submit(page, locator):
    """Click a form button and wait for the POST + redirect to finish loading."""
    with page.expect_navigation():
        locator.click()


def open_post(page, site, platform, author):
    post = site.world.visible_posts(platform, site.clock.now(), author)[0]
    from postpulse.sandbox.formats import post_path

    page.goto(site.base_url + post_path(post))
    return post


def test_login_logout_and_redirect_back(page, site):
    page.goto(f"{site.base_url}/instagram/messages/")
    assert "/instagram/login" in page.url
    page.get_by_label("Username").fill("demo_instagram")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill("sandbox-demo_instagram")
    page.get_by_role("button", name="Log in").click()
    assert page.url.endswith("/instagram/messages/")
    cookies = page.context.cookies()
    assert any(c["name"] == "sandbox_session_instagram" and c["httpOnly"] for c in cookies)
    submit(page, page.get_by_role("button", name="Log out"))
    page.goto(f"{site.base_url}/instagram/")
    assert "/instagram/login" in page.url


def test_like_and_unlike_visible_after_reload(page, site):
    ui_login(page, site, "x")
    post = open_post(page, site, "x", "demo2_x")
    button = page.get_by_test_id("post").get_by_role("button", name="Like")
    sync_api.expect(button).to_have_attribute("aria-pressed", "false")
    before = int(page.get_by_test_id("post").get_by_test_id("like-count").get_attribute("data-value"))
    submit(page, button)
    page.reload()
    button = page.get_by_test_id("post").get_by_role("button", name="Like")
    sync_api.expect(button).to_have_attribute("aria-pressed", "true")
    after = int(page.get_by_test_id("post").get_by_test_id("like-count").get_attribute("data-value"))
    assert after == before + 1
    submit(page, button)
    page.reload()
    sync_api.expect(page.get_by_test_id("post").get_by_role("button", name="Like")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert ("x", "demo_x", post.post_id) not in site.world.likes


def test_comment_reply_and_delete(page, site):
    ui_login(page, site, "instagram")
    open_post(page, site, "instagram", "demo2_instagram")
    page.get_by_label("Add a comment").fill("Browser comment #one")
    submit(page, page.get_by_role("button", name="Post comment"))
    page.reload()
    mine = page.get_by_test_id("comment").filter(has_text="Browser comment #one")
    sync_api.expect(mine).to_have_count(1)
    mine.get_by_role("textbox", name="Reply to @demo_instagram").fill("and a reply")
    submit(page, mine.get_by_role("button", name="Reply"))
    page.reload()
    mine = page.get_by_test_id("comment").filter(has_text="Browser comment #one").first
    sync_api.expect(mine.get_by_test_id("replies")).to_contain_text("and a reply")
    submit(
        page,
        page.get_by_test_id("comment")
        .filter(has_text="and a reply")
        .last.get_by_role("button", name="Delete comment"),
    )
    page.reload()
    sync_api.expect(page.get_by_test_id("comment").filter(has_text="and a reply")).to_have_count(0)
    sync_api.expect(page.get_by_test_id("comment").filter(has_text="Browser comment #one")).to_have_count(1)
    submit(
        page,
        page.get_by_test_id("comment")
        .filter(has_text="Browser comment #one")
        .first.get_by_role("button", name="Delete comment")
        .first,
    )
    page.reload()
    sync_api.expect(page.get_by_test_id("comment").filter(has_text="Browser comment #one")).to_have_count(0)


def test_follow_and_unfollow(page, site):
    ui_login(page, site, "tiktok")
    target = next(
        u
        for u, p in site.world.profiles["tiktok"].items()
        if not p.is_ours and not site.world.is_following("tiktok", "demo_tiktok", u)
    )
    page.goto(f"{site.base_url}/tiktok/@{target}")
    followers = int(page.get_by_test_id("followers-count").get_attribute("data-value"))
    btn = page.get_by_role("button", name="Follow ")
    sync_api.expect(btn).to_have_attribute("aria-pressed", "false")
    submit(page, btn)
    page.reload()
    sync_api.expect(page.get_by_role("button", name="Follow ")).to_have_attribute("aria-pressed", "true")
    assert int(page.get_by_test_id("followers-count").get_attribute("data-value")) == followers + 1
    submit(page, page.get_by_role("button", name="Follow "))
    page.reload()
    sync_api.expect(page.get_by_role("button", name="Follow ")).to_have_attribute("aria-pressed", "false")
    assert int(page.get_by_test_id("followers-count").get_attribute("data-value")) == followers


def test_dm_send_in_thread_and_new_thread(page, site):
    ui_login(page, site, "linkedin")
    page.goto(f"{site.base_url}/linkedin/messages/")
    page.get_by_test_id("thread-link").first.click()
    page.get_by_role("textbox", name="Message").fill("Hello from the browser")
    submit(page, page.get_by_role("button", name="Send"))
    page.reload()
    sync_api.expect(page.get_by_test_id("message").last).to_contain_text("Hello from the browser")
    sync_api.expect(page.get_by_test_id("message").last).to_have_attribute("data-sender", "demo_linkedin")
    page.goto(f"{site.base_url}/linkedin/in/demo2_linkedin/")
    page.get_by_test_id("message-button").click()
    sync_api.expect(page.get_by_label("To")).to_have_value("demo2_linkedin")
    page.get_by_role("textbox", name="Message").fill("New conversation")
    submit(page, page.get_by_role("button", name="Send"))
    page.reload()
    sync_api.expect(page.get_by_test_id("thread-view")).to_have_attribute("data-with", "demo2_linkedin")
    sync_api.expect(page.get_by_test_id("message")).to_contain_text(["New conversation"])


def test_publish(page, site):
    ui_login(page, site, "threads")
    submit(page, page.get_by_role("link", name="New post"))
    page.get_by_label("What do you want to share?").fill("Fresh from the sandbox #launch @demo2_threads")
    submit(page, page.get_by_role("button", name="Publish"))
    page.reload()
    sync_api.expect(page.get_by_test_id("post-text")).to_contain_text("Fresh from the sandbox")
    sync_api.expect(page.get_by_test_id("hashtag")).to_have_attribute("data-tag", "launch")
    sync_api.expect(page.get_by_test_id("mention")).to_have_attribute("data-username", "demo2_threads")
    pid = page.get_by_test_id("post").get_attribute("data-post-id")
    page.goto(f"{site.base_url}/threads/@demo_threads")
    sync_api.expect(page.locator(f'[data-testid=post-card][data-post-id="{pid}"]')).to_have_count(1)


def test_two_sessions_are_isolated(site, browser):
    ctx1, ctx2 = browser.new_context(), browser.new_context()
    try:
        p1, p2 = ctx1.new_page(), ctx2.new_page()
        ui_login(p1, site, "x", "demo_x")
        ui_login(p2, site, "x", "demo2_x")
        post = open_post(p1, site, "x", "demo_x")
        submit(p1, p1.get_by_test_id("post").get_by_role("button", name="Like"))
        open_post(p2, site, "x", "demo_x")
        sync_api.expect(p2.get_by_test_id("post").get_by_role("button", name="Like")).to_have_attribute(
            "aria-pressed", "false"
        )
        sync_api.expect(p2.get_by_test_id("current-user")).to_have_attribute("data-username", "demo2_x")
        assert ("x", "demo_x", post.post_id) in site.world.likes
        assert ("x", "demo2_x", post.post_id) not in site.world.likes
    finally:
        ctx1.close()
        ctx2.close()


def test_faults_seen_by_a_browser(page, site):
    ui_login(page, site, "x")
    open_post(page, site, "x", "demo2_x")
    site.faults.set("changed_markup")
    page.reload()
    assert page.get_by_test_id("like-button").count() == 0
    assert page.get_by_role("button", name="Like", exact=True).count() == 0
    site.faults.clear("changed_markup")
    site.faults.set("action_blocked", actions=["like"])
    page.reload()
    submit(page, page.get_by_test_id("post").get_by_role("button", name="Like"))
    sync_api.expect(page.get_by_test_id("action-blocked")).to_contain_text("Action blocked")
    page.reload()
    sync_api.expect(page.get_by_test_id("action-blocked")).to_have_count(0)
    sync_api.expect(page.get_by_test_id("post").get_by_role("button", name="Like")).to_have_attribute(
        "aria-pressed", "false"
    )
    site.faults.clear()
    site.faults.set("expired_sessions")
    page.reload()
    assert "/x/login" in page.url
    sync_api.expect(page.get_by_test_id("session-expired")).to_be_visible()
    site.faults.set("rate_limit", count=1)
    response = page.goto(f"{site.base_url}/x/login")
    assert response.status == 429 and response.headers["retry-after"] == "30"
