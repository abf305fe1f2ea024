"""Helpers the official API emulations share: JSON bodies, page tokens, injected faults."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field

from starlette.requests import Request


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def offset_of(token: str | None) -> int | None:
    """The offset a page token stands for; ``None`` for a token this server did not issue."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(raw[2:]) if raw.startswith("o:") else None
    except (ValueError, UnicodeDecodeError):
        return None


async def json_body(request: Request) -> dict | None:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@dataclass
class Injected:
    """Faults a test arms on an emulation: ``arm("videos", status=503, times=2)``. The next
    ``times`` requests whose endpoint name starts with the key get that status."""

    armed: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, endpoint: str, *, status: int, times: int = 1) -> None:
        with self.lock:
            self.armed[endpoint] = [status, times]

    def take(self, endpoint: str) -> int | None:
        with self.lock:
            for key, slot in list(self.armed.items()):
                if endpoint.startswith(key) and slot[1] > 0:
                    slot[1] -= 1
                    if slot[1] == 0:
                        del self.armed[key]
                    return slot[0]
        return None

    def clear(self) -> None:
        with self.lock:
            self.armed.clear()
