"""Apify connector: start an actor run, poll it, page its dataset items (httpx + tenacity).

Works against Apify (``https://api.apify.com``) and the sandbox's Apify-style API. The token
goes in an ``Authorization: Bearer`` header only (never in a URL, a log line or an error).
Transient failures (5xx, timeouts, connection errors) are retried with exponential backoff;
a 429 waits for its ``Retry-After`` (capped) before the retry.

``pull_actor(...)`` writes the dataset to a JSONL file named like an Apify export
(``dataset_<actor>_<YYYY-MM-DD_HH-MM-SS-mmm>.jsonl``, the run's finish time), so the import
takes its capture time from the name, and the file stays as the run's audit trail.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from postpulse.errors import PostpulseError
from postpulse.ingest.downloads import write_jsonl

log = logging.getLogger(__name__)

APIFY_DEFAULT_URL = "https://api.apify.com"
MAX_RETRY_AFTER_S = 120.0
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT", "TIMED_OUT"}


class ApifyError(PostpulseError):
    pass


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, min(MAX_RETRY_AFTER_S, float(value)))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            dt = parsedate_to_datetime(value)
            return max(0.0, min(MAX_RETRY_AFTER_S, (dt - datetime.now(UTC)).total_seconds()))
        except Exception:
            return None


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    except Exception:
        pass
    return (resp.text or "")[:200]


@dataclass
class ActorRun:
    id: str
    status: str
    dataset_id: str | None
    started_at: str | None = None
    finished_at: str | None = None
    raw: dict | None = None


class ApifyClient:
    """A small Apify v2 API client."""

    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        if not token:
            raise ApifyError("no Apify token", fix="set APIFY_TOKEN (the sandbox accepts 'sandbox-token')")
        self.base_url = (base_url or APIFY_DEFAULT_URL).rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "postpulse-apify/1"},
        )
        self.max_attempts = max_attempts
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.calls: list[dict] = []  # (endpoint, status, items, ms): api_usage rows

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the token
        return f"ApifyClient(base_url={self.base_url!r})"

    # ---------------------------------------------------------------- transport
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return wait_exponential(multiplier=self.backoff_min, min=self.backoff_min, max=self.backoff_max)(
            state
        )

    def _request(self, method: str, path: str, *, endpoint: str, **kw: Any) -> httpx.Response:
        def once() -> httpx.Response:
            t0 = time.perf_counter()
            try:
                resp = self._client.request(method, path, **kw)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise _Retryable(f"{endpoint}: {type(exc).__name__}") from None
            ms = int((time.perf_counter() - t0) * 1000)
            self.calls.append({"endpoint": endpoint, "status_code": resp.status_code, "duration_ms": ms})
            if resp.status_code == 429:
                ra = _retry_after(resp)
                log.warning("Apify %s: 429 rate limited, retrying after %ss", endpoint, ra)
                raise _Retryable(f"{endpoint}: HTTP 429 rate limited", ra if ra is not None else None)
            if resp.status_code >= 500:
                log.warning("Apify %s: HTTP %s, retrying", endpoint, resp.status_code)
                raise _Retryable(f"{endpoint}: HTTP {resp.status_code} {_message(resp)}")
            if resp.status_code >= 400:
                raise ApifyError(
                    f"Apify {endpoint} failed: HTTP {resp.status_code}: {_message(resp)}",
                    fix="check the actor id, its input and APIFY_TOKEN"
                    if resp.status_code in (401, 403, 404)
                    else None,
                )
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self.sleep,
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            reraise=True,
        )
        try:
            return retrying(once)
        except _Retryable as exc:
            raise ApifyError(
                f"Apify {endpoint} kept failing after {self.max_attempts} attempts: {exc}",
                fix=f"check that {self.base_url} is reachable; try again later",
            ) from None

    # ---------------------------------------------------------------- API
    @staticmethod
    def _actor_path(actor_id: str) -> str:
        return actor_id.replace("/", "~")

    def start_run(self, actor_id: str, run_input: dict | None = None) -> ActorRun:
        resp = self._request(
            "POST",
            f"/v2/acts/{self._actor_path(actor_id)}/runs",
            endpoint="start run",
            content=orjson.dumps(run_input or {}),
            headers={"Content-Type": "application/json"},
        )
        return self._run(resp.json().get("data") or {})

    def get_run(self, run_id: str) -> ActorRun:
        resp = self._request("GET", f"/v2/actor-runs/{run_id}", endpoint="get run")
        return self._run(resp.json().get("data") or {})

    @staticmethod
    def _run(data: dict) -> ActorRun:
        return ActorRun(
            id=str(data.get("id")),
            status=str(data.get("status") or "UNKNOWN"),
            dataset_id=data.get("defaultDatasetId"),
            started_at=data.get("startedAt"),
            finished_at=data.get("finishedAt"),
            raw=data,
        )

    def wait_for_run(self, run_id: str, *, timeout: float = 3600.0) -> ActorRun:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.status in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise ApifyError(f"Apify run {run_id} still {run.status} after {timeout:.0f} s")
            self.sleep(self.poll_interval)

    def iter_items(self, dataset_id: str, *, page_size: int = 1000) -> Iterator[dict]:
        offset = 0
        while True:
            resp = self._request(
                "GET",
                f"/v2/datasets/{dataset_id}/items",
                endpoint="dataset items",
                params={"offset": offset, "limit": page_size, "format": "json", "clean": "true"},
            )
            page = resp.json()
            if not isinstance(page, list):
                raise ApifyError(
                    f"Apify dataset {dataset_id}: expected a list of items, got {type(page).__name__}"
                )
            yield from page
            offset += len(page)
            total = resp.headers.get("x-apify-pagination-total")
            if not page or len(page) < page_size or (total is not None and offset >= int(total)):
                return


def _stamp(iso: str | None) -> datetime:
    if iso:
        try:
            return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def export_name(actor_id: str, finished: datetime, run_id: str = "") -> str:
    actor = actor_id.replace("/", "~").split("~")[-1]
    stamp = finished.strftime("%Y-%m-%d_%H-%M-%S-") + f"{finished.microsecond // 1000:03d}"
    suffix = f"_{run_id}" if run_id else ""
    # the timestamp is last before the suffix-free part postpulse reads: dataset_<actor>_<stamp>
    return f"{run_id}__dataset_{actor}_{stamp}.jsonl" if suffix else f"dataset_{actor}_{stamp}.jsonl"


@dataclass
class PullResult:
    run: ActorRun
    path: Path
    items: int


def pull_actor(
    client: ApifyClient,
    actor_id: str,
    run_input: dict | None,
    out_dir: str | os.PathLike,
    *,
    timeout: float = 3600.0,
) -> PullResult:
    """Run an actor to completion and save its dataset as an Apify-style JSONL export."""
    run = client.start_run(actor_id, run_input)
    run = client.wait_for_run(run.id, timeout=timeout)
    if run.status != "SUCCEEDED":
        raise ApifyError(
            f"Apify actor {actor_id} run {run.id} ended {run.status}",
            fix="see the run's log on Apify; nothing was imported",
        )
    if not run.dataset_id:
        raise ApifyError(f"Apify run {run.id} has no dataset")
    final = Path(out_dir) / export_name(actor_id, _stamp(run.finished_at), run.id)
    n = write_jsonl(final, client.iter_items(run.dataset_id))
    return PullResult(run=run, path=final, items=n)
