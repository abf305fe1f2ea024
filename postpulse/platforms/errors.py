"""What can go wrong talking to a platform's official API, each as one line for the user.

Messages never contain a token, a client secret or an authorization code.
"""

from __future__ import annotations

from postpulse.errors import PostpulseError


class ApiError(PostpulseError):
    """A call failed; ``code`` names the kind for the executor and the audit trail."""

    code = "api_error"

    def __init__(self, message: str, *, fix: str | None = None, status: int | None = None) -> None:
        super().__init__(message, fix=fix)
        self.message = message
        self.status = status


class NotConfigured(ApiError):
    """No client id/secret for the platform's app."""

    code = "not_configured"


class TokenExpired(ApiError):
    """The access token is past its expiry (refreshed and retried once)."""

    code = "token_expired"


class TokenRevoked(ApiError):
    """The user revoked the app (or a permission): the account needs to connect again."""

    code = "token_revoked"


class RateLimited(ApiError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ApiError):
    code = "server_error"


class NotFound(ApiError):
    """The post (or comment) no longer exists on the platform."""

    code = "target_not_found"


class InvalidRequest(ApiError):
    """The platform refused the request as malformed (a field unknown to its API version...)."""

    code = "invalid_request"


class PublishFailed(ApiError):
    """The platform did not finish processing a post (an Instagram container in ERROR...)."""

    code = "publish_failed"


class ConnectFailed(ApiError):
    """The OAuth consent did not complete (denied, wrong state, timed out)."""

    code = "connect_failed"
