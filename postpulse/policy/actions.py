"""Action types and the two inputs of a policy decision: the request and the account state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import AccountSettings


class ActionType(StrEnum):
    LIKE = "like"
    UNLIKE = "unlike"
    COMMENT = "comment"
    DELETE_COMMENT = "delete_comment"
    REPLY = "reply"
    DM_SEND = "dm_send"
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    PUBLISH = "publish"
    REPOST = "repost"
    DELETE_POST = "delete_post"


ACTION_TYPES: tuple[str, ...] = tuple(a.value for a in ActionType)

#: action types that send our own text (``params["text"]``)
TEXT_ACTIONS = frozenset({"comment", "reply", "dm_send", "publish"})


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One queued action, as the policy engine sees it.

    - ``target_id``: the platform id of the target (post id for like/comment, comment id for
      reply/delete_comment, user id for follow/DM, publication id for publish).
    - ``target_username``: the user named with the action (the followed user, the DM recipient,
      or a name given by hand); checked against user blocklist entries and opt-outs.
    - ``target_authors``: the authors of what the action touches, resolved from the store (the
      author of the targeted post; for a reply, the author of the comment replied to and of its
      post). Checked against user blocklist entries and opt-outs, and against the allowlist.
    - ``author_pending``: the author of the targeted post or comment is not known yet; the
      executor reads it from the page before acting and checks again (``PolicyEngine.check_target``).
    - ``target_tags``: tag names of the targeted post and of its author's profile (allowlist).
    - ``target_text``: the target's text (caption, comment, DM) for keyword and domain entries.
    - ``target_url``: the target's URL, checked against domain and post entries.
    - ``params["text"]``: the text we would send (comment/reply/DM/publish), already rendered
      from its template; its ``text_hash`` is the idempotency key. ``params["platform_post_id"]``
      (optional) is also checked against post entries.
    """

    action_id: str
    account_id: str
    platform: str
    action_type: str
    target_type: str | None = None
    target_id: str | None = None
    target_username: str | None = None
    target_text: str | None = None
    target_url: str | None = None
    target_authors: tuple[str, ...] = ()
    author_pending: bool = False
    target_tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    approved: bool = False
    expires_at: datetime | None = None

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone the action touches: the named user and the resolved authors."""
        named = (self.target_username,) if self.target_username else ()
        return named + tuple(a for a in self.target_authors if a)

    @property
    def text(self) -> str | None:
        """The text we would send (``params["text"]``), or None."""
        value = self.params.get("text")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account's row as the engine needs it (the repository builds it from ``accounts``)."""

    account_id: str
    platform: str
    is_authorized: bool
    is_active: bool
    settings: AccountSettings
    timezone: str | None = None  # IANA name; used when settings.quiet_hours.timezone is None
    frozen_until: datetime | None = None
    needs_relogin: bool = False
    frozen_reason: str | None = None
