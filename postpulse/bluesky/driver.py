"""The Bluesky driver: engagement actions through the AT Protocol API (a driver of the ``api``
kind, see ``postpulse/engagement/drivers/registry.py``).

It has the ``Driver`` protocol of ``postpulse.engagement.drivers.base``, so the executor, the
policy engine, approvals, attempts and the audit trail work as for the browser drivers; it gets
no browser, and its "storage state" is the stored Bluesky session (``postpulse.bluesky.session``)
whose refreshed tokens go back through ``on_session_change``.

Targets: a post's AT URI for ``like``, ``unlike``, ``repost``, ``reply`` and ``delete_post``; a
DID or handle for ``follow``/``unfollow``; ``publish`` sends ``text`` with ``params.media`` (up to
4 images: ``[{"path": ..., "alt": ...}]``), links and mentions as facets. Each action first reads
the current state (already liked? -> ``{"already": True}``), so a retried action never acts twice,
and is verified by reading it back from the AppView (``reload_verify``: the post's viewer state,
the profile's follow, the new post itself).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from postpulse.engagement.drivers.base import (
    ActionTask,
    DriverError,
    SessionExpired,
    TargetNotFound,
    TransientError,
    Verification,
)

from . import session as bsky_session
from .errors import BlueskyError, RateLimited, ServiceDown, SessionGone, describe

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1_000_000  # app.bsky.embed.images: each image blob at most 1,000,000 bytes
MAX_TEXT_GRAPHEMES = 300
VERIFY_TRIES = 20
VERIFY_WAIT_S = 0.25  # the AppView indexes a write a moment after the PDS accepted it


def _driver_error(exc: BaseException, what: str, service: str) -> DriverError:
    err = exc if isinstance(exc, BlueskyError) else describe(exc, what, service)
    if isinstance(err, RateLimited):
        return TransientError(err.message, code="rate_limited", status=429, retry_after=err.retry_after)
    if isinstance(err, ServiceDown):
        return TransientError(err.message, code="server_error", status=None)
    if isinstance(err, SessionGone):
        return SessionExpired(
            f"{err.message}: connect the account again with `postpulse accounts connect bluesky --handle ...`"
        )
    if err.code == "target_not_found":
        return TargetNotFound(err.message)
    return DriverError(err.message, code=err.code)


class BlueskyDriver:
    def __init__(
        self,
        browser: Any = None,  # noqa: ARG002 - API driver: no browser
        *,
        base_url: str = "",  # noqa: ARG002 - the service comes from the stored session
        site: str = "bluesky",
        username: str,
        storage_state: dict | None,
        timeout_ms: int = 15000,  # noqa: ARG002
        on_session_change=None,
    ) -> None:
        self.site = site
        self.username = username
        if not storage_state:
            raise SessionExpired(
                f"@{username} has no Bluesky session: run `postpulse accounts connect bluesky`"
            )
        self.service = storage_state.get("service", "")
        try:
            self.client = bsky_session.resume(storage_state, on_change=on_session_change)
        except BlueskyError as exc:
            raise _driver_error(exc, "resuming the session", self.service) from None
        self.did = storage_state.get("did")

    # ------------------------------------------------------------------ protocol
    def close(self) -> None:
        pass

    def screenshot(self, path: str) -> bool:  # noqa: ARG002 - nothing to show: no page
        return False

    def login(self, password: str) -> dict:  # noqa: ARG002
        raise DriverError(
            "Bluesky accounts connect with an app password: "
            "`postpulse accounts connect bluesky --handle ...`",
            code="unsupported_action",
        )

    def list_threads(self) -> list[dict[str, str]]:
        raise DriverError(
            "Bluesky direct messages are not supported (no chat service)", code="unsupported_action"
        )

    def read_thread(self, thread_id: str) -> list[dict[str, str]]:  # noqa: ARG002
        return self.list_threads()

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DriverError:
            raise
        except Exception as exc:
            raise _driver_error(exc, what, self.service) from None

    # ------------------------------------------------------------------ reads
    def _post(self, uri: str) -> Any | None:
        """The post as the AppView shows it to us (with ``viewer`` state), or None when gone."""
        posts = self._call(f"reading {uri}", self.client.get_posts, [uri]).posts
        return posts[0] if posts else None

    def _existing_post(self, uri: str) -> Any:
        post = self._post(uri)
        if post is None:
            raise TargetNotFound(f"the post {uri} no longer exists on Bluesky (deleted since it was queued)")
        return post

    def read_author(self, task: ActionTask) -> str | None:
        """The handle of the targeted post's author (a reply: of the post replied to), as the
        AppView shows it; asked before acting when the store does not know the author."""
        return self._existing_post(task.target_id).author.handle

    def _actor_did(self, task: ActionTask) -> str:
        actor = task.target_id or task.target_username or ""
        if actor.startswith("did:"):
            return actor
        try:
            return self.client.resolve_handle(actor.lstrip("@")).did
        except Exception as exc:
            err = describe(exc, f"resolving @{actor}", self.service)
            if isinstance(err, (RateLimited, ServiceDown)):
                raise _driver_error(err, "resolving", self.service) from None
            raise TargetNotFound(f"the handle @{actor.lstrip('@')} does not resolve on Bluesky") from None

    def _profile(self, did: str) -> Any:
        return self._call(f"reading the profile {did}", self.client.get_profile, did)

    # ------------------------------------------------------------------ actions
    def perform(self, task: ActionTask, text: str | None) -> tuple[dict[str, Any], Verification | None]:
        action = getattr(self, f"_do_{task.action_type}", None)
        if action is None:
            raise DriverError(
                f"the Bluesky driver cannot {task.action_type!r} (direct messages have no local service)",
                code="unsupported_action",
            )
        return action(task, text), None

    def _do_like(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        post = self._existing_post(task.target_id)
        if post.viewer and post.viewer.like:
            return {"already": True, "like_uri": post.viewer.like, "platform_post_id": post.uri}
        ref = self._call("liking", self.client.like, post.uri, post.cid)
        return {"like_uri": ref.uri, "platform_post_id": post.uri}

    def _do_unlike(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        post = self._existing_post(task.target_id)
        if not (post.viewer and post.viewer.like):
            return {"already": True, "platform_post_id": post.uri}
        self._call("unliking", self.client.unlike, post.viewer.like)
        return {"unliked": post.viewer.like, "platform_post_id": post.uri}

    def _do_repost(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        post = self._existing_post(task.target_id)
        if post.viewer and post.viewer.repost:
            return {"already": True, "repost_uri": post.viewer.repost, "platform_post_id": post.uri}
        ref = self._call("reposting", self.client.repost, post.uri, post.cid)
        return {"repost_uri": ref.uri, "platform_post_id": post.uri}

    def _do_reply(self, task: ActionTask, text: str | None) -> dict:
        from atproto import models

        if not text:
            raise DriverError("a reply needs text", code="invalid_action")
        parent = self._existing_post(task.target_id)  # the post or the reply we answer
        record_reply = getattr(parent.record, "reply", None)
        parent_ref = models.create_strong_ref(parent)
        root_ref = record_reply.root if record_reply is not None else parent_ref
        reply_to = models.AppBskyFeedPost.ReplyRef(parent=parent_ref, root=root_ref)
        facets = self._call("detecting links and mentions", self.client.detect_facets, text)
        ref = self._call("replying", self.client.send_post, text, reply_to=reply_to, facets=facets or None)
        return {
            "platform_comment_id": ref.uri,
            "reply_uri": ref.uri,
            "parent_uri": parent.uri,
            "root_uri": root_ref.uri,
        }

    _do_comment = _do_reply  # a comment on a Bluesky post is a reply to it

    def _do_follow(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        did = self._actor_did(task)
        profile = self._profile(did)
        if profile.viewer and profile.viewer.following:
            return {"already": True, "follow_uri": profile.viewer.following, "did": did}
        ref = self._call("following", self.client.follow, did)
        return {"follow_uri": ref.uri, "did": did}

    def _do_unfollow(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        did = self._actor_did(task)
        profile = self._profile(did)
        if not (profile.viewer and profile.viewer.following):
            return {"already": True, "did": did}
        self._call("unfollowing", self.client.unfollow, profile.viewer.following)
        return {"unfollowed": profile.viewer.following, "did": did}

    def _do_delete_post(self, task: ActionTask, text: str | None) -> dict:  # noqa: ARG002
        uri = task.target_id
        if self.did and not uri.startswith(f"at://{self.did}/"):
            raise DriverError(f"{uri} is not a post of @{self.username}: only our own posts can be deleted")
        if self._post(uri) is None:
            return {"already": True, "platform_post_id": uri}
        self._call("deleting the post", self.client.delete_post, uri)
        return {"deleted": uri, "platform_post_id": uri}

    def _images(self, media: list) -> tuple[list[bytes], list[str]]:
        if len(media) > MAX_IMAGES:
            raise DriverError(
                f"Bluesky takes at most {MAX_IMAGES} images per post, got {len(media)}", code="invalid_media"
            )
        images, alts = [], []
        for i, item in enumerate(media):
            spec = item if isinstance(item, dict) else {"path": item}
            path = Path(str(spec.get("path") or ""))
            if not path.is_file():
                raise DriverError(f"params.media[{i}]: image file {path} not found", code="invalid_media")
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise DriverError(
                    f"params.media[{i}]: {path.name} is {size:,} bytes; Bluesky accepts at most "
                    f"{MAX_IMAGE_BYTES:,} bytes per image (resize or compress it)",
                    code="image_too_large",
                )
            images.append(path.read_bytes())
            alts.append(str(spec.get("alt") or ""))
        return images, alts

    def _sent_since(self, text: str, since: str) -> Any | None:
        """Our post with this text created at or after ``since`` (our clock wrote both), from the
        repository itself: a publication retried after a crash finds what it already sent."""
        listed = self._call(
            "reading our recent posts",
            self.client.com.atproto.repo.list_records,
            {"repo": self.did, "collection": "app.bsky.feed.post", "limit": 50},
        )
        start = datetime.fromisoformat(since)
        for rec in listed.records:
            created = datetime.fromisoformat(str(rec.value.created_at).replace("Z", "+00:00"))
            if rec.value.text == text and created >= start:
                return rec
        return None

    def _do_publish(self, task: ActionTask, text: str | None) -> dict:
        text = text or ""
        if task.params.get("intent_at"):
            sent = self._sent_since(text, task.params["intent_at"])
            if sent is not None:
                rkey = sent.uri.rsplit("/", 1)[-1]
                return {
                    "platform_post_id": sent.uri,
                    "cid": sent.cid,
                    "url": f"https://bsky.app/profile/{self.did}/post/{rkey}",
                    "images": len(getattr(sent.value.embed, "images", None) or []),
                    "already": True,
                }
        if len(text) > MAX_TEXT_GRAPHEMES:
            raise DriverError(
                f"the post has {len(text)} characters; Bluesky allows {MAX_TEXT_GRAPHEMES}",
                code="invalid_action",
            )
        images, alts = self._images(list(task.params.get("media") or []))
        facets = self._call("detecting links and mentions", self.client.detect_facets, text) if text else []
        if images:
            ref = self._call(
                "publishing",
                self.client.send_images,
                text,
                images=images,
                image_alts=alts,
                facets=facets or None,
            )
        else:
            ref = self._call("publishing", self.client.send_post, text, facets=facets or None)
        rkey = ref.uri.rsplit("/", 1)[-1]
        return {
            "platform_post_id": ref.uri,
            "cid": ref.cid,
            "url": f"https://bsky.app/profile/{self.did}/post/{rkey}",
            "images": len(images),
            "facets": len(facets or []),
        }

    # ------------------------------------------------------------------ verification
    def verify(self, task: ActionTask, result: dict, text: str | None) -> Verification:
        t0 = time.perf_counter()
        check = getattr(self, f"_check_{task.action_type}")
        details: dict[str, Any] = {"source": "appview"}
        ok = False
        for _ in range(VERIFY_TRIES):
            ok, details = check(task, result, text)
            details["source"] = "appview"
            if ok:
                break
            time.sleep(VERIFY_WAIT_S)
        return Verification(
            "reload_verify", ok, 1.0 if ok else 0.6, details, int((time.perf_counter() - t0) * 1000)
        )

    def _check_like(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        post = self._post(task.target_id)
        liked = bool(post and post.viewer and post.viewer.like)
        return liked, {"liked": liked, "like_count": post.like_count if post else None}

    def _check_unlike(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        post = self._post(task.target_id)
        liked = bool(post and post.viewer and post.viewer.like)
        return not liked, {"liked": liked}

    def _check_repost(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        post = self._post(task.target_id)
        done = bool(post and post.viewer and post.viewer.repost)
        return done, {"reposted": done, "repost_count": post.repost_count if post else None}

    def _check_reply(self, task, result, text) -> tuple[bool, dict]:
        post = self._post(result.get("reply_uri") or "")
        same = bool(post and (post.record.text or "") == (text or ""))
        return same, {"found": post is not None, "text_matches": same}

    _check_comment = _check_reply

    def _check_publish(self, task, result, text) -> tuple[bool, dict]:
        post = self._post(result.get("platform_post_id") or "")
        same = bool(post and (post.record.text or "") == (text or ""))
        images = len(getattr(post.embed, "images", None) or []) if post and post.embed else 0
        return same and images == result.get("images", 0), {"found": post is not None, "images": images}

    def _check_delete_post(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        gone = self._post(task.target_id) is None
        return gone, {"gone": gone}

    def _check_follow(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        profile = self._profile(result.get("did") or self._actor_did(task))
        following = bool(profile.viewer and profile.viewer.following)
        return following, {"following": following}

    def _check_unfollow(self, task, result, text) -> tuple[bool, dict]:  # noqa: ARG002
        profile = self._profile(result.get("did") or self._actor_did(task))
        following = bool(profile.viewer and profile.viewer.following)
        return not following, {"following": following}
