"""Check-backs of Bluesky posts: ``app.bsky.feed.getPosts``, 25 posts to a call.

:class:`BlueskyFetcher` is a batch fetcher for :func:`postpulse.checkbacks.runner.run_checkbacks`
(``fetch_many``): the due posts' AT URIs go out 25 to a call, calls run concurrently up to the
platform's concurrency, and each postView comes back as the snapshot record (the runner parses
it with the ``bluesky_posts`` mapping). A post the AppView no longer returns was deleted (or
taken down): it is marked deleted and its history stays. A failed call (429 past its reset,
AppView down) fails only its 25 posts, which back off and are tried again.

:func:`run_bluesky_checkbacks` runs one batch and records every call, with its rate-limit
headers, in ``api_usage`` under the batch's download run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlalchemy.engine import Engine

from postpulse.api_usage import record_calls
from postpulse.checkbacks.fetchers import FetchResult
from postpulse.checkbacks.runner import DEFAULT_CONCURRENCY, CheckbackResult, run_checkbacks

from .appview import GET_POSTS_MAX, AppView
from .errors import BlueskyError


class BlueskyFetcher:
    def __init__(self, appview: AppView, prefetched: dict[str, FetchResult] | None = None):
        self.appview = appview
        self.prefetched = prefetched or {}

    @property
    def base_url(self) -> str:
        return self.appview.base_url

    def close(self) -> None:
        self.appview.close()

    def _batch(self, uris: list[str]) -> dict[str, FetchResult]:
        t0 = time.perf_counter()
        try:
            found = self.appview.get_posts(uris)
        except BlueskyError as exc:
            dt = time.perf_counter() - t0
            return {u: FetchResult("error", error=exc.message[:400], http_seconds=dt) for u in uris}
        dt = time.perf_counter() - t0
        by_uri = {p.get("uri"): p for p in found if isinstance(p, dict)}
        out = {}
        for u in uris:
            item = by_uri.get(u)
            out[u] = (
                FetchResult("ok", item=item, http_seconds=dt)
                if item is not None
                else FetchResult(
                    "deleted", error="deleted on Bluesky (getPosts no longer returns it)", http_seconds=dt
                )
            )
        return out

    def fetch_uris(
        self, uris: list[str], max_concurrency: int = DEFAULT_CONCURRENCY
    ) -> dict[str, FetchResult]:
        uris = list(dict.fromkeys(uris))
        batches = [uris[i : i + GET_POSTS_MAX] for i in range(0, len(uris), GET_POSTS_MAX)]
        results: dict[str, FetchResult] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(batches) or 1))) as pool:
            for part in pool.map(self._batch, batches):
                results.update(part)
        return results

    def fetch_many(self, posts: list[dict], max_concurrency: int = DEFAULT_CONCURRENCY) -> list[FetchResult]:
        missing = [p["platform_post_id"] for p in posts if p["platform_post_id"] not in self.prefetched]
        results = {**self.prefetched, **(self.fetch_uris(missing, max_concurrency) if missing else {})}
        return [results[p["platform_post_id"]] for p in posts]

    def fetch(self, platform: str, platform_post_id: str, url: str | None) -> FetchResult:  # noqa: ARG002
        return self._batch([platform_post_id])[platform_post_id]


def run_bluesky_checkbacks(
    engine: Engine,
    post_ids: list[str],
    *,
    appview_url: str | None = None,
    max_concurrency: int = DEFAULT_CONCURRENCY,
    dagster_run_id: str | None = None,
    appview: AppView | None = None,
    prefetched: dict[str, FetchResult] | None = None,
) -> CheckbackResult:
    """One batch as one download run. ``prefetched``: answers already fetched for some URIs."""
    own = appview is None
    appview = appview or AppView(appview_url)
    fetcher = BlueskyFetcher(appview, prefetched)
    before = len(appview.calls)
    try:
        res = run_checkbacks(
            engine,
            post_ids,
            fetcher,
            max_concurrency=max_concurrency,
            platform="bluesky",
            dagster_run_id=dagster_run_id,
        )
    finally:
        calls = appview.calls[before:]
        if own:
            fetcher.close()
    if calls:
        with engine.begin() as conn:
            record_calls(conn, "bluesky", calls, run_id=res.run_id)
    return res


def _uris(engine: Engine, post_ids: list[str]) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT platform_post_id FROM posts WHERE id = ANY(:ids) AND NOT tracking_complete"),
                {"ids": post_ids},
            ).scalars()
        )


def run_many(
    engine: Engine,
    post_ids: list[str],
    appview: AppView,
    *,
    batch: int = 500,
    max_concurrency: int = DEFAULT_CONCURRENCY,
) -> list[CheckbackResult]:
    """Many batches, one download run each, pipelined: the next batch's getPosts calls run while
    the current batch is parsed and stored (``postpulse bluesky checkback``). Each batch's calls
    land in ``api_usage`` under its own run."""
    batches = [post_ids[i : i + batch] for i in range(0, len(post_ids), batch)]

    def prefetch(ids: list[str]) -> tuple[AppView, dict[str, FetchResult]]:
        own = AppView(appview.base_url, max_wait=appview.max_wait, max_connections=max_concurrency)
        try:
            return own, BlueskyFetcher(own).fetch_uris(_uris(engine, ids), max_concurrency)
        finally:
            own.close()  # its calls stay readable

    results: list[CheckbackResult] = []
    with ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(prefetch, batches[0]) if batches else None
        for i, ids in enumerate(batches):
            used, fetched = pending.result()
            if i + 1 < len(batches):
                pending = ahead.submit(prefetch, batches[i + 1])
            res = run_bluesky_checkbacks(
                engine, ids, appview=appview, max_concurrency=max_concurrency, prefetched=fetched
            )
            if used.calls:
                with engine.begin() as conn:
                    record_calls(conn, "bluesky", used.calls, run_id=res.run_id)
            results.append(res)
    return results
