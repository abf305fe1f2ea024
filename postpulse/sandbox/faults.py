"""Switchable faults of one sandbox server.

``faults.set(kind, **params)`` turns a fault on (replacing earlier params of that kind),
``faults.clear(kind)`` turns it off, ``faults.clear()`` turns all off. Over HTTP:
``POST /_admin/faults`` with ``{"kind": ..., "params": {...}}`` (or the params inline),
``DELETE /_admin/faults`` (all) or ``DELETE /_admin/faults/{kind}``, ``GET /_admin/faults``.

Faults never touch ``/_admin/``, ``/static/``, ``/media/`` or ``/favicon.ico``, so switching them
and loading page assets does not use them up.

=================  ==========================================================================
kind               params (all optional)
=================  ==========================================================================
rate_limit         ``retry_after`` (seconds, default 30), ``count`` (next N matching requests,
                   default: until cleared), ``path_prefix`` (e.g. ``"/v2/"``) -> 429 with a
                   ``Retry-After`` header (JSON body on API paths, an HTML page elsewhere)
server_error       ``count`` (default 3), ``status`` (500/502/503/504, default 500),
                   ``path_prefix`` -> a burst of 5xx
slow               ``delay`` (seconds, default 2.0, at most 60), ``count``, ``path_prefix``
changed_markup     none: pages render with different element names, test ids, labels and
                   button texts, so selectors written for the normal markup break
expired_sessions   none: every session that exists when it is switched on is invalid (the
                   site redirects to the login page); logging in again works
action_blocked     ``actions`` (list such as ``["like", "follow"]``, default all), ``count``:
                   site actions show an "Action blocked" notice and do not take effect
actor_failed       ``count``: Apify-style actor runs end with status ``FAILED``
=================  ==========================================================================
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

EXEMPT_PREFIXES = ("/_admin", "/static/", "/media/", "/favicon.ico")

ACTIONS = ("like", "unlike", "comment", "reply", "delete_comment", "follow", "unfollow", "dm", "publish")

_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "rate_limit": {"retry_after": (int, float), "count": int, "path_prefix": str},
    "server_error": {"count": int, "status": int, "path_prefix": str},
    "slow": {"delay": (int, float), "count": int, "path_prefix": str},
    "changed_markup": {},
    "expired_sessions": {},
    "action_blocked": {"actions": list, "count": int},
    "actor_failed": {"count": int},
}
KINDS: tuple[str, ...] = tuple(_PARAMS)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "rate_limit": {"retry_after": 30, "count": None, "path_prefix": None},
    "server_error": {"count": 3, "status": 500, "path_prefix": None},
    "slow": {"delay": 2.0, "count": None, "path_prefix": None},
    "changed_markup": {},
    "expired_sessions": {},
    "action_blocked": {"actions": None, "count": None},
    "actor_failed": {"count": None},
}


class FaultError(ValueError):
    """A fault request that does not make sense (unknown kind or parameter, bad value)."""


class Faults:
    """The faults switched on for one server (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(1)
        #: serial number of the last ``expired_sessions`` switch-on (sessions created before it
        #: are invalid while the fault is on)
        self.expired_before: int = 0

    def next_serial(self) -> int:
        return next(self._serial)

    def set(self, kind: str, **params: Any) -> dict[str, Any]:
        """Switch ``kind`` on with ``params``; returns the effective params."""
        if kind not in _PARAMS:
            raise FaultError(f"unknown fault {kind!r}; known faults: {', '.join(KINDS)}")
        allowed = _PARAMS[kind]
        for name, value in params.items():
            if name not in allowed:
                raise FaultError(
                    f"fault {kind!r} has no parameter {name!r}; it takes "
                    f"{', '.join(allowed) or 'no parameters'}"
                )
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, allowed[name]):
                raise FaultError(
                    f"fault {kind!r}: parameter {name!r} has the wrong type ({type(value).__name__})"
                )
        eff = dict(_DEFAULTS[kind])
        eff.update(params)
        if eff.get("count") is not None and eff["count"] < 1:
            raise FaultError(f"fault {kind!r}: count must be at least 1")
        if kind == "rate_limit" and not 0 <= float(eff["retry_after"]) <= 86400:
            raise FaultError("fault 'rate_limit': retry_after must be between 0 and 86400 seconds")
        if kind == "server_error" and eff["status"] not in (500, 502, 503, 504):
            raise FaultError("fault 'server_error': status must be 500, 502, 503 or 504")
        if kind == "slow" and not 0 <= float(eff["delay"]) <= 60:
            raise FaultError("fault 'slow': delay must be between 0 and 60 seconds")
        if kind == "action_blocked" and eff["actions"] is not None:
            bad = [a for a in eff["actions"] if a not in ACTIONS]
            if bad:
                raise FaultError(f"fault 'action_blocked': unknown actions {bad}; use {', '.join(ACTIONS)}")
        if eff.get("path_prefix") is not None and not str(eff["path_prefix"]).startswith("/"):
            raise FaultError(f"fault {kind!r}: path_prefix must start with '/'")
        with self._lock:
            self._active[kind] = eff
            if kind == "expired_sessions":
                self.expired_before = next(self._serial)
        return dict(eff)

    def clear(self, kind: str | None = None) -> None:
        """Switch ``kind`` off (all faults when ``kind`` is None)."""
        if kind is not None and kind not in _PARAMS:
            raise FaultError(f"unknown fault {kind!r}; known faults: {', '.join(KINDS)}")
        with self._lock:
            if kind is None:
                self._active.clear()
            else:
                self._active.pop(kind, None)

    def active(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._active.items()}

    def is_on(self, kind: str) -> bool:
        with self._lock:
            return kind in self._active

    def get(self, kind: str) -> dict[str, Any] | None:
        with self._lock:
            v = self._active.get(kind)
            return dict(v) if v is not None else None

    def take(self, kind: str, path: str = "/", action: str | None = None) -> dict[str, Any] | None:
        """If ``kind`` applies to this request, use up one of its ``count`` and return its params."""
        if path.startswith(EXEMPT_PREFIXES):
            return None
        with self._lock:
            eff = self._active.get(kind)
            if eff is None:
                return None
            prefix = eff.get("path_prefix")
            if prefix and not path.startswith(prefix):
                return None
            if action is not None and eff.get("actions") and action not in eff["actions"]:
                return None
            if eff.get("count") is not None:
                eff["count"] -= 1
                if eff["count"] <= 0:
                    self._active.pop(kind, None)
            return dict(eff)

    def __repr__(self) -> str:
        return f"Faults({self.active()})"
