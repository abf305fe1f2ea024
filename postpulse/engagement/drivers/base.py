"""What the executor hands a driver, what comes back, and the failures drivers raise.

Nothing here holds DM plaintext: ``ActionTask`` carries the DM text encrypted
(``text_encrypted``) and the driver decrypts it only to type it. Tasks and results are
picklable (Dagster passes them between ops through its IO manager, i.e. to disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class DriverError(Exception):
    code = "driver_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class MarkupChanged(DriverError):
    """A selector matched nothing where the element must be: the site's markup changed."""

    code = "markup_changed"


class SessionExpired(DriverError):
    """The platform sent us to its login page: the stored session is gone."""

    code = "session_expired"


class NoSession(DriverError):
    code = "no_session"


class TargetNotFound(DriverError):
    code = "target_not_found"


class ActionBlocked(DriverError):
    """The platform showed a block notice; ``notice`` is the notice text (never user content)."""

    code = "action_blocked"

    def __init__(self, message: str, notice: str = "", **details: Any) -> None:
        super().__init__(message, **details)
        self.notice = notice


class NotPersisted(DriverError):
    code = "not_persisted"


class TargetRefused(DriverError):
    """The policy refused the target once its author was read from the page (``code`` is the
    policy's reason code, e.g. ``opted_out``): the action is rejected, never retried."""


class TransientError(DriverError):
    """429, 5xx, timeouts: retried with backoff, then deferred."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, code=code, **details)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ActionTask:
    action_id: str
    attempt_id: str
    run_id: str
    account_id: str
    platform: str
    site: str  # the driver's site key (sandbox: which sandbox site, x, instagram, ...)
    username: str
    action_type: str
    target_type: str
    target_id: str
    target_username: str | None = None
    target_url: str | None = None
    post_ref: str | None = None  # platform post id (reply, delete_comment)
    text: str | None = None  # public text (comment, reply, publish)
    text_encrypted: str | None = None  # DM text, pp1:... envelope bound to the action
    text_hash: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    max_attempts: int = 3
    db_post_id: str | None = None
    driver: str = "sandbox"  # the driver's name in ``registry.DRIVERS``
    #: the target's author is unknown to the store: read it from the page and check the policy
    #: (blocklist, opt-outs, allowlist) before acting
    check_author: bool = False


@dataclass
class Verification:
    method: str  # reload_verify | dom_state_check
    verified: bool
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: int = 0


@dataclass
class ExecResult:
    task: ActionTask
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    status_codes: list[int] = field(default_factory=list)
    retry_after: float | None = None
    notice: str | None = None
    screenshot_path: str | None = None
    duration_ms: int = 0
    tries: int = 1
    checks: list[Verification] = field(default_factory=list)  # dom_state_check right after acting
    verification: Verification | None = None  # reload_verify, filled by the verify step
    skipped: bool = False  # not executed (account flagged earlier in the batch)


class Driver(Protocol):
    """What a platform driver provides (see ``registry.py`` for how to add one). Constructed as
    ``Driver(browser, base_url=..., site=..., username=..., storage_state=..., timeout_ms=...)``,
    one browser context per instance."""

    def perform(self, task: ActionTask, text: str | None) -> tuple[dict[str, Any], Verification | None]: ...

    def read_author(self, task: ActionTask) -> str | None:
        """The username of the targeted post's author (a reply: of the comment replied to), read
        from the platform. Called before ``perform`` when the store does not know it; a driver
        without it cannot act on posts whose author is unknown while user entries or an
        allowlist apply."""
        ...

    def verify(self, task: ActionTask, result: dict[str, Any], text: str | None) -> Verification: ...

    def screenshot(self, path: str) -> bool: ...

    def close(self) -> None: ...

    # sessions (``sessions.login_account``) and DM sync (``dm_sync.sync_account``)
    def login(self, password: str) -> dict: ...

    def list_threads(self) -> list[dict[str, str]]: ...

    def read_thread(self, thread_id: str) -> list[dict[str, str]]: ...
