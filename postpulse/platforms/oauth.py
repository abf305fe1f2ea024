"""OAuth 2.0 authorization code with PKCE (RFC 7636) for the official APIs.

``postpulse accounts connect PLATFORM`` builds the consent page URL with :func:`consent_url`,
opens it, and waits on a one-shot redirect server (:class:`RedirectReceiver`) on 127.0.0.1 that
takes exactly one ``GET /callback?code=...&state=...`` and stops. The code is exchanged for
tokens with the PKCE verifier (:func:`exchange_code`); :func:`refresh` swaps a refresh token
for a new access token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from .errors import ConnectFailed

CALLBACK_PATH = "/callback"


def pkce_pair() -> tuple[str, str]:
    """``(code_verifier, code_challenge)`` with the S256 method."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scope: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_response(cls, body: dict, *, now: datetime | None = None, previous: TokenSet | None = None):
        now = now or datetime.now(UTC)
        expires_in = body.get("expires_in")
        return cls(
            access_token=body["access_token"],
            # a refresh answer without a new refresh token keeps the old one (Google, Meta)
            refresh_token=body.get("refresh_token") or (previous.refresh_token if previous else None),
            expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
            scope=body.get("scope") or (previous.scope if previous else None),
        )

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return self.expires_at - (now or datetime.now(UTC)) <= timedelta(seconds=seconds)

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at!r}, scope={self.scope!r})"


def consent_url(
    authorize_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: list[str],
    state: str,
    challenge: str,
    scope_sep: str = " ",
    extra: dict | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope_sep.join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    return f"{authorize_url}?{urlencode(params)}"


class RedirectReceiver:
    """A one-shot HTTP server on 127.0.0.1 (a free port) receiving the consent redirect."""

    def __init__(self, expected_state: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.expected_state = expected_state
        self.result: dict[str, str] = {}
        self._done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                receiver.result = query
                ok = "code" in query and query.get("state") == receiver.expected_state
                body = (
                    "postpulse: the account is connected, you can close this tab."
                    if ok
                    else "postpulse: the connection did not complete; see the terminal."
                ).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver._done.set()

            def log_message(self, *args) -> None:  # the query holds the code: never log it
                pass

        self._server = HTTPServer((host, port), Handler)
        self.redirect_uri = f"http://{host}:{self._server.server_address[1]}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._done.is_set():
            self._server.handle_request()

    def __enter__(self) -> RedirectReceiver:
        self._server.timeout = 0.5
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=2)
        self._server.server_close()

    def wait_code(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            raise ConnectFailed(
                f"no answer from the consent page within {timeout:.0f} s",
                fix="open the printed URL in a browser and allow access, or raise --timeout",
            )
        if "error" in self.result:
            raise ConnectFailed(
                f"the platform refused the connection: {self.result.get('error')}"
                f" ({self.result.get('error_description', 'no description')})",
                fix="allow every requested permission on the consent page and connect again",
            )
        if self.result.get("state") != self.expected_state:
            raise ConnectFailed(
                "the consent redirect carried a wrong state (a stale or forged redirect)",
                fix="connect again from the same terminal",
            )
        code = self.result.get("code")
        if not code:
            raise ConnectFailed("the consent redirect carried no authorization code")
        return code
