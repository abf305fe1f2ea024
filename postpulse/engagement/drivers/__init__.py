"""Platform drivers. Only the sandbox driver exists (no real network is reachable here); the
registry (``registry.py``) says which driver acts for an account and how to add one for a new
platform: its own selector module, a class with the ``Driver`` protocol, one registry line."""

from .base import (
    ActionBlocked,
    ActionTask,
    Driver,
    DriverError,
    ExecResult,
    MarkupChanged,
    NoSession,
    NotPersisted,
    SessionExpired,
    TargetNotFound,
    TransientError,
    Verification,
)
from .registry import DRIVERS, PLATFORM_DRIVERS, DriverSpec, open_driver, register_driver, resolve

__all__ = [
    "ActionBlocked",
    "ActionTask",
    "Driver",
    "DriverError",
    "ExecResult",
    "MarkupChanged",
    "NoSession",
    "NotPersisted",
    "SessionExpired",
    "TargetNotFound",
    "TransientError",
    "Verification",
    "DRIVERS",
    "PLATFORM_DRIVERS",
    "DriverSpec",
    "open_driver",
    "register_driver",
    "resolve",
]
