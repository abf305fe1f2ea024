"""One authenticated HTTP session with an official API: pacing, retries, refresh, usage records.

* Every call (also a failed one, also a token refresh) is kept as a :class:`Call`; the caller
  writes them to ``api_usage`` (:mod:`postpulse.api_usage`) in the transaction that stores
  what the calls brought.
* **Pacing:** after each answer the rate-limit headers (``x-rate-limit-*`` on X, ``x-app-usage``
  style percentages are converted by the platform) are kept per endpoint. When the remaining
  calls of a window fall to the reserve, the next call waits for the window's reset, so a
  collection slows down *before* the limit. A wait longer than ``max_wait_s`` raises
  :class:`RateLimited` naming the reset time instead of blocking.
* **Retries:** 5xx answers and transport errors are retried with exponential backoff
  (tenacity); a 429 is not hammered: it waits for its reset when that is short, else raises.
* **Tokens:** an access token that expires within ``refresh_margin_s`` is refreshed *before* the
  call; a 401 "expired" answer refreshes once and repeats the call. Refreshed tokens go to
  ``on_tokens`` (stored encrypted at once). A revoked grant raises :class:`TokenRevoked`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from postpulse.api_usage import Call

from .errors import ApiError, RateLimited, ServerError, TokenExpired, TokenRevoked
from .oauth import TokenSet


@dataclass
class Window:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass
class ApiSettings:
    """Where and how one platform's API is called (built by the connector from the environment)."""

    provider: str
    api_url: str
    token_url: str
    client_id: str
    client_secret: str | None = None
    timeout_s: float = 20.0
    retries: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 60.0
    reserve: int = 1  # calls (or percent, where the platform reports usage in percent) kept in hand
    refresh_margin_s: float = 120.0
    token_auth: str = "body"  # body: client id/secret in the form; basic: HTTP basic auth (X)
    extra_headers: dict[str, str] = field(default_factory=dict)


