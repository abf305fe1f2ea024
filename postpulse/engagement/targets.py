"""What an action touches, as the policy sees it: one row per queued action with its target's
post, comment, authors and tags (``SELECT_ROWS``), and the policy engine's inputs built from it
(``policy_inputs``). Shared by the queue (checks at queue time), the claim and the dry run, so
that all three decide alike.
"""

from __future__ import annotations

from postpulse.policy import AccountSettings, AccountState, ActionRequest

#: tag names of the targeted post and of the profile of its author (or of the targeted user)
_TARGET_TAGS = (
    "ARRAY(SELECT tg.name FROM post_tags pt JOIN tags tg ON tg.id = pt.tag_id WHERE pt.post_id = q.post_id "
    "UNION SELECT tg.name FROM profile_tags pf JOIN tags tg ON tg.id = pf.tag_id "
    "JOIN profiles pr ON pr.id = pf.profile_id "
    "WHERE pr.id = p.author_profile_id OR (pr.platform IN (a.platform, p.platform) AND lower(pr.username) = "
    "lower(coalesce(c.author_username, p.author_username, q.target_username))))"
)

SELECT_ROWS = """
SELECT q.id, q.account_id, q.action_type, q.target_type, q.target_id, q.target_url, q.target_username,
       q.action_params, q.text_hash, q.status, q.expires_at, q.attempts, q.max_attempts, q.approved_at,
       q.post_id AS db_post_id,
       a.platform, a.username, a.is_authorized, a.is_active, a.settings, a.timezone, a.frozen_until,
       a.frozen_reason, a.needs_relogin, a.metadata,
       p.text_content AS post_text, p.url AS post_url, p.platform_post_id AS post_platform_id,
       p.author_username AS post_author, c.author_username AS comment_author, c.text AS comment_text,
       t.platform_thread_id, t.participant_username AS thread_participant, t.id AS thread_row,
       {TARGET_TAGS} AS target_tags
FROM action_queue q
JOIN accounts a ON a.id = q.account_id
LEFT JOIN posts p ON p.id = q.post_id
LEFT JOIN comments c
  ON q.target_type = 'comment' AND c.post_id = q.post_id AND c.platform_comment_id = q.target_id
LEFT JOIN dm_threads t ON q.target_type = 'dm_thread' AND t.id = q.target_id AND t.account_id = q.account_id
""".replace("{TARGET_TAGS}", _TARGET_TAGS)


#: actions that reach the author of a post or comment: its author must be known before acting
AUTHOR_CHECKED = frozenset({"like", "comment", "reply"})


def target_authors(r: dict) -> tuple[tuple[str, ...], bool]:
    """The authors the action touches, from the store, and whether one is still unknown (then the
    executor reads it from the page before acting). A reply touches the comment's author and the
    post's; a like or comment the post's."""
    if r["target_type"] == "comment":
        authors = tuple(a for a in (r.get("comment_author"), r.get("post_author")) if a)
        pending = r["action_type"] in AUTHOR_CHECKED and not r.get("comment_author")
    elif r["target_type"] == "post":
        authors = (r["post_author"],) if r.get("post_author") else ()
        pending = r["action_type"] in AUTHOR_CHECKED and not authors
    else:
        authors, pending = (), False
    return authors, pending


def account_state(r: dict, settings: AccountSettings) -> AccountState:
    """The policy engine's view of the account of a queue row (joined with its account)."""
    return AccountState(
        account_id=r["account_id"],
        platform=r["platform"],
        is_authorized=r["is_authorized"],
        is_active=r["is_active"],
        settings=settings,
        timezone=r["timezone"],
        frozen_until=r["frozen_until"],
        needs_relogin=r["needs_relogin"],
        frozen_reason=r["frozen_reason"],
    )


def policy_inputs(
    r: dict, text_value: str | None, settings: AccountSettings
) -> tuple[ActionRequest, AccountState]:
    """The policy engine's request and account for a claimed (or, in a dry run, a would-be
    claimed) queue row: one builder, so that the dry run decides exactly as the run does."""
    params = {k: v for k, v in (r["action_params"] or {}).items() if k not in ("text_encrypted", "variables")}
    if text_value is not None:
        params["text"] = text_value
    if r["action_type"] == "dm_send" and r["text_hash"]:
        params["text_hash"] = r["text_hash"]  # keyed (postpulse.engagement.dm_hash)
    if r["post_platform_id"]:
        params.setdefault("platform_post_id", r["post_platform_id"])
    authors, pending = target_authors(r)
    texts = [t for t in (r["post_text"], r.get("comment_text")) if t]
    request = ActionRequest(
        action_id=r["id"],
        account_id=r["account_id"],
        platform=r["platform"],
        action_type=r["action_type"],
        target_type=r["target_type"],
        target_id=r["target_id"],
        target_username=r["target_username"] or r["thread_participant"],
        target_text="\n".join(texts) or None,
        target_url=r["target_url"] or r["post_url"],
        target_authors=authors,
        author_pending=pending,
        target_tags=tuple(r.get("target_tags") or ()),
        params=params,
        approved=r["approved_at"] is not None,
        expires_at=r["expires_at"],
    )
    return request, account_state(r, settings)
