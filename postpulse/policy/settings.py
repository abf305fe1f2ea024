"""Per-account policy settings, parsed and validated from ``accounts.settings`` (JSONB).

Two shapes are accepted (and may not be mixed within one section):

Our own (snake_case)::

    {"rate_limits": {"like": {"per_hour": 20, "per_day": 200}, ...},
     "quiet_hours": {"enabled": true, "start_hour": 22, "end_hour": 7,
                     "timezone": "Europe/Berlin"},
     "auto_approve": {"like": true, "comment": false},
     "cool_down_minutes": 1440,
     "allowlist": {"users": ["ana"], "tags": ["customers"]}}

``allowlist`` (optional; see ``allowlist.py``) puts the account in allowlist mode: it acts only
on those users, or on posts and profiles carrying those tags.

The camelCase form of older account settings::

    {"rateLimit": {"likesPerHour": 20, "commentsPerHour": 5, "dmsPerHour": 5,
                   "likesPerDay": 150},
     "quietHours": {"enabled": true, "startHour": 22, "endHour": 7, "timezone": "UTC"} | null,
     "autoApprove": {"likes": true, "comments": false, "dms": false},
     "coolDownMinutes": 1440}

Anything not given takes the conservative default below. ``quietHours: null`` (or
``"quiet_hours": null``) explicitly turns quiet hours off; a missing key keeps the default
(on, 23:00-07:00 in the account's time zone). Unknown keys inside the sections are errors (a
typo must not silently leave a limit at its default); unknown top-level keys are kept in
``AccountSettings.unknown_keys`` (other parts of postpulse may store their own settings there).

Default limits (per account and action type; sliding windows of 1 h and 24 h). Deliberately
low: users of bots that ran at hundreds of likes a day report action blocks.

=============== ======== =======
action type     per hour per day
=============== ======== =======
like                  20     200
unlike                10      80
comment                6      40
reply                  6      40
delete_comment        10      50
dm_send                5      30
follow                10      80
unfollow              10      80
publish                2      10
=============== ======== =======

A limit of 0 disables the action type for the account. Limits above ``MAX_PER_HOUR`` /
``MAX_PER_DAY`` are refused. Auto-approve defaults to off for every type; the cool-down after a
block signal defaults to 24 hours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .actions import ACTION_TYPES
from .allowlist import Allowlist
from .quiet_hours import DEFAULT_END_HOUR, DEFAULT_START_HOUR, QuietHours, TimezoneError, get_zone

MAX_PER_HOUR = 500
MAX_PER_DAY = 5000
MAX_COOL_DOWN_MINUTES = 60 * 24 * 30
DEFAULT_COOL_DOWN_MINUTES = 24 * 60


class SettingsError(ValueError):
    """Invalid ``accounts.settings``; ``key`` is the dotted path of the offending key."""

    def __init__(self, key: str, problem: str, *, source: str = "accounts.settings") -> None:
        self.key = key
        self.source = source
        super().__init__(f"{source}: {key!r} {problem}")


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_hour: int
    per_day: int


DEFAULT_RATE_LIMITS: Mapping[str, RateLimit] = MappingProxyType(
    {
        "like": RateLimit(20, 200),
        "unlike": RateLimit(10, 80),
        "comment": RateLimit(6, 40),
        "reply": RateLimit(6, 40),
        "delete_comment": RateLimit(10, 50),
        "dm_send": RateLimit(5, 30),
        "follow": RateLimit(10, 80),
        "unfollow": RateLimit(10, 80),
        "publish": RateLimit(2, 10),
        "repost": RateLimit(10, 80),
        "delete_post": RateLimit(5, 20),
    }
)
assert set(DEFAULT_RATE_LIMITS) == set(ACTION_TYPES)

# camelCase nouns of the older settings form -> our action types
_CAMEL_NOUNS: Mapping[str, str] = {
    "likes": "like",
    "unlikes": "unlike",
    "comments": "comment",
    "replies": "reply",
    "deleteComments": "delete_comment",
    "commentDeletes": "delete_comment",
    "dms": "dm_send",
    "follows": "follow",
    "unfollows": "unfollow",
    "publishes": "publish",
    "posts": "publish",
}


@dataclass(frozen=True, slots=True)
class AccountSettings:
    rate_limits: Mapping[str, RateLimit] = field(default_factory=lambda: DEFAULT_RATE_LIMITS)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    auto_approve: Mapping[str, bool] = field(
        default_factory=lambda: MappingProxyType({a: False for a in ACTION_TYPES})
    )
    cool_down_minutes: int = DEFAULT_COOL_DOWN_MINUTES
    unknown_keys: tuple[str, ...] = ()
    allowlist: Allowlist = field(default_factory=Allowlist)

    def limit_for(self, action_type: str) -> RateLimit:
        return self.rate_limits[action_type]

    def auto_approves(self, action_type: str) -> bool:
        return bool(self.auto_approve.get(action_type, False))

    def to_dict(self) -> dict[str, Any]:
        """Our canonical snake_case shape (what ``parse`` reads back)."""
        qh = self.quiet_hours
        return {
            "rate_limits": {
                a: {"per_hour": r.per_hour, "per_day": r.per_day} for a, r in self.rate_limits.items()
            },
            "quiet_hours": {
                "enabled": qh.enabled,
                "start_hour": qh.start_hour,
                "end_hour": qh.end_hour,
                "timezone": qh.timezone,
            },
            "auto_approve": dict(self.auto_approve),
            "cool_down_minutes": self.cool_down_minutes,
            "allowlist": self.allowlist.to_dict(),
        }

    @classmethod
    def defaults(cls) -> AccountSettings:
        return cls()

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any] | str | bytes | None, *, source: str = "accounts.settings"
    ) -> AccountSettings:
        """Parse the JSONB value (a mapping, JSON text, or None for all defaults)."""
        return _Parser(source).parse(raw)


def auto_approves(settings: AccountSettings, action_type: str) -> bool:
    """Whether ``settings`` auto-approve ``action_type`` (default: no)."""
    return settings.auto_approves(action_type)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, key: str, problem: str) -> SettingsError:
        return SettingsError(key, problem, source=self.source)

    # -- scalars -----------------------------------------------------------------------
    def int_in(self, key: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.err(key, f"must be an integer {lo}..{hi}, got {value!r}")
        if not lo <= value <= hi:
            raise self.err(key, f"must be an integer {lo}..{hi}, got {value!r}")
        return value

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.err(key, f"must be true or false, got {value!r}")
        return value

    def mapping(self, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.err(key, f"must be an object, got {type(value).__name__}")
        return value

    def action(self, key: str, name: Any) -> str:
        if name not in ACTION_TYPES:
            raise self.err(key, f"is not an action type; expected one of {', '.join(ACTION_TYPES)}")
        return name

    # -- sections ------------------------------------------------------------------------
    def parse(self, raw: Mapping[str, Any] | str | bytes | None) -> AccountSettings:
        if raw is None:
            return AccountSettings()
        if isinstance(raw, (str, bytes)):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise self.err("(root)", f"is not valid JSON: {exc}") from exc
            if raw is None:
                return AccountSettings()
        root = self.mapping("(root)", raw)
        both = [
            ("rate_limits", "rateLimit"),
            ("quiet_hours", "quietHours"),
            ("auto_approve", "autoApprove"),
            ("cool_down_minutes", "coolDownMinutes"),
        ]
        for snake, camel in both:
            if snake in root and camel in root:
                raise self.err(camel, f"and {snake!r} are both set; keep one")
        known = {k for pair in both for k in pair} | {"allowlist"}
        unknown = tuple(sorted(k for k in root if k not in known))

        limits = dict(DEFAULT_RATE_LIMITS)
        if "rate_limits" in root:
            limits.update(self.snake_limits(root["rate_limits"]))
        elif "rateLimit" in root:
            limits.update(self.camel_limits(root["rateLimit"]))

        quiet = QuietHours()
        if "quiet_hours" in root:
            quiet = self.quiet(root["quiet_hours"], "quiet_hours", camel=False)
        elif "quietHours" in root:
            quiet = self.quiet(root["quietHours"], "quietHours", camel=True)

        approve = {a: False for a in ACTION_TYPES}
        if "auto_approve" in root:
            for name, value in self.mapping("auto_approve", root["auto_approve"]).items():
                key = f"auto_approve.{name}"
                approve[self.action(key, name)] = self.boolean(key, value)
        elif "autoApprove" in root:
            for name, value in self.mapping("autoApprove", root["autoApprove"]).items():
                key = f"autoApprove.{name}"
                action = _CAMEL_NOUNS.get(name) or (name if name in ACTION_TYPES else None)
                if action is None:
                    raise self.err(key, f"is not known; expected one of {', '.join(_CAMEL_NOUNS)}")
                approve[action] = self.boolean(key, value)

        cool = DEFAULT_COOL_DOWN_MINUTES
        for key in ("cool_down_minutes", "coolDownMinutes"):
            if key in root:
                cool = self.int_in(key, root[key], 1, MAX_COOL_DOWN_MINUTES)

        return AccountSettings(
            rate_limits=MappingProxyType(limits),
            quiet_hours=quiet,
            auto_approve=MappingProxyType(approve),
            cool_down_minutes=cool,
            unknown_keys=unknown,
            allowlist=self.allowlist(root.get("allowlist")),
        )

    def allowlist(self, section: Any) -> Allowlist:
        if section is None:
            return Allowlist()
        body = self.mapping("allowlist", section)
        lists: dict[str, list[str]] = {}
        for k, v in body.items():
            key = f"allowlist.{k}"
            if k not in ("users", "tags"):
                raise self.err(key, "is not known; expected 'users' and/or 'tags'")
            if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
                raise self.err(key, f"must be a list of non-empty names, got {v!r}")
            lists[k] = v
        return Allowlist.of(lists.get("users", ()), lists.get("tags", ()))

    def snake_limits(self, section: Any) -> dict[str, RateLimit]:
        out: dict[str, RateLimit] = {}
        for name, value in self.mapping("rate_limits", section).items():
            key = f"rate_limits.{name}"
            action = self.action(key, name)
            body = self.mapping(key, value)
            for k in body:
                if k not in ("per_hour", "per_day"):
                    raise self.err(f"{key}.{k}", "is not known; expected 'per_hour' and/or 'per_day'")
            default = DEFAULT_RATE_LIMITS[action]
            per_hour = self.int_in(f"{key}.per_hour", body.get("per_hour", default.per_hour), 0, MAX_PER_HOUR)
            per_day = self.int_in(f"{key}.per_day", body.get("per_day", default.per_day), 0, MAX_PER_DAY)
            out[action] = RateLimit(per_hour, per_day)
        return out

    def camel_limits(self, section: Any) -> dict[str, RateLimit]:
        values: dict[str, dict[str, int]] = {}
        for name, value in self.mapping("rateLimit", section).items():
            key = f"rateLimit.{name}"
            for suffix, window, hi in (
                ("PerHour", "per_hour", MAX_PER_HOUR),
                ("PerDay", "per_day", MAX_PER_DAY),
            ):
                if name.endswith(suffix) and name[: -len(suffix)] in _CAMEL_NOUNS:
                    action = _CAMEL_NOUNS[name[: -len(suffix)]]
                    values.setdefault(action, {})[window] = self.int_in(key, value, 0, hi)
                    break
            else:
                raise self.err(
                    key, "is not known; expected e.g. 'likesPerHour', 'commentsPerDay', 'dmsPerHour'"
                )
        out: dict[str, RateLimit] = {}
        for action, v in values.items():
            default = DEFAULT_RATE_LIMITS[action]
            out[action] = RateLimit(v.get("per_hour", default.per_hour), v.get("per_day", default.per_day))
        return out

    def quiet(self, section: Any, prefix: str, *, camel: bool) -> QuietHours:
        if section is None:
            return QuietHours(enabled=False)
        body = self.mapping(prefix, section)
        names = (
            {"enabled": "enabled", "startHour": "start_hour", "endHour": "end_hour", "timezone": "timezone"}
            if camel
            else {
                "enabled": "enabled",
                "start_hour": "start_hour",
                "end_hour": "end_hour",
                "timezone": "timezone",
            }
        )
        kwargs: dict[str, Any] = {}
        for k, v in body.items():
            key = f"{prefix}.{k}"
            if k not in names:
                raise self.err(key, f"is not known; expected {', '.join(names)}")
            field_name = names[k]
            if field_name == "enabled":
                kwargs["enabled"] = self.boolean(key, v)
            elif field_name == "timezone":
                if v is None:
                    continue
                if not isinstance(v, str) or not v:
                    raise self.err(key, f"must be an IANA time zone name, got {v!r}")
                try:
                    get_zone(v)
                except TimezoneError as exc:
                    raise self.err(key, f"is invalid: {exc}") from None
                kwargs["timezone"] = v
            else:
                kwargs[field_name] = self.int_in(key, v, 0, 23)
        kwargs.setdefault("enabled", True)
        start = kwargs.get("start_hour", DEFAULT_START_HOUR)
        end = kwargs.get("end_hour", DEFAULT_END_HOUR)
        if start == end:
            key = f"{prefix}.{'endHour' if camel else 'end_hour'}"
            raise self.err(key, f"equals the start hour ({start}); quiet hours need a window")
        return QuietHours(**kwargs)
