"""Where alerts go, configured in one place: ``$POSTPULSE_HOME/alerts.toml`` (or the file named
by ``POSTPULSE_ALERTS_CONFIG``)::

    dagster_url = "http://127.0.0.1:3000"   # links in alerts (default: POSTPULSE_DAGSTER_URL)
    checkbacks_overdue_hours = 6             # alert when check-backs are this late
    digest_hour = 7                          # the daily digest goes out after this hour (UTC)

    [[webhook]]
    url = "https://hooks.slack.com/services/..."   # or url_env = "MY_WEBHOOK_URL"
    format = "slack"                               # "slack" ({"text": ...}) or "json"

    [email]
    host = "smtp.example.com"
    port = 587                      # STARTTLS on; starttls = false only for a local relay
    sender = "postpulse@example.com"
    to = ["me@example.com"]
    username = "me"
    password_env = "POSTPULSE_SMTP_PASSWORD"   # or password_encrypted = "pp1:..." (the vault)
    ca_file = "/path/to/ca.pem"                # optional: trust this CA (a private relay)

Secrets stay out of the file: the password comes from the environment, or is encrypted with
the vault (``postpulse alerts encrypt-secret``); webhook URLs (which carry tokens) may come from
the environment too, and are never logged.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postpulse import config as pp_config
from postpulse.errors import PostpulseError

SMTP_PASSWORD_AAD = b"alerts:email:password"


class AlertConfigError(PostpulseError):
    pass


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    format: str = "json"  # json | slack
    name: str = "webhook"


@dataclass(frozen=True)
class EmailConfig:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 20.0


@dataclass(frozen=True)
class AlertConfig:
    dagster_url: str = "http://127.0.0.1:3000"
    checkbacks_overdue_hours: float = 6.0
    digest_hour: int = 7
    webhooks: tuple[WebhookConfig, ...] = ()
    email: EmailConfig | None = None
    source: str = "(defaults)"

    @property
    def has_channels(self) -> bool:
        return bool(self.webhooks or self.email)


def default_dagster_url() -> str:
    """Where links point when alerts.toml does not say: ``POSTPULSE_DAGSTER_URL`` (shared with the
    console), else the UI ``postpulse up`` starts."""
    return os.environ.get("POSTPULSE_DAGSTER_URL", "").strip() or "http://127.0.0.1:3000"


def config_path() -> Path:
    env = os.environ.get("POSTPULSE_ALERTS_CONFIG", "").strip()
    return Path(env).expanduser() if env else pp_config.data_dir() / "alerts.toml"


def load_config(path: Path | None = None, *, vault: Any = None) -> AlertConfig:
    """The alert configuration; defaults (no channels) when the file does not exist."""
    path = path or config_path()
    if not path.is_file():
        return AlertConfig(dagster_url=default_dagster_url().rstrip("/"))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AlertConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse(raw, source=str(path), vault=vault)


def parse(raw: dict[str, Any], *, source: str = "alerts.toml", vault: Any = None) -> AlertConfig:
    def err(key: str, problem: str) -> AlertConfigError:
        return AlertConfigError(f"{source}: {key!r} {problem}")

    known = {"dagster_url", "checkbacks_overdue_hours", "digest_hour", "webhook", "email"}
    for k in raw:
        if k not in known:
            raise err(k, f"is not known; expected {', '.join(sorted(known))}")
    hours = raw.get("checkbacks_overdue_hours", 6)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
        raise err("checkbacks_overdue_hours", f"must be a positive number of hours, got {hours!r}")
    digest_hour = raw.get("digest_hour", 7)
    if isinstance(digest_hour, bool) or not isinstance(digest_hour, int) or not 0 <= digest_hour <= 23:
        raise err("digest_hour", f"must be an hour 0..23, got {digest_hour!r}")
    hooks = raw.get("webhook", [])
    if isinstance(hooks, dict):
        hooks = [hooks]
    webhooks = []
    for i, h in enumerate(hooks):
        key = f"webhook[{i}]"
        if not isinstance(h, dict):
            raise err(key, "must be a table")
        for k in h:
            if k not in ("url", "url_env", "format"):
                raise err(f"{key}.{k}", "is not known; expected url or url_env, and format")
        url = h.get("url") or (os.environ.get(h["url_env"], "") if h.get("url_env") else "")
        if not url:
            what = f"environment variable {h['url_env']} is empty" if h.get("url_env") else "url is missing"
            raise err(key, f"has no URL ({what})")
        if not str(url).startswith(("http://", "https://")):
            raise err(f"{key}.url", "must start with http:// or https://")
        fmt = h.get("format", "json")
        if fmt not in ("json", "slack"):
            raise err(f"{key}.format", f"must be 'json' or 'slack', got {fmt!r}")
        webhooks.append(WebhookConfig(str(url), fmt, name=f"webhook:{i}"))
    email = None
    if "email" in raw:
        email = _email(raw["email"], err, vault)
    return AlertConfig(
        dagster_url=str(raw.get("dagster_url") or default_dagster_url()).rstrip("/"),
        checkbacks_overdue_hours=float(hours),
        digest_hour=digest_hour,
        webhooks=tuple(webhooks),
        email=email,
        source=source,
    )


def _email(e: Any, err, vault: Any) -> EmailConfig:
    if not isinstance(e, dict):
        raise err("email", "must be a table")
    allowed = {
        "host", "port", "sender", "to", "starttls", "username", "password_env", "password_encrypted",
        "ca_file", "timeout",
    }  # fmt: skip
    for k in e:
        if k == "password":
            raise err(
                "email.password", "must not be written in the file: use password_env or password_encrypted"
            )
        if k not in allowed:
            raise err(f"email.{k}", f"is not known; expected {', '.join(sorted(allowed))}")
    for k in ("host", "sender", "to"):
        if not e.get(k):
            raise err(f"email.{k}", "is required")
    to = e["to"] if isinstance(e["to"], list) else [e["to"]]
    password = None
    if e.get("password_env"):
        password = os.environ.get(e["password_env"])
        if not password:
            raise err("email.password_env", f"names {e['password_env']}, which is not set")
    elif e.get("password_encrypted"):
        from postpulse.crypto import VaultError, envelope_from_text

        if vault is None:
            from postpulse.engagement.secrets import load_vault

            vault = load_vault(create=False)
        try:
            password = vault.decrypt_text(envelope_from_text(e["password_encrypted"]), SMTP_PASSWORD_AAD)
        except (VaultError, ValueError) as exc:
            raise err("email.password_encrypted", f"cannot be decrypted ({type(exc).__name__})") from None
    if e.get("username") and not password:
        raise err("email.username", "is set but no password: set password_env or password_encrypted")
    return EmailConfig(
        host=str(e["host"]),
        port=int(e.get("port", 587)),
        sender=str(e["sender"]),
        to=tuple(str(t) for t in to),
        starttls=bool(e.get("starttls", True)),
        username=e.get("username"),
        password=password,
        ca_file=e.get("ca_file"),
        timeout=float(e.get("timeout", 20)),
    )
