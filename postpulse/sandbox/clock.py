"""The sandbox clock: sandbox time that tests can set and the demo can run faster than real time.

``now() = anchor + (monotonic elapsed since anchoring) * time_scale``. ``set()`` and ``advance()``
re-anchor; the clock never depends on the wall clock after it was created, so a test that sets it
gets exactly the time it set (plus the few microseconds its own code takes, times ``time_scale``).
Use ``freeze()`` for a clock that does not move by itself at all.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from postpulse.timeutil import as_utc


class SandboxClock:
    """Sandbox time (always timezone-aware UTC)."""

    def __init__(self, start: datetime | None = None, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be >= 0 (0 freezes the clock), got {time_scale}")
        self._lock = threading.Lock()
        self._anchor = as_utc(start or datetime.now(UTC))
        self._anchor_mono = time.monotonic()
        self.time_scale = float(time_scale)

    def now(self) -> datetime:
        with self._lock:
            elapsed = time.monotonic() - self._anchor_mono
            return self._anchor + timedelta(seconds=elapsed * self.time_scale)

    def set(self, dt: datetime) -> datetime:
        with self._lock:
            self._anchor = as_utc(dt)
            self._anchor_mono = time.monotonic()
            return self._anchor

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        return self.set(self.now() + delta)

    def freeze(self) -> None:
        """Stop the clock from moving by itself (``set``/``advance`` still work)."""
        now = self.now()
        with self._lock:
            self.time_scale = 0.0
        self.set(now)

    def __repr__(self) -> str:
        return f"SandboxClock(now={self.now().isoformat()}, time_scale={self.time_scale})"