class ApiSession:
    def __init__(
        self,
        settings: ApiSettings,
        *,
        tokens: TokenSet | None = None,
        api_key: str | None = None,
        on_tokens: Callable[[TokenSet], None] | None = None,
        classify: Callable[[httpx.Response], ApiError],
        read_limits: Callable[[httpx.Response], Window | None],
        sleep: Callable[[float], None] = time.sleep,
        refresher: Callable[[ApiSession], dict] | None = None,
    ) -> None:
        self.settings = settings
        self.refresher = refresher  # a platform without refresh tokens (Meta: token exchange)
        self.tokens = tokens
        self.api_key = api_key
        self.on_tokens = on_tokens
        self.classify = classify
        self.read_limits = read_limits
        self.sleep = sleep
        self.calls: list[Call] = []
        self.windows: dict[str, Window] = {}
        self.waited_s = 0.0
        self.last_headers: httpx.Headers = httpx.Headers()
        self.http = httpx.Client(timeout=settings.timeout_s, headers=settings.extra_headers)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ tokens
    def refresh(self) -> TokenSet:
        if self.refresher is not None and self.tokens is not None:
            self.tokens = TokenSet.from_response(self.refresher(self), previous=self.tokens)
            if self.on_tokens:
                self.on_tokens(self.tokens)
            return self.tokens
        if self.tokens is None or not self.tokens.refresh_token:
            raise TokenRevoked(
                f"the {self.settings.provider} access token expired and there is no refresh token",
                fix=f"connect the account again: `postpulse accounts connect {self.settings.provider}`",
            )
        form = {"grant_type": "refresh_token", "refresh_token": self.tokens.refresh_token}
        body = self.token_request(form, endpoint="oauth.refresh")
        self.tokens = TokenSet.from_response(body, previous=self.tokens)
        if self.on_tokens:
            self.on_tokens(self.tokens)
        return self.tokens

    def token_request(self, form: dict, *, endpoint: str) -> dict:
        s = self.settings
        auth = None
        form = dict(form)
        if s.token_auth == "basic" and s.client_secret:
            auth = (s.client_id, s.client_secret)
            form.setdefault("client_id", s.client_id)
        else:
            form["client_id"] = s.client_id
            if s.client_secret:
                form["client_secret"] = s.client_secret
        resp = self.send("POST", s.token_url, endpoint=endpoint, data=form, auth=auth)
        if resp.status_code in (400, 401):  # a refused grant or client, whatever the body says
            raise TokenRevoked(
                f"{s.provider} refused the token request ({self.classify(resp).message})",
                fix=f"connect the account again: `postpulse accounts connect {s.provider}`",
                status=resp.status_code,
            )
        if resp.status_code >= 400:
            raise self.classify(resp)
        return resp.json()

    # ------------------------------------------------------------------ calls
    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        quota_units: int | None = None,
        auth: str = "bearer",
        count: Callable[[Any], int | None] | None = None,
    ) -> Any:
        """The JSON answer (``None`` for an empty 204). Raises an :class:`ApiError` subclass."""
        url = path if path.startswith("http") else self.settings.api_url.rstrip("/") + path
        refreshed = False
        while True:
            if (
                auth == "bearer"
                and self.tokens
                and self.tokens.expires_within(self.settings.refresh_margin_s)
            ):
                self.refresh()
                refreshed = True
            self._pace(endpoint)
            params2 = dict(params or {})
            sent_headers = dict(headers or {})
            if auth == "bearer":
                if self.tokens is None:
                    raise TokenRevoked(
                        f"the {self.settings.provider} account has no access token",
                        fix=f"run `postpulse accounts connect {self.settings.provider}`",
                    )
                sent_headers["Authorization"] = f"Bearer {self.tokens.access_token}"
            elif auth == "key":
                params2["key"] = self.api_key
            resp = self._send_retrying(
                method,
                # merged, not replaced: an upload URL carries its own query (httpx replaces it)
                str(httpx.URL(url).copy_merge_params(params2)),
                endpoint=endpoint,
                json=json,
                data=data,
                files=files,
                content=content,
                headers=sent_headers,
                quota_units=quota_units,
            )
            if resp.status_code < 400:
                self.last_headers = resp.headers
                body = resp.json() if resp.content else None
                if count and self.calls:
                    self.calls[-1].items = count(body)
                return body
            err = self.classify(resp)
            if isinstance(err, TokenExpired) and auth == "bearer" and not refreshed:
                self.refresh()
                refreshed = True
                continue
            if (
                isinstance(err, RateLimited)
                and err.retry_after is not None
                and err.retry_after <= self.settings.max_wait_s
            ):
                self.wait(err.retry_after)
                continue
            raise err

    def _send_retrying(self, method: str, url: str, **kw) -> httpx.Response:
        s = self.settings
        for attempt in Retrying(
            stop=stop_after_attempt(s.retries),
            wait=wait_exponential(multiplier=s.backoff_s, max=s.backoff_s * 8),
            retry=retry_if_exception_type(ServerError),
            sleep=self.wait,
            reraise=True,
        ):
            with attempt:
                resp = self.send(method, url, **kw)
                if resp.status_code >= 500:
                    raise self.classify(resp)
        return resp

    def send(
        self, method: str, url: str, *, endpoint: str, quota_units: int | None = None, **kw
    ) -> httpx.Response:
        called_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            resp = self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.calls.append(
                Call(
                    endpoint, None, int((time.perf_counter() - t0) * 1000), called_at, quota_units=quota_units
                )
            )
            raise ServerError(
                f"{self.settings.provider} did not answer {endpoint} ({type(exc).__name__})",
                fix="check the network or the POSTPULSE_*_API_URL setting and try again",
            ) from None
        window = self.read_limits(resp)
        self.calls.append(
            Call(
                endpoint,
                resp.status_code,
                int((time.perf_counter() - t0) * 1000),
                called_at,
                quota_units=quota_units,
                ratelimit_limit=window.limit if window else None,
                ratelimit_remaining=window.remaining if window else None,
                ratelimit_reset_at=window.reset_at if window else None,
            )
        )
        if window:
            self.windows[endpoint] = window
        return resp

    def _pace(self, endpoint: str) -> None:
        w = self.windows.get(endpoint)
        if w is None or w.remaining is None or w.remaining > self.settings.reserve or w.reset_at is None:
            return
        wait = (w.reset_at - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            return
        if wait > self.settings.max_wait_s:
            raise RateLimited(
                f"{self.settings.provider} {endpoint}: {w.remaining} calls left in this window; "
                f"it resets at {w.reset_at:%H:%M:%S} UTC",
                fix="nothing was lost; run the collection again after the reset",
                retry_after=wait,
            )
        self.wait(wait)
        self.windows.pop(endpoint, None)

    def wait(self, seconds: float | object) -> None:
        seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
        self.waited_s += seconds
        self.sleep(seconds)


def error_body(resp: httpx.Response) -> dict:
    """The JSON body of an error answer, or ``{}`` when it is not JSON (an HTML error page...)."""
    try:
        return resp.json()
    except ValueError:
        return {}


def epoch_to_dt(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(float(value)), UTC) if value else None
    except ValueError:
        return None


def seconds_until(reset_at: datetime | None, default: float | None = None) -> float | None:
    if reset_at is None:
        return default
    return max(0.0, (reset_at - datetime.now(UTC)).total_seconds())


__all__ = ["ApiSession", "ApiSettings", "Call", "Window", "epoch_to_dt", "seconds_until"]
