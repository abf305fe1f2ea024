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

from sqlalchemy.engine import Engine

from postpulse.checkbacks.fetchers import FetchResult
from postpulse.checkbacks.runner import DEFAULT_CONCURRENCY, CheckbackResult, run_checkbacks

from .appview import GET_POSTS_MAX, AppView
from .errors import BlueskyError
from .usage import record_calls


class BlueskyFetcher:
    def __init__(self, appview: AppView):
        self.appview = appview

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

    def fetch_many(self, posts: list[dict], max_concurrency: int = DEFAULT_CONCURRENCY) -> list[FetchResult]:
        uris = list(dict.fromkeys(p["platform_post_id"] for p in posts))
        batches = [uris[i : i + GET_POSTS_MAX] for i in range(0, len(uris), GET_POSTS_MAX)]
        results: dict[str, FetchResult] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(batches) or 1))) as pool:
            for part in pool.map(self._batch, batches):
                results.update(part)
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
) -> CheckbackResult:
    own = appview is None
    appview = appview or AppView(appview_url)
    fetcher = BlueskyFetcher(appview)
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
            record_calls(conn, calls, res.run_id)
    return res
