"""Every selector and URL shape the sandbox driver uses, in one place.

When the site's markup changes, this is the only file to update. A selector that matches
nothing on a page where it must exist raises ``MarkupChanged`` naming the selector's key
(``SELECTORS[key]``), reported as error code ``markup_changed`` (distinct from other failures).
"""

from __future__ import annotations

SELECTORS: dict[str, str] = {
    # login page
    "login_form": '[data-testid="login-form"]',
    "login_username": '[data-testid="login-username"]',
    "login_password": '[data-testid="login-password"]',
    "login_submit": '[data-testid="login-submit"]',
    "login_error": '[data-testid="login-error"]',
    # every page when logged in
    "current_user": '[data-testid="current-user"]',
    # notices (block notices are recognised by their text too: the markup may change)
    "notices": '[data-testid="action-blocked"], [role="alert"], .notice',
    # post page
    "post": '[data-testid="post"]',
    "post_text": '[data-testid="post"] [data-testid="post-text"]',
    "post_author": '[data-testid="post"] [data-testid="post-author"]',
    "like_button": '[data-testid="post"] [data-testid="like-button"]',
    "comment_input": '[data-testid="comment-form"] [data-testid="comment-input"]',
    "comment_submit": '[data-testid="comment-form"] [data-testid="comment-submit"]',
    "comment_list": '[data-testid="comment-list"]',
    "comment": '[data-testid="comment"]',
    "comment_text": '[data-testid="comment-text"]',
    "reply_input": '[data-testid="reply-form"] [data-testid="reply-input"]',
    "reply_submit": '[data-testid="reply-form"] [data-testid="reply-submit"]',
    "replies": '[data-testid="replies"]',
    "delete_comment_button": '[data-testid="delete-comment-button"]',
    # profile page
    "profile": '[data-testid="profile"]',
    "follow_button": '[data-testid="profile"] [data-testid="follow-button"]',
    "profile_posts": '[data-testid="profile-posts"]',
    "post_card": '[data-testid="profile-posts"] [data-testid="post-card"]',
    "compose_ref": '[data-testid="compose-form"] [data-testid="compose-ref"]',
    # messages
    "thread_list": '[data-testid="thread-list"]',
    "thread": '[data-testid="thread"]',
    "new_dm_form": '[data-testid="new-dm-form"]',
    "new_dm_to": '[data-testid="new-dm-form"] [data-testid="dm-to"]',
    "new_dm_input": '[data-testid="new-dm-form"] [data-testid="dm-input"]',
    "new_dm_send": '[data-testid="new-dm-form"] [data-testid="dm-send"]',
    "thread_view": '[data-testid="thread-view"]',
    "message": '[data-testid="message"]',
    "message_text": '[data-testid="message-text"]',
    "message_time": "time",
    "dm_input": '[data-testid="dm-form"] [data-testid="dm-input"]',
    "dm_send": '[data-testid="dm-form"] [data-testid="dm-send"]',
    # compose
    "compose_input": '[data-testid="compose-form"] [data-testid="compose-input"]',
    "compose_media": '[data-testid="compose-form"] [data-testid="compose-media"]',
    "publish_button": '[data-testid="compose-form"] [data-testid="publish-button"]',
}

#: attributes read from elements
ATTR_PRESSED = "aria-pressed"
ATTR_COMMENT_ID = "data-comment-id"
ATTR_AUTHOR = "data-author"
ATTR_POST_ID = "data-post-id"
ATTR_THREAD_ID = "data-thread-id"
ATTR_WITH = "data-with"
ATTR_MESSAGE_ID = "data-message-id"
ATTR_SENDER = "data-sender"
ATTR_DATETIME = "datetime"
ATTR_CLIENT_REF = "data-client-ref"


def username_from_profile_href(href: str | None) -> str | None:
    """A profile link's username: its last path segment (``/x/ana``, ``/tiktok/@ana``,
    ``/linkedin/in/ana/``, ``/instagram/ana/`` -> ``ana``)."""
    if not href:
        return None
    last = href.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lstrip("@")
    return last or None


def login_path(site: str) -> str:
    return f"/{site}/login"


def post_path(site: str, post_id: str) -> str:
    return f"/{site}/post/{post_id}"


def profile_path(site: str, username: str) -> str:
    return f"/{site}/@{username}"


def messages_path(site: str) -> str:
    return f"/{site}/messages/"


def thread_path(site: str, thread_id: str) -> str:
    return f"/{site}/messages/{thread_id}"


def compose_path(site: str) -> str:
    return f"/{site}/compose"


def is_login_url(path: str, site: str) -> bool:
    return path.rstrip("/").endswith(f"/{site}/login")
