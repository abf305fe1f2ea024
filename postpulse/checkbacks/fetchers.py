"""Fetch one post's current metrics from where it lives.

:class:`SandboxFetcher` reads the sandbox platform: ``GET {base}/api/{platform}/posts/{platform_post_id}``
(the scraper-format item; 404 when the post was deleted). A post whose URL is not on the sandbox
gets a clear "no client" failure (it stays tracked and is retried with backoff) instead of a
wrong "deleted"; the check-back job sends those to Apify when a token is configured
(:mod:`postpulse.checkbacks.apify_fetcher`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx


@dataclass(slots=True)
class FetchResult:
    status: str  # ok | deleted | error
    item: dict | None = None
    error: str | None = None
    http_seconds: float = 0.0


class Fetcher(Protocol):
    """Per post (``fetch``, called concurrently), or per batch: a fetcher with
    ``fetch_many(posts, max_concurrency) -> list[FetchResult]`` gets the whole batch
    (:mod:`postpulse.checkbacks.apify_fetcher`)."""

    def fetch(self, platform: str, platform_post_id: str, url: str | None) -> FetchResult: ...


def fetch_each(fetcher: Fetcher, posts: list[dict], max_concurrency: int) -> list[FetchResult]:
    """``fetcher.fetch`` for each post (dicts with ``platform``, ``platform_post_id``, ``url``),
    at most ``max_concurrency`` at a time; results in the order of ``posts``."""
    if not posts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(posts)))) as pool:
        return list(pool.map(lambda p: fetcher.fetch(p["platform"], p["platform_post_id"], p["url"]), posts))


class SandboxFetcher:
    """Re-fetches posts from the sandbox's scraper JSON endpoint (thread-safe, pooled)."""

    def __init__(
        self,
        base_url: str,
        *,
        serve_all: bool = False,
        timeout: float = 15.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._netloc = urlsplit(self.base_url).netloc
        self.serve_all = serve_all
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self._client.close()

    def can_serve(self, url: str | None) -> bool:
        if self.serve_all:
            return True
        return bool(url) and urlsplit(url).netloc == self._netloc

    def fetch(self, platform: str, platform_post_id: str, url: str | None) -> FetchResult:
        if not self.can_serve(url):
            return FetchResult(
                "error",
                error=f"no client can re-fetch {platform} posts outside the sandbox "
                f"({url or 'no URL'}); import a fresh export instead",
            )
        path = f"/api/{quote(platform, safe='')}/posts/{quote(platform_post_id, safe=':')}"
        t0 = time.perf_counter()
        try:
            resp = self._client.get(path)
        except httpx.HTTPError as exc:
            return FetchResult(
                "error", error=f"{type(exc).__name__} from the sandbox", http_seconds=time.perf_counter() - t0
            )
        dt = time.perf_counter() - t0
        if resp.status_code == 404:
            return FetchResult("deleted", error="deleted on the platform (HTTP 404)", http_seconds=dt)
        if resp.status_code != 200:
            extra = (
                f", retry after {resp.headers['retry-after']} s"
                if resp.status_code == 429 and "retry-after" in resp.headers
                else ""
            )
            return FetchResult("error", error=f"HTTP {resp.status_code}{extra}", http_seconds=dt)
        try:
            item: Any = resp.json()
        except ValueError:
            return FetchResult("error", error="the answer was not JSON", http_seconds=dt)
        if not isinstance(item, dict):
            return FetchResult("error", error="the answer was not a JSON object", http_seconds=dt)
        return FetchResult("ok", item=item, http_seconds=dt)
