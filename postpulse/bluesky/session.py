"""Bluesky sessions: log in with an app password once, keep the session encrypted, refresh it.

The app password is used for one ``createSession`` and forgotten. What is kept is the SDK's
session string (access and refresh tokens, DID, handle, PDS), encrypted with the vault in
``accounts.session_encrypted`` like a browser session (``postpulse.engagement.sessions``), with
the service URL beside it inside the envelope. Refreshed tokens replace it as soon as the SDK
refreshes them (``on_session_change``); a refresh the PDS refuses (expired or revoked session)
flags the account ``needs_relogin`` through the executor's usual path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from .errors import BlueskyError, HandleNotFound, SessionGone, WrongPassword, describe

DEFAULT_SERVICE = "https://bsky.social"
SESSION_KIND = "atproto"
LOGIN_SETTLE_S = 15.0  # a new account's profile appears in the AppView a moment after creation

SaveSession = Callable[[dict], None]


def _profile_not_ready(exc: BaseException) -> bool:
    from atproto_client.exceptions import BadRequestError

    if not isinstance(exc, BadRequestError):
        return False
    content = getattr(exc.response, "content", None)
    return "profile not found" in str(getattr(content, "message", "") or "").lower()


def new_client(service: str, *, timeout: float = 15.0):
    from atproto import Client
    from atproto_client.request import Request

    return Client(base_url=service.rstrip("/") + "/xrpc", request=Request(timeout=timeout))


def resolve_handle(service: str, handle: str) -> str:
    """The DID of ``handle`` as the service resolves it; :class:`HandleNotFound` when it doesn't."""
    from atproto_client.exceptions import BadRequestError

    client = new_client(service)
    try:
        return client.resolve_handle(handle).did
    except BadRequestError:
        raise HandleNotFound(
            f"the handle @{handle} does not resolve on {service}",
            fix="check the spelling (full handle, e.g. name.bsky.social) and --service",
        ) from None
    except Exception as exc:
        raise describe(exc, f"resolving @{handle}", service) from None


def login(service: str, handle: str, password: str):
    """A logged-in SDK client. Raises :class:`HandleNotFound`, :class:`WrongPassword`, or
    another :class:`BlueskyError`; never echoes the password."""
    from atproto_client.exceptions import UnauthorizedError

    resolve_handle(service, handle)
    client = new_client(service)
    try:
        for attempt in Retrying(
            retry=retry_if_exception(_profile_not_ready),
            stop=stop_after_delay(LOGIN_SETTLE_S),
            wait=wait_fixed(0.3),
            reraise=True,
        ):
            with attempt:
                client.login(handle, password)
    except UnauthorizedError:
        raise WrongPassword(
            f"{service} refused the app password for @{handle}",
            fix="create an app password in Bluesky's settings (Privacy and security > App passwords) "
            "and enter it again",
        ) from None
    except BlueskyError:
        raise
    except Exception as exc:
        raise describe(exc, f"logging in @{handle}", service) from None
    return client


def session_state(client, service: str) -> dict[str, Any]:
    """What is stored (encrypted) for an account: the service and the SDK's session string."""
    return {
        "kind": SESSION_KIND,
        "service": service.rstrip("/"),
        "did": client.me.did if client.me else None,
        "handle": client.me.handle if client.me else None,
        "session": client.export_session_string(),
    }


def resume(state: dict, *, on_change: SaveSession | None = None):
    """An SDK client from a stored session; ``on_change(new_state)`` gets refreshed tokens."""
    from atproto import SessionEvent

    if not state or state.get("kind") != SESSION_KIND or not state.get("session"):
        raise SessionGone("the account has no Bluesky session stored")
    service = state["service"]
    client = new_client(service)
    if on_change is not None:  # before the login: its profile read may already refresh the tokens

        def changed(event, session) -> None:  # noqa: ARG001
            if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
                on_change({**state, "session": client.export_session_string()})

        client.on_session_change(changed)
    try:
        client.login(session_string=state["session"])  # also reads our profile: the SDK writes as `me`
    except Exception as exc:
        raise describe(exc, "resuming the stored session", service) from None
    return client
