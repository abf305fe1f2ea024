"""An OAuth 2.0 authorization server with PKCE for the sandbox's official API emulations.

It follows RFC 6749 (authorization code grant, refresh tokens) and RFC 7636 (PKCE, ``S256``)
as the platforms implement them; each platform module supplies its own error body shape.
References: https://datatracker.ietf.org/doc/html/rfc6749#section-4.1 and
https://datatracker.ietf.org/doc/html/rfc7636#section-4.6

* ``GET  <authorize>``: validates the request, shows a consent page (Allow / Cancel);
  ``POST`` of that page redirects to ``redirect_uri`` with ``code`` and ``state`` (or
  ``error=access_denied``). Only loopback redirect URIs (``http://127.0.0.1:PORT/...``) are
  registered for the sandbox apps.
* ``POST <token>``: ``authorization_code`` (checks the code, the redirect URI and the PKCE
  verifier) and ``refresh_token``; client authentication in the form or HTTP basic.
* Test hooks: :meth:`expire_all` (every access token is past its expiry), :meth:`revoke`
  (the user removed the app: tokens and refresh tokens stop working), :meth:`drop_scope`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response


@dataclass
class Grant:
    user_id: str
    client_id: str
    scopes: set[str]
    access_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    revoked: bool = False


@dataclass
class PendingCode:
    user_id: str
    client_id: str
    redirect_uri: str
    challenge: str
    scopes: set[str]
    used: bool = False


@dataclass
class OAuthProvider:
    """One platform's authorization server. ``error`` builds the platform's error response
    ``(status, error_code, description) -> Response`` for the token endpoint."""

    platform: str
    client_id: str
    client_secret: str
    users: dict[str, str]  # user id -> display name on the consent page
    known_scopes: set[str]
    error: Callable[[int, str, str], Response]
    ttl_s: int = 3600
    scope_sep: str = " "
    rotate_refresh: bool = False  # X hands out a new refresh token with each refresh
    issue_refresh: bool = True  # Meta issues none (long-lived tokens are exchanged instead)
    grants: dict[str, Grant] = field(default_factory=dict)  # access token -> grant
    refresh: dict[str, Grant] = field(default_factory=dict)  # refresh token -> grant
    codes: dict[str, PendingCode] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ consent
    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        if request.method == "POST":
            q.update(dict(await request.form()))
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id:
            return self._page("Error 401: invalid_client", "The OAuth client was not found.", 401)
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            return self._page(
                "Error 400: redirect_uri_mismatch",
                "The redirect URI is not registered for this app (loopback only).",
                400,
            )
        problems = []
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            problems.append("code_challenge with code_challenge_method=S256 is required")
        scopes = {s for s in q.get("scope", "").replace(",", " ").split(" ") if s}
        unknown = scopes - self.known_scopes
        if not scopes or unknown:
            problems.append(f"invalid scope: {' '.join(sorted(unknown)) or '(none)'}")
        if problems:
            return self._back(
                redirect_uri,
                {
                    "error": "invalid_request",
                    "error_description": "; ".join(problems),
                    "state": q.get("state", ""),
                },
            )
        if request.method == "GET":
            return self._consent(q, scopes)
        if q.get("decision") != "allow":
            return self._back(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The user denied the request",
                    "state": q.get("state", ""),
                },
            )
        user_id = q.get("user_id") or next(iter(self.users))
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = PendingCode(user_id, self.client_id, redirect_uri, q["code_challenge"], scopes)
        return self._back(redirect_uri, {"code": code, "state": q.get("state", "")})

    def _back(self, redirect_uri: str, params: dict) -> Response:
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode(params)}", status_code=302)

    def _page(self, title: str, message: str, status: int) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(message)}</p>",
            status_code=status,
        )

    def _consent(self, q: dict, scopes: set[str]) -> HTMLResponse:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in q.items()
            if k not in ("decision", "user_id")
        )
        users = "".join(
            f'<option value="{html.escape(uid)}">{html.escape(name)}</option>'
            for uid, name in self.users.items()
        )
        items = "".join(f"<li>{html.escape(s)}</li>" for s in sorted(scopes))
        body = (
            f"<!doctype html><title>Sign in - {self.platform} (sandbox)</title>"
            f"<h1>postpulse wants to access your {self.platform} account</h1>"
            f'<form method="post"><label>Account <select name="user_id">{users}</select></label>'
            f"<p>This will allow the app to:</p><ul>{items}</ul>{hidden}"
            '<button type="submit" name="decision" value="allow" id="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny" id="deny">Cancel</button></form>'
        )
        return HTMLResponse(body)

    # ------------------------------------------------------------------ tokens
    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return self.error(401, "invalid_client", "Malformed basic authorization")
        if cid != self.client_id or secret != self.client_secret:
            return self.error(401, "invalid_client", "The OAuth client was not found or the secret is wrong.")
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                pending = self.codes.get(form.get("code", ""))
                if pending is None or pending.used:
                    return self.error(400, "invalid_grant", "Malformed auth code.")
                if pending.redirect_uri != form.get("redirect_uri"):
                    return self.error(
                        400, "invalid_grant", "redirect_uri does not match the authorization request."
                    )
                verifier = form.get("code_verifier", "")
                digest = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                )
                if digest != pending.challenge:
                    return self.error(
                        400, "invalid_grant", "code_verifier does not match the code_challenge."
                    )
                pending.used = True
                grant = Grant(pending.user_id, cid, set(pending.scopes))
                grant.refresh_token = "rt-" + secrets.token_urlsafe(24)
                self.refresh[grant.refresh_token] = grant
                body = self.issue(grant, with_refresh=self.issue_refresh)
            elif grant_type == "refresh_token":
                grant = self.refresh.get(form.get("refresh_token", ""))
                if grant is None or grant.revoked:
                    return self.error(400, "invalid_grant", "Token has been expired or revoked.")
                if self.rotate_refresh:
                    del self.refresh[grant.refresh_token]
                    grant.refresh_token = "rt-" + secrets.token_urlsafe(24)
                    self.refresh[grant.refresh_token] = grant
                body = self.issue(grant, with_refresh=self.rotate_refresh)
            else:
                return self.error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def issue(self, grant: Grant, *, with_refresh: bool) -> dict:
        self.grants.pop(grant.access_token, None)
        grant.access_token = "at-" + secrets.token_urlsafe(24)
        grant.expires_at = time.time() + self.ttl_s
        self.grants[grant.access_token] = grant
        body = {
            "access_token": grant.access_token,
            "token_type": "bearer" if self.platform == "x" else "Bearer",
            "expires_in": self.ttl_s,
            "scope": self.scope_sep.join(sorted(grant.scopes)),
        }
        if with_refresh:
            body["refresh_token"] = grant.refresh_token
        return body

    def check(self, request: Request) -> tuple[Grant | None, str | None]:
        """``(grant, None)`` for a valid bearer token, else ``(None, "missing"|"invalid"|"expired")``."""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None, "missing"
        grant = self.grants.get(auth[7:].strip())
        if grant is None or grant.revoked:
            return None, "invalid"
        if grant.expires_at <= time.time():
            return None, "expired"
        return grant, None

    # ------------------------------------------------------------------ test hooks
    def expire_all(self) -> None:
        with self.lock:
            for g in self.grants.values():
                g.expires_at = 0.0

    def revoke(self, user_id: str | None = None) -> None:
        with self.lock:
            for g in list(self.grants.values()) + list(self.refresh.values()):
                if user_id is None or g.user_id == user_id:
                    g.revoked = True

    def drop_scope(self, scope: str) -> None:
        with self.lock:
            for g in self.grants.values():
                g.scopes.discard(scope)
