"""Parsing of engagement counts as scrapers give them: ints, floats, and display strings.

``parse_count(value, field=...)`` returns an ``int`` or ``None`` (absent). Anything that is
present but not a sane count raises :class:`BadCount`; the parsers turn that into a
``Rejected`` record naming the field.
"""

from __future__ import annotations

import math
import re

MAX_COUNT = 10**12
"""Counts above this are treated as garbage (no post has a trillion views)."""

_ABSENT_STRINGS = frozenset({"", "-", "—", "–", "n/a", "na", "null", "none"})
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "bn": 10**9, "mm": 10**6, "t": 10**12}
# "1.2K", "3,401", "12 345", "1,2K", "1.2 M", "12.28 m", "2B", "+1,000"
_SPACES_RE = re.compile(r"[\s'\u00a0\u202f]")
_PLAIN_RE = re.compile(r"\d*\.?\d*")
_COUNT_RE = re.compile(r"^\+?(\d[\d,.\s'\u00a0\u202f]*?)\s*(k|m|mm|b|bn|t)?\+?$", re.IGNORECASE)


class BadCount(ValueError):
    """A count value that is present but unusable (negative, absurd, non-numeric)."""

    def __init__(self, field: str, value: object, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {_short(value)})")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_count(value: object, *, field: str) -> int | None:
    """Parse one count. ``None``, ``""`` and ``"-"`` mean absent and give ``None``."""
    if value is None:
        return None
    t = type(value)
    if t is int:
        if value < 0:
            raise BadCount(field, value, "negative count")
        if value > MAX_COUNT:
            raise BadCount(field, value, f"absurd count (more than {MAX_COUNT:,})")
        return value
    if t is bool:
        raise BadCount(field, value, "expected a number, got a boolean")
    if t is float:
        if not math.isfinite(value):
            raise BadCount(field, value, "not a finite number")
        if value < 0:
            raise BadCount(field, value, "negative count")
        if value != int(value):
            raise BadCount(field, value, "count is not a whole number")
        if value > MAX_COUNT:
            raise BadCount(field, value, f"absurd count (more than {MAX_COUNT:,})")
        return int(value)
    if t is str:
        return _parse_count_str(value, field)
    if isinstance(value, int):  # int subclasses
        return parse_count(int(value), field=field)
    kind = "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else t.__name__
    raise BadCount(field, value, f"expected a number, got {kind}")


def _parse_count_str(value: str, field: str) -> int | None:
    s = value.strip()
    if s.lower() in _ABSENT_STRINGS:
        return None
    if s.isdigit() and s.isascii():  # fast path: "3401"
        n = int(s)
        if n > MAX_COUNT:
            raise BadCount(field, value, f"absurd count (more than {MAX_COUNT:,})")
        return n
    if s.startswith("-"):
        raise BadCount(field, value, "negative count")
    m = _COUNT_RE.match(s)
    if not m:
        low = s.lower()
        if low in ("nan", "inf", "infinity", "+inf"):
            raise BadCount(field, value, "not a finite number")
        raise BadCount(field, value, "not a number")
    digits, suffix = m.group(1), (m.group(2) or "").lower()
    digits = _SPACES_RE.sub("", digits)
    mult = _SUFFIX[suffix]
    number = _normalize_number(digits, has_suffix=bool(suffix), field=field, original=value)
    if mult == 1:
        if "." in number:
            whole, frac = number.split(".", 1)
            if frac.strip("0"):
                raise BadCount(field, value, "count is not a whole number")
            number = whole
        n = int(number)
    else:
        # exact decimal arithmetic: "1.2K" -> 1200, "12.28 M" -> 12280000
        if "." in number:
            whole, frac = number.split(".", 1)
        else:
            whole, frac = number, ""
        scale = 10 ** len(frac)
        n_scaled = int(whole or "0") * scale + int(frac or "0")
        n = n_scaled * mult // scale
    if n > MAX_COUNT:
        raise BadCount(field, value, f"absurd count (more than {MAX_COUNT:,})")
    return n


def _normalize_number(digits: str, *, has_suffix: bool, field: str, original: str) -> str:
    """Turn '3,401' / '1,2' / '1.234.567' / '1,234.5' into a plain '1234.5'-style string."""
    commas, dots = digits.count(","), digits.count(".")
    if commas and dots:
        # the last separator is the decimal one
        if digits.rfind(",") > digits.rfind("."):
            digits = digits.replace(".", "").replace(",", ".")
        else:
            digits = digits.replace(",", "")
    elif commas:
        parts = digits.split(",")
        if commas == 1 and (has_suffix or len(parts[1]) != 3):
            digits = parts[0] + "." + parts[1]  # "1,2K" (decimal comma)
        else:
            if any(len(p) != 3 for p in parts[1:]):
                raise BadCount(field, original, "not a number (bad thousands separators)")
            digits = "".join(parts)
    elif dots > 1:
        parts = digits.split(".")
        if any(len(p) != 3 for p in parts[1:]):
            raise BadCount(field, original, "not a number")
        digits = "".join(parts)  # "1.234.567" (dot thousands)
    elif dots == 1 and not has_suffix:
        whole, frac = digits.split(".")
        if len(frac) == 3 and frac != "000" and whole and whole != "0":
            # "3.401" without suffix: European thousands separator
            digits = whole + frac
    if not digits or digits.startswith(".") and len(digits) == 1:
        raise BadCount(field, original, "not a number")
    if not _PLAIN_RE.fullmatch(digits) or digits in (".", ""):
        raise BadCount(field, original, "not a number")
    return digits
