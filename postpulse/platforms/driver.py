"""The engagement driver for official-API accounts (registered as ``official_<platform>``).

It has the ``Driver`` protocol of ``postpulse.engagement.drivers.base``, so the executor, the
policy engine, approvals, attempts and the audit trail work as for the browser drivers; it never
opens a page (the browser it is handed is ignored). Its "session" is the account's OAuth tokens
(``accounts.access_token_encrypted`` ...), loaded and refreshed by the connector; refreshed
tokens are stored at once.

Actions: ``publish`` (``text`` with ``params.media``: file paths), ``reply`` (``target_id``: the
comment), ``like`` (``target_id``: the post) where the platform's API allows it. A revoked grant
raises ``SessionExpired`` (the executor marks the account for reconnection), a 429 or 5xx a
retryable ``TransientError`` with the reset, a deleted target ``TargetNotFound``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from postpulse.engagement.drivers.base import (
    ActionTask,
    DriverError,
    SessionExpired,
    TargetNotFound,
    TransientError,
    Verification,
)

from . import errors as api_errors
from .accounts import open_connector


def _store():
    from postpulse.engagement.secrets import load_vault
    from postpulse.store import connect_store

    return connect_store().engine, load_vault(create=False)


def driver_error(exc: api_errors.ApiError) -> DriverError:
    if isinstance(exc, api_errors.TokenRevoked):
        return SessionExpired(str(exc))
    if isinstance(exc, api_errors.RateLimited):
        return TransientError(str(exc), code="rate_limited", status=429, retry_after=exc.retry_after)
    if isinstance(exc, api_errors.ServerError):
        return TransientError(str(exc), code="server_error", status=exc.status)
    if isinstance(exc, api_errors.NotFound):
        return TargetNotFound(str(exc))
    return DriverError(str(exc), code=exc.code)


class OfficialApiDriver:
    def __init__(
        self,
        browser: Any = None,  # noqa: ARG002 - an API driver needs no browser
        *,
        base_url: str = "",  # noqa: ARG002 - the API URL comes from POSTPULSE_<PLATFORM>_API_URL
        site: str,
        username: str,
        storage_state: dict | None = None,  # noqa: ARG002 - tokens live in their own columns
        timeout_ms: int = 15000,  # noqa: ARG002
        engine=None,
        vault=None,
        **_: Any,
    ) -> None:
        self.platform = site
        self.username = username
        if engine is None or vault is None:
            engine, vault = _store()
        self.engine, self.vault = engine, vault
        with engine.connect() as conn:
            self.account_id = conn.execute(
                text("SELECT id FROM accounts WHERE platform = :p AND lower(username) = lower(:u)"),
                {"p": site, "u": username},
            ).scalar()
        if self.account_id is None:
            raise SessionExpired(
                f"@{username} on {site} is not connected: run `postpulse accounts connect {site}`"
            )
        try:
            self.connector = open_connector(engine, vault, self.account_id)
        except api_errors.ApiError as exc:
            raise driver_error(exc) from None

    def close(self) -> None:
        self.connector.close()  # writes its calls to api_usage

    def screenshot(self, path: str) -> bool:  # noqa: ARG002 - no page to show
        return False

    def login(self, password: str) -> dict:  # noqa: ARG002
        raise DriverError(
            f"{self.platform} accounts connect through OAuth: `postpulse accounts connect {self.platform}`",
            code="unsupported_action",
        )

    def list_threads(self) -> list[dict[str, str]]:
        raise DriverError(
            f"direct messages are not part of the {self.platform} API driver", code="unsupported_action"
        )

    def read_thread(self, thread_id: str) -> list[dict[str, str]]:  # noqa: ARG002
        return self.list_threads()

    def perform(self, task: ActionTask, text: str | None) -> tuple[dict[str, Any], Verification | None]:
        if task.action_type not in self.connector.actions:
            raise DriverError(
                f"the {self.platform} API does not offer {task.action_type!r} to this driver "
                f"(it offers {', '.join(self.connector.actions)})",
                code="unsupported_action",
            )
        try:
            if task.action_type == "publish":
                media = [m["path"] if isinstance(m, dict) else m for m in task.params.get("media") or []]
                result = self.connector.publish(text or "", media=media, **(task.params.get("options") or {}))
            elif task.action_type == "reply":
                result = self.connector.reply(task.target_id, text or "", post_id=task.post_ref)
            elif task.action_type == "like":
                result = self.connector.like(task.target_id)
            else:
                result = self.connector.delete(task.target_id)
        except api_errors.ApiError as exc:
            raise driver_error(exc) from None
        if task.action_type == "publish":  # the publication row takes the post's id and URL
            result.setdefault("platform_post_id", result.get("id"))
        check = Verification("dom_state_check", bool(result.get("id")), 0.9, {"api_id": result.get("id")})
        return result, check

    def read_author(self, task: ActionTask) -> str | None:
        """Who wrote the targeted post or comment, asked of the API before acting when the store
        does not know (X: the post lookup); an API without such a lookup refuses clearly."""
        try:
            return self.connector.author_of(task.target_id)
        except api_errors.InvalidRequest as exc:
            raise DriverError(str(exc), code="author_unknown") from None
        except api_errors.ApiError as exc:
            raise driver_error(exc) from None

    def verify(self, task: ActionTask, result: dict[str, Any], text: str | None) -> Verification:  # noqa: ARG002
        # the API answered with the created object's id: that answer is the platform's own record
        ok = bool(result.get("id"))
        return Verification("reload_verify", ok, 0.95 if ok else 0.0, {"api_id": result.get("id")})
