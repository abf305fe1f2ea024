"""What can go wrong talking to a Bluesky service, as one-line errors for the user.

``describe(exc, what)`` turns an ``atproto`` SDK or ``httpx`` exception into a
:class:`BlueskyError` whose message never carries a token, password or response body beyond
the service's own error name and message.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from postpulse.errors import PostpulseError


class BlueskyError(PostpulseError):
    code = "bluesky_error"

    def __init__(self, message: str, *, fix: str | None = None, code: str | None = None, **extra):
        super().__init__(message, fix=fix)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class WrongPassword(BlueskyError):
    code = "wrong_password"


class HandleNotFound(BlueskyError):
    code = "handle_not_found"


class ServiceDown(BlueskyError):
    code = "service_down"


class RateLimited(BlueskyError):
    code = "rate_limited"

    def __init__(self, message: str, *, reset_at: datetime | None, retry_after: float | None, **kw):
        super().__init__(message, **kw)
        self.reset_at = reset_at
        self.retry_after = retry_after


class SessionGone(BlueskyError):
    code = "session_expired"


class NotFound(BlueskyError):
    code = "target_not_found"


def _xrpc_error(exc) -> tuple[str | None, str | None]:
    content = getattr(getattr(exc, "response", None), "content", None)
    name = getattr(content, "error", None)
    msg = getattr(content, "message", None)
    if isinstance(content, dict):
        name, msg = content.get("error"), content.get("message")
    return name, msg


def reset_from_headers(headers) -> tuple[datetime | None, float | None]:
    """``(reset time, seconds to wait)`` from ``ratelimit-reset`` (unix seconds) / ``retry-after``."""
    reset_at = None
    wait = None
    raw = headers.get("ratelimit-reset") if headers else None
    if raw:
        try:
            reset_at = datetime.fromtimestamp(int(raw), UTC)
            wait = max(0.0, (reset_at - datetime.now(UTC)).total_seconds())
        except (ValueError, OverflowError, OSError):
            reset_at = None
    retry_after = headers.get("retry-after") if headers else None
    if wait is None and retry_after:
        try:
            wait = max(0.0, float(retry_after))
        except ValueError:
            wait = None
    return reset_at, wait


def rate_limited(service: str, what: str, headers) -> RateLimited:
    reset_at, wait = reset_from_headers(headers)
    when = (
        f"; the limit resets at {reset_at:%H:%M:%S} UTC ({wait:.0f} s)"
        if reset_at and wait is not None
        else ""
    )
    return RateLimited(
        f"{service} refused {what}: rate limit reached (HTTP 429){when}",
        reset_at=reset_at,
        retry_after=wait,
        fix="wait until the limit resets; postpulse retries deferred work by itself",
    )


def describe(exc: BaseException, what: str, service: str) -> BlueskyError:
    """A :class:`BlueskyError` for an exception raised while doing ``what`` against ``service``."""
    from atproto_client import exceptions as ax

    if isinstance(exc, BlueskyError):
        return exc
    if isinstance(exc, ax.RateLimitExceededError) or (
        isinstance(exc, ax.RequestErrorBase)
        and exc.response is not None
        and getattr(exc.response, "status_code", None) == 429
    ):
        return rate_limited(service, what, exc.response.headers if exc.response else {})
    if isinstance(exc, (ax.NetworkError, httpx.TransportError)) and getattr(exc, "response", None) is None:
        return ServiceDown(
            f"{service} does not answer ({what}): {type(exc).__name__}",
            fix="check the service URL and that the service is running; nothing was changed",
        )
    if isinstance(exc, ax.RequestErrorBase):
        status = getattr(exc.response, "status_code", None)
        name, msg = _xrpc_error(exc)
        detail = f"{name}: {msg}" if name and msg else (name or msg or f"HTTP {status}")
        if name in ("ExpiredToken", "InvalidToken"):
            return SessionGone(f"the stored session is no longer valid ({name})")
        if status is not None and status >= 500:
            return ServiceDown(f"{service} failed {what} (HTTP {status}: {detail})", fix="try again later")
        if name in ("NotFound", "RecordNotFound", "InvalidRequest") and "not found" in (msg or "").lower():
            return NotFound(f"{what}: not found on {service} ({detail})")
        return BlueskyError(f"{service} refused {what} (HTTP {status}: {detail})")
    if isinstance(exc, httpx.HTTPStatusError):
        return BlueskyError(f"{service} refused {what} (HTTP {exc.response.status_code})")
    return BlueskyError(f"{what} failed: {type(exc).__name__}: {str(exc)[:200]}")
