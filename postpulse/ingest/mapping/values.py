"""Coercion of the values a spec found into the normalized field types; a wrong type or shape


raises :class:`BadValue` (the record is rejected, naming the field)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..counts import parse_count
from ..timeparse import parse_datetime
from .errors import BadValue
from .fields import MAX_ID_CHARS, MAX_LIST_ITEMS, MAX_TEXT_CHARS


def value_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return type(value).__name__


def to_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    t = type(value)
    if t is str:
        s = value
    elif (t is int or t is float) and t is not bool:
        s = str(value)
    else:
        raise BadValue(field, value, f"expected text, got {value_kind(value)}")
    if len(s) > MAX_TEXT_CHARS:
        raise BadValue(
            field,
            f"<{len(s):,} characters>",
            f"text is {len(s):,} characters long; the limit is {MAX_TEXT_CHARS:,}",
        )
    if "\x00" in s:
        s = s.replace("\x00", "")
    return s


def to_id(value: Any, field: str) -> str | None:
    if value is None:
        return None
    t = type(value)
    if t is str:
        s = value.strip()
        if "\x00" in s:
            s = s.replace("\x00", "")
        if not s:
            return None
        if len(s) > MAX_ID_CHARS:
            raise BadValue(field, s, f"id is {len(s):,} characters long; the limit is {MAX_ID_CHARS}")
        return s
    if t is int:
        return str(value)
    if t is float:
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))
        raise BadValue(field, value, "id is a non-integral or imprecise number")
    raise BadValue(field, value, f"expected an id (string or integer), got {value_kind(value)}")


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def to_bool(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        s = value.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        if not s:
            return None
    raise BadValue(field, value, f"expected true/false, got {value_kind(value)}")


def to_float(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if type(value) is bool:
        raise BadValue(field, value, "expected a number, got a boolean")
    if type(value) is str:
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            raise BadValue(field, value, "not a number") from None
    if not isinstance(value, (int, float)):
        raise BadValue(field, value, f"expected a number, got {value_kind(value)}")
    if not math.isfinite(value) or value < 0:
        raise BadValue(field, value, "expected a finite, non-negative number")
    return float(value)


def to_tags(value: Any, field: str, prefix: str) -> list[str]:
    if value is None:
        return []
    if type(value) is str:
        raw = value.replace(",", " ").split()
    elif type(value) is list:
        raw = value
    else:
        raise BadValue(field, value, f"expected a list of strings, got {value_kind(value)}")
    out: list[str] = []
    seen: set[str] = set()
    for item in raw[:MAX_LIST_ITEMS]:
        if item is None:
            continue
        if type(item) is not str:
            if type(item) is int:
                item = str(item)
            else:
                raise BadValue(field, item, f"expected a list of strings, found {value_kind(item)} in it")
        tag = item.strip().lstrip(prefix).strip()
        if "\x00" in tag:
            tag = tag.replace("\x00", "")
        if tag and tag not in seen:
            if len(tag) > 500:
                raise BadValue(field, tag, "list entry longer than 500 characters")
            seen.add(tag)
            out.append(tag)
    return out


def to_time(value: Any, field: str) -> datetime | None:
    return parse_datetime(value, field=field)


def to_count(value: Any, field: str) -> int | None:
    return parse_count(value, field=field)
