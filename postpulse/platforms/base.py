"""The interface every official-API connector has, and what they share.

A connector is built for one connected account (``Connector.for_account``) or for the consent
flow (``Connector.for_app``). Its methods answer in platform-neutral shapes:

* ``me()`` -> ``{"id", "username", "display_name", "followers"}``;
* ``collect_posts(limit)`` -> post records (see :func:`post_record`) with the insight metrics the
  API gives the owner (reach, impressions, saves...) and their comments;
* ``comments(post_id)`` -> comment records; ``publish(text, media=[paths], **opts)``,
  ``reply(target_id, text)``, ``delete(post_id)``, ``like(post_id)`` -> ``{"id", "url"?}``.

Everything platform-specific (paths, fields, error bodies, rate-limit headers) stays in the
platform's module; the base URL comes from ``POSTPULSE_<PLATFORM>_API_URL`` (the real API host
by default), the consent page from ``POSTPULSE_<PLATFORM>_AUTH_URL`` (default: the API URL when
that is set, else the real consent host).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .errors import ApiError, InvalidRequest
from .http import ApiSession, ApiSettings, Window
from .oauth import TokenSet, consent_url


@dataclass(frozen=True)
class OAuthSpec:
    """The real consent page and token endpoint (absolute URLs); with ``POSTPULSE_<P>_API_URL``
    set, their paths are used on that base instead (``POSTPULSE_<P>_AUTH_URL`` for the page)."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    scope_sep: str = " "
    token_auth: str = "body"
    extra: dict = field(default_factory=dict)

    @property
    def authorize_path(self) -> str:
        return urlsplit(self.authorize_url).path

    @property
    def token_path(self) -> str:
        return urlsplit(self.token_url).path


def env_url(platform: str, which: str, default: str) -> str:
    return (os.environ.get(f"POSTPULSE_{platform.upper()}_{which}_URL") or default).rstrip("/")


class Connector:
    platform: ClassVar[str]
    default_api_url: ClassVar[str]
    oauth: ClassVar[OAuthSpec]
    api_prefix: ClassVar[str] = ""  # e.g. /youtube/v3, /2, /v21.0
    actions: ClassVar[tuple[str, ...]] = ("publish", "reply", "delete_post")
    secret_required: ClassVar[bool] = True

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        *,
        tokens: TokenSet | None = None,
        on_tokens: Callable[[TokenSet], None] | None = None,
        api_key: str | None = None,
        sleep: Callable[[float], None] | None = None,
        meta: dict | None = None,
    ) -> None:
        self.api_url = env_url(self.platform, "API", self.default_api_url)
        if os.environ.get(f"POSTPULSE_{self.platform.upper()}_API_URL"):
            auth_base = env_url(self.platform, "AUTH", self.api_url)
            self.authorize_url = auth_base + self.oauth.authorize_path
            token_url = self.api_url + self.oauth.token_path
        else:
            self.authorize_url, token_url = self.oauth.authorize_url, self.oauth.token_url
        self.meta = dict(meta or {})
        self.record: Callable[[list], None] | None = None  # set by open_connector
        settings = ApiSettings(
            provider=self.platform,
            api_url=self.api_url + self.api_prefix,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            token_auth=self.oauth.token_auth,
            extra_headers=self.extra_headers(),
        )
        self.tune(settings)
        kwargs = {"sleep": sleep} if sleep else {}
        self.session = ApiSession(
            settings,
            refresher=self.refresher(),
            tokens=tokens,
            api_key=api_key,
            on_tokens=on_tokens,
            classify=self.classify,
            read_limits=self.read_limits,
            **kwargs,
        )

    # ------------------------------------------------------------------ consent
    def consent_url(self, redirect_uri: str, state: str, challenge: str) -> str:
        return consent_url(
            self.authorize_url,
            client_id=self.session.settings.client_id,
            redirect_uri=redirect_uri,
            scopes=list(self.oauth.scopes),
            state=state,
            challenge=challenge,
            scope_sep=self.oauth.scope_sep,
            extra=self.oauth.extra,
        )

    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        body = self.session.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
            },
            endpoint="oauth.token",
        )
        self.session.tokens = TokenSet.from_response(body)
        return self.session.tokens

    # ------------------------------------------------------------------ platform specifics
    def extra_headers(self) -> dict[str, str]:
        return {}

    def tune(self, settings: ApiSettings) -> None:
        """Adjust the session's settings (reserve, refresh margin) for the platform."""

    def refresher(self):
        """A function ``(session) -> token answer`` for platforms without refresh tokens."""
        return None

    def classify(self, resp: httpx.Response) -> ApiError:
        raise NotImplementedError

    def read_limits(self, resp: httpx.Response) -> Window | None:
        return None

    def call(self, method: str, path: str, **kw) -> Any:
        return self.session.request(method, path, **kw)

    @property
    def calls(self):
        return self.session.calls

    def close(self) -> None:
        """Close the HTTP session; calls not yet written go to ``record`` (``api_usage``)."""
        if self.record is not None and self.calls:
            self.record(list(self.calls))
            self.calls.clear()
        self.session.close()

    # ------------------------------------------------------------------ the interface
    def me(self) -> dict:
        raise NotImplementedError

    def collect_posts(self, limit: int = 50) -> list[dict]:
        raise NotImplementedError

    def comments(self, post_id: str) -> list[dict]:
        raise NotImplementedError

    def publish(self, text: str, media: list[str] | None = None, **opts) -> dict:
        raise NotImplementedError

    def reply(self, target_id: str, text: str, *, post_id: str | None = None) -> dict:
        """Answer the comment ``target_id`` (on the post ``post_id``, where the API needs it)."""
        raise NotImplementedError

    def delete(self, post_id: str) -> dict:
        raise NotImplementedError

    def like(self, post_id: str) -> dict:
        raise InvalidRequest(f"the {self.platform} API offers no like for this account type")

    def author_of(self, target_id: str) -> str | None:
        """The username of the author of a post or comment (None: not found), for the policy's
        user entries and allowlist when the store does not know it."""
        raise InvalidRequest(f"the {self.platform} API driver cannot look up who wrote {target_id}")


METRICS = ("likes", "comments", "shares", "views", "saves", "impressions", "reach", "clicks", "quotes")


def post_record(
    platform: str,
    *,
    post_id: str,
    url: str | None,
    text: str | None,
    posted_at: str | None,
    author: dict,
    metrics: dict[str, Any],
    post_type: str | None = None,
    media: list[dict] | None = None,
    comments: list[dict] | None = None,
    insights: dict | None = None,
) -> dict:
    """One post in the built-in ``official_<platform>`` format (postpulse/ingest/mappings)."""
    return {
        f"{platform}_api_id": post_id,
        "url": url,
        "text": text,
        "posted_at": posted_at,
        "post_type": post_type,
        "author": author,
        "metrics": {k: metrics.get(k) for k in METRICS if metrics.get(k) is not None},
        "insights": insights or {},
        "media": media or [],
        "comments": comments or [],
    }


def comment_record(
    *,
    comment_id: str,
    text: str | None,
    posted_at: str | None,
    author: dict,
    likes: int | None = None,
    parent_id: str | None = None,
    replies: list[dict] | None = None,
) -> dict:
    return {
        "id": comment_id,
        "parent_id": parent_id,
        "text": text,
        "posted_at": posted_at,
        "likes": likes,
        "author": author,
        "replies": replies or [],
    }
