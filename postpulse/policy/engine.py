"""The policy engine: may this action run now? -> ``Decision`` (allow / defer / reject).

Checks run in this order, cheap and absolute ones first; the first one that denies decides:

 1. ``global_pause``          defer   global pause switch on (nothing else is evaluated)
 2. ``unknown_action_type``   reject  not one of ACTION_TYPES
    ``account_mismatch``      reject  request and account disagree on account id / platform
 3. ``account_not_authorized`` reject the account is not marked authorized
 4. ``expired``               reject  ``expires_at`` has passed
 5. ``action_type_disabled``  reject  the account's limit for this type is 0
 6. ``blocklisted_user`` / ``opted_out`` / ``blocklisted_post`` / ``blocklisted_domain`` /
    ``blocklisted_keyword``   reject  (in-memory index; users are the named user and the
                              authors of the targeted post / replied-to comment)
    ``not_allowlisted``       reject  the account is in allowlist mode and the target is not on it
 7. ``already_done``          reject  idempotency (one store query)
 8. ``account_inactive``      defer   (until reactivated; retry_at None)
 9. ``needs_relogin``         defer   (until logged in again; retry_at None)
10. ``account_frozen``        defer   retry_at = frozen_until (cool-down after a block signal)
11. ``not_approved``          defer   not approved and not auto-approved (retry_at None)
12. ``quiet_hours``           defer   retry_at = end of quiet hours in the account's time zone
13. ``rate_limit_day`` / ``rate_limit_hour`` defer retry_at = when the window has room (queries)
14. ``allowed``

A deferral whose ``retry_at`` falls at or after ``expires_at`` becomes ``expired`` (reject): the
action could never run in time, so it is rejected now rather than silently lost later.
"""

from __future__ import annotations

from datetime import datetime

from .actions import ACTION_TYPES, AccountState, ActionRequest
from .blocklist import Blocklist
from .decision import Decision, ReasonCode
from .idempotency import IdempotencyChecker, idempotency_key
from .rate_limits import UsageCounter, check_rate_limits, fmt_utc
from .settings import AccountSettings
from .settings import auto_approves as _auto_approves

#: action types the allowlist does not restrict: our own posts and undoing our own actions
UNRESTRICTED = frozenset({"publish", "unlike", "unfollow", "delete_comment"})

_BLOCK_WORDS = {
    "user": "the user",
    "post": "the post",
    "keyword": "a keyword in the target's text",
    "domain": "a domain in the target's link or text",
}


def auto_approves(account_settings: AccountSettings, action_type: str) -> bool:
    """Whether the account's settings approve ``action_type`` without a human (default: no)."""
    return _auto_approves(account_settings, action_type)


