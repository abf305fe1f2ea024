"""Check-backs of YouTube posts through the YouTube Data API (``videos.list``, an API key only).

Any public video's statistics cost 1 quota unit per 50 videos, far cheaper than a scraper run.
A video ``videos.list`` does not return was deleted or made private: it is reported
``deleted``. Each call lands in ``api_usage`` (provider ``youtube``) when an engine is given.
Configured by ``POSTPULSE_YOUTUBE_API_KEY`` (see :func:`youtube_fetcher_from_env`).
"""

from __future__ import annotations

import os
import time

from sqlalchemy.engine import Engine

from postpulse.api_usage import record_calls
from postpulse.checkbacks.fetchers import FetchResult
from postpulse.platforms.errors import ApiError
from postpulse.platforms.youtube import YouTubeConnector


class YouTubeApiFetcher:
    def __init__(self, api_key: str, *, engine: Engine | None = None) -> None:
        self.api_key = api_key
        self.engine = engine
        self.connector = YouTubeConnector("api-key-only", None, api_key=api_key)

    @property
    def base_url(self) -> str:
        return self.connector.api_url

    def close(self) -> None:
        self.connector.close()

    def fetch_many(self, posts: list[dict], max_concurrency: int = 1) -> list[FetchResult]:  # noqa: ARG002
        t0 = time.perf_counter()
        ids = [p["platform_post_id"] for p in posts]
        try:
            found = {v["id"]: v for v in self.connector.videos(ids, auth="key")}
        except ApiError as exc:
            return [FetchResult("error", error=exc.message) for _ in posts]
        finally:
            if self.engine is not None and self.connector.calls:
                with self.engine.begin() as conn:
                    record_calls(conn, "youtube", self.connector.calls)
                self.connector.calls.clear()
        spent = (time.perf_counter() - t0) / max(1, len(posts))
        out = []
        for vid in ids:
            video = found.get(vid)
            if video is None:
                out.append(
                    FetchResult(
                        "deleted",
                        error="videos.list no longer returns it (deleted or private)",
                        http_seconds=spent,
                    )
                )
            else:
                item = self.connector.to_record(video)
                item["author"]["username"] = None  # the channel's handle is not in videos.list
                out.append(FetchResult("ok", item=item, http_seconds=spent))
        return out


def youtube_fetcher_from_env(engine: Engine | None = None) -> YouTubeApiFetcher | None:
    key = os.environ.get("POSTPULSE_YOUTUBE_API_KEY")
    return YouTubeApiFetcher(key, engine=engine) if key else None
