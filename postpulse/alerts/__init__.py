"""Alerts: what needs the user's attention, raised once per key, recorded in ``alerts`` and sent
through the configured channels (webhook: generic JSON or Slack-compatible; SMTP e-mail with
STARTTLS). Plain Python: the Dagster sensors (``orchestration/operations.py``) only pass in what
they read from the Dagster instance.

    alerts = collect(conn, now, config)          # every registered AlertSource
    record(conn, alerts)                          # new keys only
    deliver_pending(engine, channels_for(config)) # each channel once per alert
"""

from .config import AlertConfig, AlertConfigError, load_config
from .dispatch import deliver_pending, record
from .model import KINDS, Alert
from .sources import SOURCES, AlertSource, check_failed_alert, collect, register_source, run_failed_alert

__all__ = [
    "KINDS",
    "SOURCES",
    "Alert",
    "AlertConfig",
    "AlertConfigError",
    "AlertSource",
    "check_failed_alert",
    "collect",
    "deliver_pending",
    "load_config",
    "record",
    "register_source",
    "run_failed_alert",
]
