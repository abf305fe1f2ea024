"""Read-only calls to a Bluesky AppView (``app.bsky.*`` queries), as JSON dicts.

Collection and check-backs read public data, so they go straight to the AppView without a
session: ``https://public.api.bsky.app`` for the real network, the local stack's ``appview``
URL in tests and the demo (``POSTPULSE_BLUESKY_APPVIEW``). Answers stay plain JSON (orjson),
the shape the ``bluesky_*`` mappings read, with no model objects in between.

Every call is logged as a :class:`Call` (endpoint, status, items, duration and the
``ratelimit-*`` headers) for ``api_usage``. A 429 waits for ``ratelimit-reset`` when that is at
most ``max_wait`` seconds away and tries again once; otherwise it raises :class:`RateLimited`.
When a previous answer said ``ratelimit-remaining: 0``, the next call first waits for the reset
(again at most ``max_wait``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson

from postpulse.api_usage import Call, header_int

from .errors import BlueskyError, NotFound, ServiceDown, rate_limited, reset_from_headers

PUBLIC_APPVIEW = "https://public.api.bsky.app"
GET_POSTS_MAX = 25  # app.bsky.feed.getPosts takes at most 25 URIs


def default_appview() -> str:
    return (os.environ.get("POSTPULSE_BLUESKY_APPVIEW") or PUBLIC_APPVIEW).rstrip("/")


class AppView:
    """A pooled, thread-safe AppView client."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 15.0,
        max_connections: int = 16,
        max_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or default_appview()).rstrip("/")
        self.max_wait = max_wait
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._blocked_until: float = 0.0
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"accept": "application/json", "user-agent": "postpulse"},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AppView:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ the one request path
    def _record(self, nsid: str, resp: httpx.Response | None, items: int, t0: float) -> None:
        headers = resp.headers if resp is not None else {}
        reset_at, _ = reset_from_headers(headers)
        call = Call(
            endpoint=nsid,
            status=resp.status_code if resp is not None else None,
            items=items,
            duration_ms=int((time.perf_counter() - t0) * 1000),
            called_at=datetime.now(UTC),
            ratelimit_limit=header_int(headers, "ratelimit-limit"),
            ratelimit_remaining=header_int(headers, "ratelimit-remaining"),
            ratelimit_reset_at=reset_at,
        )
        with self._lock:
            self.calls.append(call)
            if call.ratelimit_remaining == 0 and reset_at is not None:
                self._blocked_until = max(self._blocked_until, reset_at.timestamp())

    def _wait_for_budget(self) -> None:
        wait = self._blocked_until - time.time()
        if wait > 0:
            time.sleep(min(wait, self.max_wait))

    def get(self, nsid: str, params: dict, *, what: str, count_key: str | None = None) -> dict:
        for attempt in (1, 2):
            self._wait_for_budget()
            t0 = time.perf_counter()
            try:
                resp = self._client.get(f"/xrpc/{nsid}", params=params)
            except httpx.TransportError as exc:
                self._record(nsid, None, 0, t0)
                raise ServiceDown(
                    f"the Bluesky AppView at {self.base_url} does not answer ({what}): {type(exc).__name__}",
                    fix="check POSTPULSE_BLUESKY_APPVIEW / --appview and that the service runs; "
                    "nothing stored was changed",
                ) from None
            if resp.status_code == 429:
                self._record(nsid, resp, 0, t0)
                _, wait = reset_from_headers(resp.headers)
                if attempt == 1 and wait is not None and wait <= self.max_wait:
                    time.sleep(wait + 0.05)
                    continue
                raise rate_limited(f"the Bluesky AppView at {self.base_url}", what, resp.headers)
            try:
                body = orjson.loads(resp.content) if resp.content else {}
            except orjson.JSONDecodeError:
                body = {}
            items = len(body.get(count_key) or []) if count_key and isinstance(body, dict) else 0
            self._record(nsid, resp, items, t0)
            if resp.status_code == 200 and isinstance(body, dict):
                return body
            error = body.get("error") if isinstance(body, dict) else None
            message = body.get("message") if isinstance(body, dict) else None
            detail = f"{error}: {message}" if error and message else (error or message or "no details")
            if resp.status_code >= 500:
                raise ServiceDown(f"the Bluesky AppView failed {what} (HTTP {resp.status_code}: {detail})")
            if resp.status_code in (400, 404) and (
                error in ("NotFound", "ActorNotFound") or "not found" in (message or "").lower()
            ):
                raise NotFound(f"{what}: not found on {self.base_url} ({detail})")
            raise BlueskyError(f"the Bluesky AppView refused {what} (HTTP {resp.status_code}: {detail})")
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ queries
    def get_posts(self, uris: list[str]) -> list[dict]:
        if len(uris) > GET_POSTS_MAX:
            raise ValueError(f"getPosts takes at most {GET_POSTS_MAX} URIs")
        body = self.get(
            "app.bsky.feed.getPosts", {"uris": uris}, what=f"getPosts of {len(uris)} posts", count_key="posts"
        )
        return body.get("posts") or []

    def profile(self, actor: str) -> dict:
        return self.get("app.bsky.actor.getProfile", {"actor": actor}, what=f"the profile of {actor}")

    def author_feed(self, actor: str, *, limit: int = 100, pages: int = 10) -> Iterator[dict]:
        """The actor's own posts (not their reposts), newest first, up to ``limit`` per page."""
        cursor = None
        for _ in range(pages):
            params = {"actor": actor, "limit": min(limit, 100), "filter": "posts_with_replies"}
            if cursor:
                params["cursor"] = cursor
            body = self.get(
                "app.bsky.feed.getAuthorFeed", params, what=f"the author feed of {actor}", count_key="feed"
            )
            for item in body.get("feed") or []:
                if item.get("reason") is None and isinstance(item.get("post"), dict):
                    yield item["post"]
            cursor = body.get("cursor")
            if not cursor:
                return

    def thread_replies(self, uri: str, *, depth: int = 6) -> list[dict]:
        """Every reply under the post (depth-first), as postViews."""
        body = self.get(
            "app.bsky.feed.getPostThread",
            {"uri": uri, "depth": depth, "parentHeight": 0},
            what=f"the thread of {uri}",
        )
        out: list[dict] = []

        def walk(node: dict) -> None:
            for child in node.get("replies") or []:
                if isinstance(child, dict) and isinstance(child.get("post"), dict):
                    out.append(child["post"])
                    walk(child)

        thread = body.get("thread")
        if isinstance(thread, dict):
            walk(thread)
        return out

    def search_posts(self, query: str, *, limit: int = 100) -> list[dict]:
        body = self.get(
            "app.bsky.feed.searchPosts",
            {"q": query, "limit": min(limit, 100)},
            what=f"a search for {query!r}",
            count_key="posts",
        )
        return body.get("posts") or []
