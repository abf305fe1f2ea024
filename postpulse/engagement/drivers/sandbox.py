"""The Playwright driver for the sandbox platform (``postpulse.sandbox``).

Every action: open the target page, check the state first (already liked? our comment already
there? -> nothing to do), act through the site's own form, check the page for a block notice,
read the new state from the DOM (``dom_state_check``). ``verify`` opens the page afresh and
reads the state again (``reload_verify``). Selectors live in ``sandbox_selectors``.

HTTP 429 / 5xx / timeouts raise ``TransientError`` (the executor retries with backoff);
a redirect to the login page raises ``SessionExpired``; a missing element raises
``MarkupChanged``; a block notice raises ``ActionBlocked``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from postpulse.policy import classify_failure, normalize_text

from .base import (
    ActionBlocked,
    ActionTask,
    DriverError,
    MarkupChanged,
    SessionExpired,
    TargetNotFound,
    TransientError,
    Verification,
)
from .sandbox_selectors import (
    ATTR_AUTHOR,
    ATTR_CLIENT_REF,
    ATTR_COMMENT_ID,
    ATTR_DATETIME,
    ATTR_MESSAGE_ID,
    ATTR_POST_ID,
    ATTR_PRESSED,
    ATTR_SENDER,
    ATTR_THREAD_ID,
    ATTR_WITH,
    SELECTORS,
    compose_path,
    is_login_url,
    login_path,
    messages_path,
    post_path,
    profile_path,
    thread_path,
    username_from_profile_href,
)

SANDBOX_SITES = ("linkedin", "instagram", "tiktok", "x", "threads")


def site_for(platform: str, metadata: dict | None = None) -> str:
    """The sandbox site that plays ``platform`` (accounts with platform 'sandbox' name theirs in
    ``metadata.sandbox_site``, default 'x')."""
    if platform in SANDBOX_SITES:
        return platform
    site = (metadata or {}).get("sandbox_site") or "x"
    if site not in SANDBOX_SITES:
        raise DriverError(
            f"accounts.metadata.sandbox_site {site!r} is not a sandbox site ({', '.join(SANDBOX_SITES)})"
        )
    return site


def _attr(el: Any, name: str) -> str | None:
    return el.get_attribute(name) if el is not None else None


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


class SandboxDriver:
    def __init__(
        self,
        browser: Any,
        base_url: str,
        site: str,
        username: str,
        storage_state: dict | None,
        *,
        timeout_ms: int = 15000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.site = site
        self.username = username.lower()
        self.context = (
            browser.new_context(storage_state=storage_state) if storage_state else browser.new_context()
        )
        self.context.set_default_timeout(timeout_ms)
        self.context.set_default_navigation_timeout(timeout_ms)
        self.page = self.context.new_page()

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.context.close()
        except Exception:
            pass

    def storage_state(self) -> dict:
        return self.context.storage_state()

    def screenshot(self, path: str) -> bool:
        try:
            self.page.screenshot(path=path, full_page=True)
            return True
        except Exception:
            return False

    def _check(self, resp: Any) -> None:
        status = resp.status if resp is not None else 200
        path = urlsplit(self.page.url).path
        if status == 429:
            ra = resp.headers.get("retry-after") if resp is not None else None
            try:
                retry_after = float(ra) if ra else None
            except ValueError:
                retry_after = None
            raise TransientError(
                "the platform answered 429 Too Many Requests",
                code="rate_limited",
                status=429,
                retry_after=retry_after,
            )
        if status >= 500:
            raise TransientError(f"the platform answered HTTP {status}", code="server_error", status=status)
        if is_login_url(path, self.site):
            raise SessionExpired(f"the platform sent @{self.username} to its login page: the session expired")
        if status == 404:
            raise TargetNotFound(f"the target page {path} does not exist (deleted?)", status=404)
        if status >= 400:
            raise DriverError(f"the platform refused the request (HTTP {status}) at {path}", status=status)

    def goto(self, path: str) -> None:
        from playwright.sync_api import Error as PwError
        from playwright.sync_api import TimeoutError as PwTimeout

        try:
            resp = self.page.goto(self.base_url + path, wait_until="domcontentloaded")
        except PwTimeout:
            raise TransientError(f"loading {path} timed out", code="timeout") from None
        except PwError as exc:
            raise TransientError(
                f"loading {path} failed: {str(exc).splitlines()[0]}", code="network_error"
            ) from None
        self._check(resp)

    def submit(self, locator: Any, what: str) -> None:
        from playwright.sync_api import Error as PwError
        from playwright.sync_api import TimeoutError as PwTimeout

        try:
            with self.page.expect_navigation(wait_until="domcontentloaded") as nav:
                locator.click()
            resp = nav.value
        except PwTimeout:
            raise TransientError(f"{what}: the page did not answer in time", code="timeout") from None
        except PwError as exc:
            raise TransientError(f"{what} failed: {str(exc).splitlines()[0]}", code="network_error") from None
        self._check(resp)
        self._check_block_notice()

    def _check_block_notice(self) -> None:
        texts = []
        for el in self.page.query_selector_all(SELECTORS["notices"]):
            try:
                texts.append(el.inner_text())
            except Exception:
                continue
        notice = " ".join(t.strip() for t in texts if t and t.strip())
        if notice:
            sig = classify_failure(page_text=notice)
            if sig is not None:
                raise ActionBlocked(sig.reason, notice=notice[:300])

    def need(self, key: str, root: Any = None) -> Any:
        el = (root or self.page).query_selector(SELECTORS[key])
        if el is None:
            raise MarkupChanged(
                f"selector {key!r} ({SELECTORS[key]}) matched nothing on {urlsplit(self.page.url).path}; "
                "the site's markup changed: update postpulse/engagement/drivers/sandbox_selectors.py",
                selector=key,
            )
        return el

    def _pressed(self, key: str) -> bool:
        return (self.need(key).get_attribute(ATTR_PRESSED) or "").lower() == "true"

    def _comment_el(self, comment_id: str) -> Any:
        return self.page.query_selector(f'{SELECTORS["comment"]}[{ATTR_COMMENT_ID}="{comment_id}"]')

    def _our_comments(self, root: Any = None) -> list[tuple[str, str, Any]]:
        out = []
        for el in (root or self.page).query_selector_all(SELECTORS["comment"]):
            if (el.get_attribute(ATTR_AUTHOR) or "").lower() != self.username:
                continue
            t = el.query_selector(SELECTORS["comment_text"])
            out.append((el.get_attribute(ATTR_COMMENT_ID) or "", t.inner_text() if t else "", el))
        return out

    # -- login and reading ----------------------------------------------------------------------
    def login(self, password: str) -> dict:
        """Log in through the login form; returns the Playwright storage state."""
        self.page.goto(self.base_url + login_path(self.site), wait_until="domcontentloaded")
        if not is_login_url(urlsplit(self.page.url).path, self.site):
            if self.page.query_selector(SELECTORS["current_user"]):
                return self.storage_state()
        self.need("login_username").fill(self.username)
        self.need("login_password").fill(password)
        try:
            with self.page.expect_navigation(wait_until="domcontentloaded") as nav:
                self.need("login_submit").click()
            resp = nav.value
        except Exception as exc:
            raise DriverError(f"logging in failed: {str(exc).splitlines()[0]}") from None
        if resp is not None and resp.status in (429,) or (resp is not None and resp.status >= 500):
            raise TransientError(
                f"login answered HTTP {resp.status}", code="server_error", status=resp.status
            )
        if self.page.query_selector(SELECTORS["login_error"]) is not None or is_login_url(
            urlsplit(self.page.url).path, self.site
        ):
            raise DriverError(
                f"the platform refused the login of @{self.username} (wrong username or password)",
                code="login_failed",
            )
        self.need("current_user")
        return self.storage_state()

    def list_threads(self) -> list[dict[str, str]]:
        self.goto(messages_path(self.site))
        self.need("thread_list")
        return [
            {
                "thread_id": el.get_attribute(ATTR_THREAD_ID) or "",
                "with": (el.get_attribute(ATTR_WITH) or "").lower(),
            }
            for el in self.page.query_selector_all(SELECTORS["thread"])
        ]

    def read_thread(self, thread_id: str) -> list[dict[str, str]]:
        self.goto(thread_path(self.site, thread_id))
        self.need("thread_view")
        out = []
        for el in self.page.query_selector_all(SELECTORS["message"]):
            t = el.query_selector(SELECTORS["message_text"])
            out.append(
                {
                    "message_id": el.get_attribute(ATTR_MESSAGE_ID) or "",
                    "sender": (el.get_attribute(ATTR_SENDER) or "").lower(),
                    "text": t.inner_text() if t else "",
                    "sent_at": _attr(el.query_selector(SELECTORS["message_time"]), ATTR_DATETIME),
                }
            )
        return out

    # -- actions ----------------------------------------------------------------------------------
    def perform(self, task: ActionTask, text: str | None) -> tuple[dict[str, Any], Verification | None]:
        fn = getattr(self, "_do_" + task.action_type, None)
        if fn is None:
            raise DriverError(f"the sandbox driver cannot {task.action_type}", code="unsupported_action")
        return fn(task, text)

    def read_author(self, task: ActionTask) -> str | None:
        """The author of the targeted post (its author link), or of the comment replied to."""
        if task.target_type == "comment":
            self.goto(post_path(self.site, task.post_ref))
            el = self._parent(task)
            if el is None:
                raise TargetNotFound(f"comment {task.target_id} is not on post {task.post_ref} (deleted?)")
            return el.get_attribute(ATTR_AUTHOR)
        self.goto(post_path(self.site, task.target_id))
        return username_from_profile_href(self.need("post_author").get_attribute("href"))

    def _toggle(self, task: ActionTask, path: str, key: str, want: bool, what: str):
        t0 = time.perf_counter()
        self.goto(path)
        if self._pressed(key) == want:
            return {"already": True}, Verification(
                "dom_state_check", True, 1.0, {"already": True, ATTR_PRESSED: want}, _ms(t0)
            )
        self.submit(self.need(key), what)
        now = self._pressed(key)
        return {}, Verification("dom_state_check", now == want, 0.8, {ATTR_PRESSED: now}, _ms(t0))

    def _do_like(self, task, text):
        return self._toggle(task, post_path(self.site, task.target_id), "like_button", True, "like")

    def _do_unlike(self, task, text):
        return self._toggle(task, post_path(self.site, task.target_id), "like_button", False, "unlike")

    def _do_follow(self, task, text):
        return self._toggle(
            task,
            profile_path(self.site, task.target_username or task.target_id),
            "follow_button",
            True,
            "follow",
        )

    def _do_unfollow(self, task, text):
        return self._toggle(
            task,
            profile_path(self.site, task.target_username or task.target_id),
            "follow_button",
            False,
            "unfollow",
        )

    def _find_ours(self, text: str, root: Any = None) -> str | None:
        want = normalize_text(text)
        found = [cid for cid, t, _ in self._our_comments(root) if normalize_text(t) == want]
        return found[-1] if found else None

    def _do_comment(self, task, text):
        t0 = time.perf_counter()
        self.goto(post_path(self.site, task.target_id))
        self.need("post")
        existing = self._find_ours(text)
        if existing:
            return (
                {"already": True, "platform_comment_id": existing},
                Verification("dom_state_check", True, 1.0, {"already": True}, _ms(t0)),
            )
        self.need("comment_input").fill(text)
        self.submit(self.need("comment_submit"), "comment")
        cid = self._find_ours(text)
        return (
            {"platform_comment_id": cid} if cid else {},
            Verification("dom_state_check", cid is not None, 0.8, {"platform_comment_id": cid}, _ms(t0)),
        )

    def _parent(self, task) -> Any:
        el = self._comment_el(task.target_id)
        if el is None:
            if self.page.query_selector(SELECTORS["comment_list"]) is None:
                self.need("comment_list")
            return None
        return el

    def _do_reply(self, task, text):
        t0 = time.perf_counter()
        self.goto(post_path(self.site, task.post_ref))
        parent = self._parent(task)
        if parent is None:
            raise TargetNotFound(f"comment {task.target_id} is not on post {task.post_ref} (deleted?)")
        replies = parent.query_selector(SELECTORS["replies"])
        existing = self._find_ours(text, replies) if replies else None
        if existing:
            return (
                {"already": True, "platform_comment_id": existing},
                Verification("dom_state_check", True, 1.0, {"already": True}, _ms(t0)),
            )
        self.need("reply_input", parent).fill(text)
        self.submit(self.need("reply_submit", parent), "reply")
        parent = self._parent(task)
        replies = parent.query_selector(SELECTORS["replies"]) if parent else None
        cid = self._find_ours(text, replies) if replies else None
        return (
            {"platform_comment_id": cid} if cid else {},
            Verification("dom_state_check", cid is not None, 0.8, {"platform_comment_id": cid}, _ms(t0)),
        )

    def _do_delete_comment(self, task, text):
        t0 = time.perf_counter()
        self.goto(post_path(self.site, task.post_ref))
        self.need("post")
        el = self._parent(task)
        if el is None:
            return {"already": True}, Verification("dom_state_check", True, 0.9, {"absent": True}, _ms(t0))
        if (el.get_attribute(ATTR_AUTHOR) or "").lower() != self.username:
            raise DriverError(
                f"comment {task.target_id} is by @{el.get_attribute(ATTR_AUTHOR)}, not by us; "
                "postpulse only deletes its own comments",
                code="not_allowed",
            )
        self.submit(self.need("delete_comment_button", el), "delete comment")
        gone = self._comment_el(task.target_id) is None
        return {}, Verification("dom_state_check", gone, 0.8, {"absent": gone}, _ms(t0))

    def _do_dm_send(self, task, text):
        t0 = time.perf_counter()
        thread_id = task.params.get("platform_thread_id")
        if thread_id:
            self.goto(thread_path(self.site, thread_id))
            self.need("thread_view")
            self.need("dm_input").fill(text)
            self.submit(self.need("dm_send"), "send message")
        else:
            self.goto(messages_path(self.site))
            self.need("new_dm_form")
            self.need("new_dm_to").fill(task.target_username or task.target_id)
            self.need("new_dm_input").fill(text)
            self.submit(self.need("new_dm_send"), "send message")
        view = self.need("thread_view")
        tid = view.get_attribute(ATTR_THREAD_ID)
        mid = self._our_message(text)
        return (
            {"platform_thread_id": tid, "platform_message_id": mid},
            Verification("dom_state_check", mid is not None, 0.8, {"platform_thread_id": tid}, _ms(t0)),
        )

    def _our_message(self, text: str, message_id: str | None = None) -> str | None:
        want = normalize_text(text) if text is not None else None
        found = None
        for el in self.page.query_selector_all(SELECTORS["message"]):
            if (el.get_attribute(ATTR_SENDER) or "").lower() != self.username:
                continue
            mid = el.get_attribute(ATTR_MESSAGE_ID)
            if message_id is not None:
                if mid == message_id:
                    return mid
                continue
            t = el.query_selector(SELECTORS["message_text"])
            if t is not None and normalize_text(t.inner_text()) == want:
                found = mid
        return found

    def find_own_post(self, client_ref: str) -> str | None:
        """Our post sent with this reference (our profile page shows it to us only): a publication
        retried after a crash finds the post it already sent instead of sending it again."""
        self.goto(profile_path(self.site, self.username))
        self.need("profile_posts")
        for card in self.page.query_selector_all(SELECTORS["post_card"]):
            if card.get_attribute(ATTR_CLIENT_REF) == client_ref:
                return card.get_attribute(ATTR_POST_ID)
        return None

    def _do_publish(self, task, text):
        t0 = time.perf_counter()
        ref = task.params.get("client_ref")
        if ref:
            pid = self.find_own_post(ref)
            if pid is not None:
                return (
                    {"platform_post_id": pid, "url": post_path(self.site, pid), "already": True},
                    Verification(
                        "dom_state_check", True, 0.8, {"platform_post_id": pid, "found": True}, _ms(t0)
                    ),
                )
        self.goto(compose_path(self.site))
        self.need("compose_input").fill(text)
        if ref:
            self.need("compose_ref").evaluate("(el, value) => { el.value = value; }", ref)
        media = task.params.get("media")
        if media:
            self.need("compose_media").select_option(str(media))
        self.submit(self.need("publish_button"), "publish")
        post = self.need("post")
        pid = post.get_attribute(ATTR_POST_ID)
        body = self.need("post_text").inner_text()
        ok = normalize_text(body) == normalize_text(text)
        return (
            {"platform_post_id": pid, "url": urlsplit(self.page.url).path},
            Verification("dom_state_check", ok and pid is not None, 0.8, {"platform_post_id": pid}, _ms(t0)),
        )

    # -- verification after a fresh load -------------------------------------------------------------
    def verify(self, task: ActionTask, result: dict[str, Any], text: str | None) -> Verification:
        t0 = time.perf_counter()
        a = task.action_type
        if a in ("like", "unlike"):
            self.goto(post_path(self.site, task.target_id))
            pressed = self._pressed("like_button")
            ok = pressed == (a == "like")
            return Verification("reload_verify", ok, 1.0, {ATTR_PRESSED: pressed}, _ms(t0))
        if a in ("follow", "unfollow"):
            self.goto(profile_path(self.site, task.target_username or task.target_id))
            pressed = self._pressed("follow_button")
            ok = pressed == (a == "follow")
            return Verification("reload_verify", ok, 1.0, {ATTR_PRESSED: pressed}, _ms(t0))
        if a in ("comment", "reply"):
            self.goto(post_path(self.site, task.target_id if a == "comment" else task.post_ref))
            self.need("post")
            cid = result.get("platform_comment_id")
            el = self._comment_el(cid) if cid else None
            if el is None:
                return Verification(
                    "reload_verify", False, 1.0, {"platform_comment_id": cid, "found": False}, _ms(t0)
                )
            t = el.query_selector(SELECTORS["comment_text"])
            same = t is not None and normalize_text(t.inner_text()) == normalize_text(text or "")
            mine = (el.get_attribute(ATTR_AUTHOR) or "").lower() == self.username
            return Verification(
                "reload_verify",
                same and mine,
                1.0 if same and mine else 0.5,
                {"platform_comment_id": cid, "found": True, "text_matches": same},
                _ms(t0),
            )
        if a == "delete_comment":
            self.goto(post_path(self.site, task.post_ref))
            self.need("post")
            gone = self._comment_el(task.target_id) is None
            return Verification("reload_verify", gone, 1.0, {"absent": gone}, _ms(t0))
        if a == "dm_send":
            tid = result.get("platform_thread_id")
            if not tid:
                return Verification("reload_verify", False, 0.5, {"reason": "no thread id"}, _ms(t0))
            self.goto(thread_path(self.site, tid))
            self.need("thread_view")
            mid = result.get("platform_message_id")
            found = self._our_message(text or "", mid) if mid else self._our_message(text or "")
            return Verification(
                "reload_verify", found is not None, 1.0 if mid else 0.8, {"found": found is not None}, _ms(t0)
            )
        if a == "publish":
            pid = result.get("platform_post_id")
            if not pid:
                return Verification("reload_verify", False, 0.5, {"reason": "no post id"}, _ms(t0))
            self.goto(post_path(self.site, pid))
            body = self.need("post_text").inner_text()
            ok = normalize_text(body) == normalize_text(text or "")
            return Verification("reload_verify", ok, 1.0, {"platform_post_id": pid}, _ms(t0))
        raise DriverError(f"cannot verify {a}", code="unsupported_action")
