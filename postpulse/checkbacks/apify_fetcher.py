"""Check-backs through Apify: the platform's scraper actor, run once per batch with the posts' URLs.

Posts that came from Apify exports (or any export with post URLs) live on the real platforms,
which only a scraper can read. :class:`ApifyFetcher` starts the platform's actor (``SANDBOX_ACTORS``,
the same actors the exports come from) with the batch's post URLs, waits for the run, reads its
dataset and matches the items to the posts with the normal parsers (by platform post id). A post
the actor does not return is a failure (retried with backoff), never "deleted": a scraper also
misses posts that are private, rate-limited or not yet indexed.

:class:`RoutingFetcher` is what the check-back job uses: posts on the sandbox go to the sandbox's
own endpoint (one request each, concurrently), the others to Apify when a token is configured.
"""

from __future__ import annotations

import os
import tempfile
import time

import orjson

from postpulse.checkbacks.fetchers import FetchResult, SandboxFetcher, fetch_each
from postpulse.ingest.apify import ApifyClient, ApifyError
from postpulse.ingest.sandbox_source import SANDBOX_ACTORS

URL_FIELDS: dict[str, str] = {
    # platform: the input field of its actor (SANDBOX_ACTORS, the exports' scrapers) that takes post URLs
    "x": "startUrls",
    "instagram": "directUrls",
    "tiktok": "postURLs",
    "threads": "startUrls",
    "linkedin": "postUrls",
}
RUN_TIMEOUT_S = 1800.0


class ApifyFetcher:
    """Re-fetches a batch of one platform's posts with one actor run (see the module)."""

    def __init__(self, client: ApifyClient, *, run_timeout: float = RUN_TIMEOUT_S):
        self.client = client
        self.run_timeout = run_timeout

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def fetch_many(self, posts: list[dict], max_concurrency: int = 1) -> list[FetchResult]:
        """One result per post of ``posts`` (dicts with ``platform``, ``platform_post_id``, ``url``)."""
        out: list[FetchResult | None] = [None] * len(posts)
        by_platform: dict[str, list[int]] = {}
        for i, p in enumerate(posts):
            if p["platform"] not in URL_FIELDS:
                out[i] = FetchResult("error", error=f"no Apify actor for {p['platform']} posts")
            elif not p["url"]:
                out[i] = FetchResult("error", error="the post has no URL to re-fetch it from")
            else:
                by_platform.setdefault(p["platform"], []).append(i)
        for platform, idx in by_platform.items():
            for i, r in zip(idx, self._run(platform, [posts[i] for i in idx]), strict=True):
                out[i] = r
        return [r for r in out if r is not None]

    def _run(self, platform: str, posts: list[dict]) -> list[FetchResult]:
        actor, url_field = SANDBOX_ACTORS[platform], URL_FIELDS[platform]
        t0 = time.perf_counter()
        try:
            run = self.client.start_run(actor, {url_field: [{"url": p["url"]} for p in posts]})
            run = self.client.wait_for_run(run.id, timeout=self.run_timeout)
            if run.status != "SUCCEEDED":
                raise ApifyError(f"actor {actor} run {run.id} ended {run.status}")
            items = list(self.client.iter_items(run.dataset_id))
        except ApifyError as exc:
            dt = time.perf_counter() - t0
            return [FetchResult("error", error=f"Apify: {exc}"[:500], http_seconds=dt) for _ in posts]
        dt = time.perf_counter() - t0
        found = _items_by_post_id(items)
        return [
            FetchResult("ok", item=found[p["platform_post_id"]], http_seconds=dt)
            if p["platform_post_id"] in found
            else FetchResult(
                "error",
                error=f"actor {actor} returned no item for it (deleted, private or not scraped this time)",
                http_seconds=dt,
            )
            for p in posts
        ]


def _items_by_post_id(items: list[dict]) -> dict[str, dict]:
    """The items by the platform post id the normal parsers read from them."""
    if not items:
        return {}
    from postpulse.ingest import PostRecord, iter_file

    fd, tmp = tempfile.mkstemp(prefix="postpulse-apify-checkback-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as f:
            for it in items:
                f.write(orjson.dumps(it) + b"\n")
        found: dict[str, dict] = {}
        for rec in iter_file(tmp, dedupe=False):
            if type(rec) is PostRecord and 0 <= rec.record_index < len(items):
                found.setdefault(rec.platform_post_id, items[rec.record_index])
        return found
    finally:
        os.unlink(tmp)


class RoutingFetcher:
    """Sandbox posts to the sandbox's endpoint, YouTube posts to the YouTube Data API (with an API
    key), the others to Apify (when configured)."""

    def __init__(self, sandbox: SandboxFetcher | None, apify: ApifyFetcher | None, youtube=None):
        self.sandbox = sandbox
        self.apify = apify
        self.youtube = youtube  # postpulse.checkbacks.youtube_fetcher.YouTubeApiFetcher

    @property
    def base_url(self) -> str | None:
        return (self.sandbox.base_url if self.sandbox else None) or (
            self.apify.base_url if self.apify else None
        )

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        if self.apify is not None:
            self.apify.client.close()
        if self.youtube is not None:
            self.youtube.close()

    def fetch_many(self, posts: list[dict], max_concurrency: int = 8) -> list[FetchResult]:
        out: list[FetchResult | None] = [None] * len(posts)
        here, there = [], []
        tube = []
        for i, p in enumerate(posts):
            if self.sandbox is not None and self.sandbox.can_serve(p["url"]):
                here.append(i)
            elif self.youtube is not None and p["platform"] == "youtube":
                tube.append(i)
            else:
                there.append(i)
        if tube:
            for i, r in zip(tube, self.youtube.fetch_many([posts[i] for i in tube]), strict=True):
                out[i] = r
        for i, r in zip(
            here, fetch_each(self.sandbox, [posts[i] for i in here], max_concurrency), strict=True
        ):
            out[i] = r
        if there:
            if self.apify is None:
                for i in there:
                    p = posts[i]
                    out[i] = FetchResult(
                        "error",
                        error=f"no client can re-fetch {p['platform']} posts outside the "
                        f"sandbox ({p['url'] or 'no URL'}): set APIFY_TOKEN, or "
                        "import a fresh export",
                    )
            else:
                for i, r in zip(there, self.apify.fetch_many([posts[i] for i in there]), strict=True):
                    out[i] = r
        return [r for r in out if r is not None]
