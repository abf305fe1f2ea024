"""Check-backs: tracked posts are fetched again on a schedule, building each post's
metrics time series. Plain Python; the Dagster sensor and job in ``orchestration/ingest.py`` are
thin shells over :mod:`postpulse.checkbacks.due` and :mod:`postpulse.checkbacks.runner`."""

from postpulse.checkbacks.schedule import (
    DEFAULT_SCHEDULES,
    backoff,
    parse_offset,
    parse_schedule,
    resolve_schedule,
    slot_state,
)

__all__ = ["DEFAULT_SCHEDULES", "backoff", "parse_offset", "parse_schedule", "resolve_schedule", "slot_state"]