class PolicyEngine:
    """Stateless apart from its inputs; safe to share between threads if its protocols are."""

    def __init__(
        self,
        blocklist: Blocklist,
        *,
        usage: UsageCounter,
        idempotency: IdempotencyChecker,
        global_paused: bool = False,
    ) -> None:
        self.blocklist = blocklist
        self.usage = usage
        self.idempotency = idempotency
        self.global_paused = global_paused

    def __repr__(self) -> str:
        return f"PolicyEngine({self.blocklist!r}, global_paused={self.global_paused})"

    def decide(self, request: ActionRequest, account: AccountState, now: datetime) -> Decision:
        if now.tzinfo is None:
            raise ValueError("PolicyEngine.decide needs an aware 'now' (with tzinfo)")
        d = self._decide(request, account, now)
        if (
            d.outcome == "defer"
            and d.retry_at is not None
            and request.expires_at is not None
            and d.retry_at >= request.expires_at
        ):
            return Decision.reject(
                ReasonCode.EXPIRED,
                f"{d.message} That is after the action expires ({fmt_utc(request.expires_at)}), "
                "so it is rejected now.",
                **{
                    **d.details,
                    "deferred_reason": str(d.reason_code),
                    "would_retry_at": d.retry_at.isoformat(),
                },
            )
        return d

    def _decide(self, request: ActionRequest, account: AccountState, now: datetime) -> Decision:
        base = {
            "action_id": request.action_id,
            "account_id": request.account_id,
            "action_type": request.action_type,
        }
        if self.global_paused:
            return Decision.defer(
                ReasonCode.GLOBAL_PAUSE,
                "All actions are paused (global pause switch). The action waits until actions are resumed.",
                None,
                **base,
            )
        if request.action_type not in ACTION_TYPES:
            return Decision.reject(
                ReasonCode.UNKNOWN_ACTION_TYPE,
                f"Unknown action type {request.action_type!r}; expected one of {', '.join(ACTION_TYPES)}.",
                **base,
            )
        if request.account_id != account.account_id or (
            request.platform
            and account.platform
            and request.platform.casefold() != account.platform.casefold()
        ):
            return Decision.reject(
                ReasonCode.ACCOUNT_MISMATCH,
                f"The action is for account {request.account_id} on {request.platform}, but was checked "
                f"against account {account.account_id} on {account.platform}.",
                **base,
            )
        if not account.is_authorized:
            return Decision.reject(
                ReasonCode.ACCOUNT_NOT_AUTHORIZED,
                "This account is not marked as authorized for automation. postpulse only acts on "
                "accounts you own and have authorized; authorize it, then queue the action again.",
                **base,
            )
        if request.expires_at is not None and request.expires_at <= now:
            return Decision.reject(
                ReasonCode.EXPIRED,
                f"The action expired at {fmt_utc(request.expires_at)} before it could run.",
                **base,
                expires_at=request.expires_at.isoformat(),
            )
        settings = account.settings
        limit = settings.limit_for(request.action_type)
        if limit.per_hour == 0 or limit.per_day == 0:
            return Decision.reject(
                ReasonCode.ACTION_TYPE_DISABLED,
                f"{request.action_type} actions are turned off for this account (limit 0 in its settings).",
                **base,
            )

        denied = self.check_target(request, account, now)
        if denied is not None:
            return denied

        key = idempotency_key(
            request.action_type, request.target_id, request.text, request.params.get("text_hash")
        )
        if key is not None and self.idempotency.already_succeeded(
            request.account_id, request.action_type, key[0], key[1]
        ):
            what = "this text on this target" if key[1] else "this target"
            return Decision.reject(
                ReasonCode.ALREADY_DONE,
                f"Already done: this account has already completed {request.action_type} on {what}; "
                "postpulse never repeats it.",
                **base,
                target_id=key[0],
                text_hash=key[1],
            )

        if not account.is_active:
            return Decision.defer(
                ReasonCode.ACCOUNT_INACTIVE,
                "The account is deactivated; the action waits until it is active again.",
                None,
                **base,
            )
        if account.needs_relogin:
            return Decision.defer(
                ReasonCode.NEEDS_RELOGIN,
                "The account's session has expired: log in again; the action waits until then.",
                None,
                **base,
            )
        if account.frozen_until is not None and account.frozen_until > now:
            why = f" ({account.frozen_reason})" if account.frozen_reason else ""
            return Decision.defer(
                ReasonCode.ACCOUNT_FROZEN,
                f"The account is cooling down after the platform signalled a block{why}; actions "
                f"resume at {fmt_utc(account.frozen_until)}.",
                account.frozen_until,
                **base,
            )
        if not (request.approved or settings.auto_approves(request.action_type)):
            return Decision.defer(
                ReasonCode.NOT_APPROVED,
                f"Waiting for approval: approve the action, or turn on auto-approve for "
                f"{request.action_type} in the account settings.",
                None,
                **base,
            )
        qh = settings.quiet_hours
        if qh.enabled and qh.is_quiet(now, account.timezone):
            until = qh.next_allowed_time(now, account.timezone)
            return Decision.defer(
                ReasonCode.QUIET_HOURS,
                f"Quiet hours ({qh.describe(account.timezone)}): deferred to {fmt_utc(until)}.",
                until,
                **base,
                quiet_hours=qh.describe(account.timezone),
            )
        limited = check_rate_limits(self.usage, request.account_id, request.action_type, limit, now)
        if limited is not None:
            return Decision.defer(
                limited.reason_code, limited.message, limited.retry_at, **base, **limited.details
            )
        return Decision.allow(**base)

    def check_target(self, request: ActionRequest, account: AccountState, now: datetime) -> Decision | None:
        """The blocklist, opt-outs and the allowlist on what the action touches: a rejection, or
        None when the target may be acted on. The executor calls it again once it has read an
        author from the page (``author_pending``)."""
        base = {
            "action_id": request.action_id,
            "account_id": request.account_id,
            "action_type": request.action_type,
        }
        hit = self.blocklist.match_request(request, now)
        if hit is not None:
            e = hit.entry
            details = {
                **base,
                "entry_id": e.id,
                "entry_type": e.entry_type,
                "match_type": e.match_type,
                "value": e.value,
                "platform": e.platform,
                "added_by": e.added_by,
                "field": hit.field,
            }
            if hit.reason_code == ReasonCode.OPTED_OUT:
                msg = (
                    f"@{e.value} opted out (asked not to be contacted); postpulse will not act "
                    "towards them. Remove the opt-out entry only if they ask to be contacted again."
                )
            else:
                why = f" Reason: {e.reason}." if e.reason else ""
                what = (
                    "the author of the target" if hit.field == "target_author" else _BLOCK_WORDS[e.entry_type]
                )
                msg = (
                    f"Blocked by the blocklist: {what} matches "
                    f"{e.match_type} entry {e.value!r}{' (' + e.id + ')' if e.id else ''}.{why}"
                )
            return Decision.reject(hit.reason_code, msg, **details)

        allow = account.settings.allowlist
        if allow.enabled and not request.author_pending and request.action_type not in UNRESTRICTED:
            people = (
                request.people if request.target_type in ("user", "dm_thread") else request.target_authors
            )
            if not allow.admits(people, request.target_tags):
                who = ", ".join("@" + p for p in people) or "an unknown author"
                return Decision.reject(
                    ReasonCode.NOT_ALLOWLISTED,
                    f"This account acts only on its allowlist ({allow.describe()}); the target ({who}) "
                    "is not on it. Add the user or a tag to the account's allowlist setting to allow it.",
                    **base,
                    people=list(people),
                )
        return None
