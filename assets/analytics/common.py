"""Shared bits of the analytics assets."""

import os
from datetime import date

from postpulse.analytics.errors import AnalyticsError

START_DATE_ENV = "POSTPULSE_METRICS_START_DATE"
DEFAULT_START_DATE = "2025-01-01"


def metrics_start_date() -> str:
    """First partition of daily_metrics: ``POSTPULSE_METRICS_START_DATE`` (YYYY-MM-DD) or 2025-01-01.

    Partitions are fixed when the Definitions load, so this is read then (documented)."""
    value = os.environ.get(START_DATE_ENV, "").strip() or DEFAULT_START_DATE
    try:
        date.fromisoformat(value)
    except ValueError:
        raise AnalyticsError(
            f"{START_DATE_ENV}={value!r} is not a date", fix="use YYYY-MM-DD, e.g. 2025-01-01"
        ) from None
    return value
