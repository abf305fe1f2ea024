"""Datetime parsing for the formats scrapers use.

* ISO 8601 (``2025-11-14T21:27:16.100Z``, ``2025-12-05 14:37:10``; naive means UTC)
* unix seconds / milliseconds / microseconds, as numbers or digit strings
* X/Twitter ``Wed Oct 10 20:19:24 +0000 2018`` and RFC 2822
* LinkedIn objects ``{"timestamp": 1764941830371, "date": "..."}`` (timestamp preferred)
* relative values (``5d``, ``3w``, ``2mo``, ``1yr``, ``4h``, ``30m``, ``5 days ago``,
  ``1w •``, ``21 hours ago • Edited``) via :func:`parse_relative`, resolved against a capture
  time; callers flag the result as approximate.

All results are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from postpulse.timeutil import as_utc

_MIN_YEAR, _MAX_YEAR = 1990, 2100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadTime(ValueError):
    def __init__(self, field: str, value: object, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        text = repr(value)
        super().__init__(f"{field}: {reason} (got {text[:60]})")


def _check_range(dt: datetime, field: str, value: object) -> datetime:
    if not (_MIN_YEAR <= dt.year <= _MAX_YEAR):
        raise BadTime(field, value, f"date out of range ({dt.year}); expected {_MIN_YEAR}-{_MAX_YEAR}")
    return dt


def from_unix(number: float, *, field: str = "time", value: object = None) -> datetime:
    """Unix time in seconds, milliseconds, microseconds or nanoseconds (by magnitude)."""
    n = float(number)
    if n != n or n in (float("inf"), float("-inf")):
        raise BadTime(field, value if value is not None else number, "not a finite timestamp")
    a = abs(n)
    if a >= 1e17:
        n /= 1e9
    elif a >= 1e14:
        n /= 1e6
    elif a >= 1e11:
        n /= 1e3
    try:
        if isinstance(number, int) and a >= 1e11 and a < 1e14:
            dt = _EPOCH + timedelta(milliseconds=number)  # exact ms
        else:
            dt = _EPOCH + timedelta(seconds=n)
    except OverflowError:
        raise BadTime(field, value if value is not None else number, "timestamp out of range") from None
    return _check_range(dt, field, value if value is not None else number)


def _compact_date(s: str) -> datetime | None:
    """``YYYYMMDD`` (yt-dlp's ``upload_date``) as midnight UTC; None when the 8 digits are not a
    date between 1990 and 2100. As unix seconds such a number would be a day in 1970-1973, a
    time no export carries, so the date reading is safe."""
    y, m, d = int(s[:4]), int(s[4:6]), int(s[6:])
    if not (_MIN_YEAR <= y <= _MAX_YEAR):
        return None
    try:
        return datetime(y, m, d, tzinfo=UTC)
    except ValueError:
        return None


def parse_with_format(value: object, date_format: str, *, field: str = "posted_at") -> datetime | None:
    """``value`` read with a strptime ``date_format`` (a mapping's ``date_format``); naive
    results are UTC. Numbers are read as their digits (``20250314`` with ``%Y%m%d``)."""
    if value is None:
        return None
    if type(value) is int:
        value = str(value)
    if type(value) is not str:
        raise BadTime(field, value, f"expected a date as text for date_format {date_format!r}")
    s = value.strip()
    if not s:
        return None
    try:
        dt = datetime.strptime(s, date_format)
    except ValueError:
        raise BadTime(field, value, f"does not match date_format {date_format!r}") from None
    return _check_range(as_utc(dt), field, value)


_X_FORMAT = "%a %b %d %H:%M:%S %z %Y"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_X_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) "
    r"([+-])(\d{2})(\d{2}) (\d{4})"
)


def _parse_x(s: str) -> datetime | None:
    """The X/Twitter form ``Wed Oct 10 20:19:24 +0000 2018`` without ``strptime`` (which costs
    ~20 µs a call, a third of an X record's parse); None when ``s`` is not exactly that form."""
    m = _X_RE.fullmatch(s)
    if m is None:
        return None
    mon, d, h, mi, sec, sign, oh, om, y = m.groups()
    month = _MONTHS.get(mon)
    if month is None:
        return None
    offset = (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1)
    try:
        dt = datetime(int(y), month, int(d), int(h), int(mi), int(sec), tzinfo=UTC)
    except ValueError:
        return None
    return dt - timedelta(minutes=offset) if offset else dt


def parse_datetime(value: object, *, field: str = "posted_at") -> datetime | None:
    """Parse an absolute datetime; ``None``/``""``/``0`` give ``None``; garbage raises BadTime."""
    if value is None:
        return None
    t = type(value)
    if t is datetime:
        return _check_range(as_utc(value), field, value)
    if t is bool:
        raise BadTime(field, value, "expected a date, got a boolean")
    if t is int or t is float:
        if value == 0:
            return None  # 0 is a placeholder for "unknown" in several scrapers
        if t is int and 19_900_101 <= value <= 21_001_231:
            compact = _compact_date(str(value))
            if compact is not None:
                return compact
        return from_unix(value, field=field, value=value)
    if t is dict:
        ts = value.get("timestamp")
        if ts not in (None, "", 0):
            return parse_datetime(ts, field=field)
        for key in ("date", "iso", "datetime", "time"):
            if value.get(key):
                return parse_datetime(value[key], field=field)
        return None
    if t is not str:
        raise BadTime(field, value, f"expected a date, got {t.__name__}")
    s = value.strip()
    if not s:
        return None
    if s.isdigit() or (s[0] == "-" and s[1:].isdigit()):
        if len(s) == 8:
            compact = _compact_date(s)
            if compact is not None:
                return compact
        n = int(s)
        return None if n == 0 else from_unix(n, field=field, value=value)
    # the X form first when it can be one (an ISO date never has a space at index 3): a failed
    # fromisoformat costs more than the X parse itself
    dt = _parse_x(s) if len(s) == 30 and s[3] == " " else None
    if dt is None:
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            dt = None
    if dt is None:
        try:
            dt = datetime.strptime(s, _X_FORMAT)
        except ValueError:
            try:
                dt = parsedate_to_datetime(s)
            except (TypeError, ValueError, IndexError):
                dt = None
    if dt is None:
        try:
            f = float(s)
        except ValueError:
            raise BadTime(field, value, "not a recognised date/time format") from None
        return from_unix(f, field=field, value=value)
    return _check_range(as_utc(dt), field, value)


_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "wk": 7 * 86400,
    "wks": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
    "mo": 30 * 86400,
    "mos": 30 * 86400,
    "mth": 30 * 86400,
    "month": 30 * 86400,
    "months": 30 * 86400,
    "y": 365 * 86400,
    "yr": 365 * 86400,
    "yrs": 365 * 86400,
    "year": 365 * 86400,
    "years": 365 * 86400,
}
_REL_RE = re.compile(
    r"^\s*(\d+|an?|one)\s*"
    r"(seconds|second|secs|sec|s|minutes|minute|mins|min|months|month|mth|mos|mo|m|"
    r"hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|years|year|yrs|yr|y)"
    r"(?![a-z])\s*(?:ago)?",
    re.IGNORECASE,
)
_NOW_RE = re.compile(r"^\s*(just now|now|moments? ago)\b", re.IGNORECASE)
_YESTERDAY_RE = re.compile(r"^\s*yesterday\b", re.IGNORECASE)


def relative_seconds(value: str) -> int | None:
    """Seconds before capture described by a relative value, or None if not relative."""
    if not isinstance(value, str):
        return None
    m = _REL_RE.match(value)
    if m:
        qty = m.group(1).lower()
        n = 1 if qty in ("a", "an", "one") else int(qty)
        return n * _UNITS[m.group(2).lower()]
    if _NOW_RE.match(value):
        return 0
    if _YESTERDAY_RE.match(value):
        return 86400
    return None


def parse_relative(value: object, reference: datetime | None) -> datetime | None:
    """Resolve ``"5d"``, ``"3 weeks ago • Edited"`` ... against ``reference`` (the capture
    time). Returns None when the value is not relative or there is no reference."""
    if reference is None or not isinstance(value, str):
        return None
    secs = relative_seconds(value)
    if secs is None:
        return None
    return as_utc(reference) - timedelta(seconds=secs)


_FILENAME_TS_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[_T ](\d{2})-(\d{2})-(\d{2})(?:-(\d{3}))?(?!\d)")


def capture_time_from_filename(name: str) -> datetime | None:
    """UTC capture time from an Apify export name, e.g.
    ``dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json`` -> 2025-12-06 11:28:56.790Z
    (path prefixes such as ``uploads__intel__dataset_...`` are fine). None when absent."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    matches = list(_FILENAME_TS_RE.finditer(base))
    if not matches:
        return None
    y, mo, d, h, mi, s, ms = matches[-1].groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms or 0) * 1000, tzinfo=UTC)
    except ValueError:
        return None
    if not (_MIN_YEAR <= dt.year <= _MAX_YEAR):
        return None
    return dt
