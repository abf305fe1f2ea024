"""Quiet hours: no actions between ``start_hour`` and ``end_hour`` local time.

The window is ``[start_hour:00, end_hour:00)`` in the account's time zone and may cross
midnight (22 -> 7 means 22:00 until 07:00 the next morning). Times are computed with
``zoneinfo`` from aware datetimes, so DST changes are handled: the end of quiet hours is the
next local ``end_hour:00`` (if that wall time is skipped by a spring-forward change, the
instant of the change; if it occurs twice, the first occurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "UTC"
DEFAULT_START_HOUR = 23
DEFAULT_END_HOUR = 7


class TimezoneError(ValueError):
    pass


@lru_cache(maxsize=512)
def get_zone(name: str) -> ZoneInfo:
    """``ZoneInfo(name)`` with a clear error for unknown names."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise TimezoneError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


def local_zone_name() -> str:
    """The machine's local IANA time zone (``TZ``, ``/etc/localtime``, ...), ``UTC`` if unknown:
    the default for a new account's quiet hours."""
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:  # no zone configured, or one tzlocal cannot name
        return DEFAULT_TIMEZONE
    try:
        get_zone(name or DEFAULT_TIMEZONE)
    except TimezoneError:
        return DEFAULT_TIMEZONE
    return name or DEFAULT_TIMEZONE


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("quiet hours need an aware datetime (with tzinfo), got a naive one")


@dataclass(frozen=True, slots=True)
class QuietHours:
    enabled: bool = True
    start_hour: int = DEFAULT_START_HOUR
    end_hour: int = DEFAULT_END_HOUR
    timezone: str | None = None  # None: the account's time zone (AccountState.timezone)

    def __post_init__(self) -> None:
        for name in ("start_hour", "end_hour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
                raise ValueError(f"quiet_hours.{name} must be an integer 0..23, got {value!r}")
        if self.start_hour == self.end_hour:
            raise ValueError(
                "quiet_hours.start_hour and quiet_hours.end_hour must differ "
                f"(both are {self.start_hour}); disable quiet hours instead"
            )
        if self.timezone is not None:
            get_zone(self.timezone)

    def zone(self, default_timezone: str | None = None) -> tzinfo:
        return get_zone(self.timezone or default_timezone or DEFAULT_TIMEZONE)

    def _hour_is_quiet(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour  # across midnight

    def is_quiet(self, now: datetime, default_timezone: str | None = None) -> bool:
        _require_aware(now)
        if not self.enabled:
            return False
        return self._hour_is_quiet(now.astimezone(self.zone(default_timezone)).hour)

    def next_allowed_time(self, now: datetime, default_timezone: str | None = None) -> datetime:
        """``now`` if outside quiet hours, else the end of the current quiet period (UTC)."""
        _require_aware(now)
        if not self.is_quiet(now, default_timezone):
            return now
        zone = self.zone(default_timezone)
        local = now.astimezone(zone)
        day: date = local.date()
        if local.hour >= self.end_hour:  # the window ends tomorrow (crossed midnight)
            day += timedelta(days=1)
        end = datetime.combine(day, time(self.end_hour), tzinfo=zone).astimezone(UTC)
        # guard against DST oddities: the end must be in the future and outside quiet hours
        for _ in range(3):
            if end > now and not self.is_quiet(end, default_timezone):
                return end
            end += timedelta(hours=1)
        return end  # pragma: no cover - unreachable for valid IANA zones

    def describe(self, default_timezone: str | None = None) -> str:
        tz = self.timezone or default_timezone or DEFAULT_TIMEZONE
        return f"{self.start_hour:02d}:00-{self.end_hour:02d}:00 {tz}"
