"""The check-back schedules, as :mod:`postpulse.checkback_schedule` defines them (they live below
the ingest and the check-backs, which both use them); kept importable under this name."""

from postpulse.checkback_schedule import (
    BACKOFF_BASE_S,
    BACKOFF_MAX_S,
    DEFAULT_SCHEDULES,
    STANDARD,
    ScheduleError,
    SlotState,
    backoff,
    offsets_seconds,
    parse_offset,
    parse_schedule,
    resolve_schedule,
    slot_state,
    start_state,
)

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "DEFAULT_SCHEDULES",
    "STANDARD",
    "ScheduleError",
    "SlotState",
    "backoff",
    "offsets_seconds",
    "parse_offset",
    "parse_schedule",
    "resolve_schedule",
    "slot_state",
    "start_state",
]
