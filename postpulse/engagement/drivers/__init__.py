"""Platform drivers. Only the sandbox driver exists: no real network is reachable here, and
real-platform drivers would follow the same ``Driver`` protocol with their own selector module."""

from .base import (ActionBlocked, ActionTask, Driver, DriverError, ExecResult, MarkupChanged, NoSession,
                   NotPersisted, SessionExpired, TargetNotFound, TransientError, Verification)

__all__ = ["ActionBlocked", "ActionTask", "Driver", "DriverError", "ExecResult", "MarkupChanged", "NoSession",
           "NotPersisted", "SessionExpired", "TargetNotFound", "TransientError", "Verification"]
