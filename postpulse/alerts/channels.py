"""The channels alerts go through: webhooks (generic JSON or Slack-compatible) and SMTP e-mail
(STARTTLS). ``send`` raises ``ChannelError`` with a message that names the channel, never its
secrets (webhook URLs carry tokens; passwords never appear)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from .config import AlertConfig, EmailConfig, WebhookConfig
from .model import Alert


class ChannelError(Exception):
    pass


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


def _safe_host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class WebhookChannel:
    def __init__(self, cfg: WebhookConfig, *, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.timeout = timeout

    def payload(self, alert: Alert) -> dict:
        if self.cfg.format == "slack":
            icon = {"error": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
            text = f"{icon[alert.severity]} *{alert.title}*"
            if alert.body:
                text += "\n" + alert.body
            if alert.link:
                text += f"\n<{alert.link}|open>"
            return {"text": text}
        return {"source": "postpulse", **alert.to_json()}

    def send(self, alert: Alert) -> None:
        try:
            resp = httpx.post(self.cfg.url, json=self.payload(alert), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{self.name} ({_safe_host(self.cfg.url)}): {type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise ChannelError(f"{self.name} ({_safe_host(self.cfg.url)}): HTTP {resp.status_code}")


class EmailChannel:
    name = "email"

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[postpulse] {alert.title}"
        msg["From"] = self.cfg.sender
        msg["To"] = ", ".join(self.cfg.to)
        msg["X-Postpulse-Alert"] = alert.dedup_key
        msg.set_content(alert.text())
        return msg

    def send(self, alert: Alert) -> None:
        c = self.cfg
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=c.ca_file))
                if c.username:
                    smtp.login(c.username, c.password or "")
                smtp.send_message(self.message(alert))
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(f"email via {c.host}:{c.port}: login refused ({exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise ChannelError(
                f"email via {c.host}:{c.port}: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None


def channels_for(config: AlertConfig) -> list[Channel]:
    out: list[Channel] = [WebhookChannel(w) for w in config.webhooks]
    if config.email is not None:
        out.append(EmailChannel(config.email))
    return out
