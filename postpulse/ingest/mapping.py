"""Declarative field mappings: TOML files that say where each normalized field lives in a
record. The built-in formats are mappings too (``postpulse/ingest/mappings/*.toml``); users add
their own with ``mapping_paths=`` / ``--mapping``. The file format is documented in
``postpulse/ingest/mappings/README.md``.

A mapping is compiled once into plain closures (path getters with their fallbacks and
transforms), so applying it to a record is cheap; for posts, ``Mapping.build`` runs a Python
function generated from those (``_compile_fast_post``: plain paths inlined, loops unrolled, the
same converters, checks and messages as ``Mapping.build_post``).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from postpulse.errors import PostpulseError

from .counts import MAX_COUNT, BadCount, parse_count
from .parsers.transforms import TRANSFORMS
from .records import (
    COUNT_FIELDS, CommentRecord, MediaRecord, MetricCounts, PostRecord, ProfileRecord,
)
from .timeparse import BadTime, parse_datetime, parse_relative

BUILTIN_DIR = Path(__file__).with_name("mappings")
MAX_TEXT_CHARS = 1_000_000
"""A text-like field longer than this rejects the record (reason names the field and size)."""
MAX_ID_CHARS = 512
MAX_LIST_ITEMS = 10_000

KINDS = ("post", "comment", "hashtag_stats")
POST_FIELDS = (
    "platform_post_id", "full_urn", "url", "text", "post_type", "content_type", "posted_at",
    "posted_ago", "captured_at", "hashtags", "mentions", "is_sponsored", "platform_stats",
)
COMMENT_FIELDS = (
    "platform_comment_id", "platform_post_id", "parent_platform_comment_id", "text",
    "posted_at", "captured_at", "like_count", "reply_count",
)
AUTHOR_FIELDS = (
    "platform_user_id", "username", "display_name", "profile_url", "follower_count",
    "following_count", "post_count", "is_verified", "bio",
)
MEDIA_FIELDS = ("media_type", "url", "thumbnail_url", "width", "height", "duration_s")
SPEC_KEYS = {"path", "paths", "transform", "each", "join", "sep", "const", "none_if", "template"}
TOP_KEYS = {
    "name", "platform", "kind", "description", "priority", "items", "detect", "meta",
    "fields", "author", "counts", "platform_stats", "media", "comments", "hooks", "expand",
    "version",
}


class MappingError(PostpulseError):
    """A mapping file is invalid; the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str | None, problem: str):
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem, fix="see postpulse/ingest/mappings/README.md")


class BadValue(ValueError):
    """A present value of the wrong type or shape; becomes a Rejected record."""

    def __init__(self, field: str, value: object, reason: str):
        self.field, self.value, self.reason = field, value, reason
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{field}: {reason} (got {shown})")


BAD_VALUE_ERRORS = (BadValue, BadCount, BadTime)

# ----------------------------------------------------------------------------- paths

_TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")

Getter = Callable[[Any], Any]


def _identity(obj: Any) -> Any:
    return obj


def compile_path(path: str) -> Getter:
    """Dotted path with list indexes: ``stats.total_reactions``, ``images.0.url``.
    ``"."`` is the record itself."""
    if path in (".", "$"):
        return _identity
    parts = path.split(".")
    steps = tuple((p, int(p) if p.isdigit() else None) for p in parts)
    if len(steps) == 1 and steps[0][1] is None:
        key = steps[0][0]

        def get1(obj: Any) -> Any:
            return obj.get(key) if type(obj) is dict else None

        return get1
    if len(steps) == 2 and steps[0][1] is None and steps[1][1] is None:
        k1, k2 = steps[0][0], steps[1][0]

        def get2(obj: Any) -> Any:
            if type(obj) is not dict:
                return None
            obj = obj.get(k1)
            return obj.get(k2) if type(obj) is dict else None

        return get2

    def get(obj: Any) -> Any:
        for key, index in steps:
            t = type(obj)
            if t is dict:
                obj = obj.get(key)
            elif t is list and index is not None:
                obj = obj[index] if index < len(obj) else None
            else:
                return None
            if obj is None:
                return None
        return obj

    return get


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _Spec(candidates: list[Getter], none_if: tuple, describe: str, uses_root: bool = False) -> Any:
    """A compiled field spec: a specialized closure returning the first present value (not
    None, "", [] or {}) among the fallback candidates. Attributes: ``describe`` (the paths, for
    error messages) and ``uses_root`` (paths start with ``^``: read from the whole record even
    inside [[media]] elements)."""
    fn = _make_caller(candidates, none_if)
    fn.describe = describe  # type: ignore[attr-defined]
    fn.uses_root = uses_root  # type: ignore[attr-defined]
    return fn


def _make_caller(candidates: list[Getter], none_if: tuple) -> Getter:
    if len(candidates) == 1 and not none_if:
        cand = candidates[0]

        def one(obj: Any) -> Any:
            v = cand(obj)
            if v is None:
                return None
            t = v.__class__
            if (t is str or t is list or t is dict) and not v:
                return None
            return v

        return one
    cands = tuple(candidates)

    def many(obj: Any) -> Any:
        for cand in cands:
            v = cand(obj)
            if v is None:
                continue
            t = v.__class__
            if (t is str or t is list or t is dict) and not v:
                continue
            if none_if and _in_none_if(v, none_if):
                return None
            return v
        return None

    return many


def _in_none_if(value: Any, none_if: tuple) -> bool:
    try:
        return value in none_if and type(value) is not bool
    except TypeError:
        return False


def _compile_candidate(source: str, key: str, spec: Any) -> tuple[Getter, str]:
    """One candidate: a path string or a table without ``paths``."""
    if isinstance(spec, str):
        _check_path(source, key, spec)
        return compile_path(spec), spec
    if not isinstance(spec, dict):
        raise MappingError(source, key, f"expected a path string or a table, got {type(spec).__name__}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise MappingError(source, key, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    if "const" in spec:
        const = spec["const"]
        return (lambda obj, _c=const: _c), f"const {const!r}"
    transform = None
    if "transform" in spec:
        tname = spec["transform"]
        if tname not in TRANSFORMS:
            raise MappingError(source, key, f"unknown transform {tname!r}; known: {sorted(TRANSFORMS)}")
        transform = TRANSFORMS[tname]
    if "template" in spec:
        template = spec["template"]
        if not isinstance(template, str) or "{" not in template:
            raise MappingError(source, key, "template must be a string with {path} placeholders")
        names = _TEMPLATE_RE.findall(template)
        for p in names:
            _check_path(source, key, p)
        tgetters = [(p, compile_path(p)) for p in names]

        def templated(obj: Any) -> Any:
            out = template
            for p, g in tgetters:
                v = g(obj)
                if v is None or v == "" or not isinstance(v, (str, int)) or isinstance(v, bool):
                    return None
                out = out.replace("{" + p + "}", str(v))
            return transform(out) if transform else out

        return templated, f"template {template!r}"
    if "join" in spec:
        paths = spec["join"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or not paths:
            raise MappingError(source, key, "join must be a non-empty list of paths")
        for p in paths:
            _check_path(source, key, p)
        getters = [compile_path(p) for p in paths]
        sep = spec.get("sep", " ")
        if not isinstance(sep, str):
            raise MappingError(source, key, "sep must be a string")

        def joined(obj: Any) -> Any:
            parts = [v for v in (g(obj) for g in getters) if isinstance(v, (str, int)) and v != ""]
            value = sep.join(str(p) for p in parts) if parts else None
            return transform(value) if transform and value is not None else value

        return joined, "join(" + ", ".join(paths) + ")"
    path = spec.get("path")
    if not isinstance(path, str):
        raise MappingError(source, key, "a table needs 'path' (a string), 'paths', 'join' or 'const'")
    _check_path(source, key, path)
    getter = compile_path(path)
    each = spec.get("each")
    each_getter = None
    if each is not None:
        if not isinstance(each, str):
            raise MappingError(source, key, "each must be a path string")
        each_getter = compile_path(each)
    desc = path + (f"[*].{each}" if each else "") + (f" | {spec['transform']}" if transform else "")

    if each_getter is None and transform is None:
        return getter, desc

    def cand(obj: Any) -> Any:
        value = getter(obj)
        if value is None:
            return None
        if each_getter is not None:
            if type(value) is not list:
                value = [value]
            value = [v for v in (each_getter(e) for e in value) if v is not None]
        if transform is not None:
            if each_getter is not None:
                value = [v for v in (transform(e) for e in value) if v is not None]
            else:
                value = transform(value)
        return value

    return cand, desc


def _check_path(source: str, key: str, path: str) -> None:
    if not path or path.startswith(".") and path != "." or path.endswith(".") and path != "." or ".." in path:
        raise MappingError(source, key, f"invalid path {path!r} (dotted keys, e.g. 'author.name' or 'images.0.url')")


def compile_spec(source: str, key: str, spec: Any) -> Any:
    """Compile a field spec: a path, a list of fallbacks, or a table (see README)."""
    none_if: tuple = ()
    if isinstance(spec, dict) and "paths" in spec:
        rest = {k: v for k, v in spec.items() if k != "paths"}
        if "none_if" in rest:
            none_if = tuple(rest.pop("none_if"))
        paths = spec["paths"]
        if not isinstance(paths, list) or not paths:
            raise MappingError(source, key, "paths must be a non-empty list")
        items = [({**rest, "path": p} if isinstance(p, str) else p) for p in paths]
    elif isinstance(spec, list):
        if not spec:
            raise MappingError(source, key, "empty list of paths")
        items = spec
    else:
        if isinstance(spec, dict) and "none_if" in spec:
            spec = dict(spec)
            none_if = spec.pop("none_if")
            if not isinstance(none_if, list):
                raise MappingError(source, key, "none_if must be a list of values")
            none_if = tuple(none_if)
        items = [spec]
    roots = {_is_root(item) for item in items}
    if len(roots) > 1:
        raise MappingError(source, key, "fallback paths cannot mix '^' (whole record) and element paths")
    uses_root = roots.pop()
    if uses_root:
        items = [_strip_root(item) for item in items]
    compiled = [_compile_candidate(source, key, item) for item in items]
    fn = _Spec([c for c, _ in compiled], none_if, " or ".join(d for _, d in compiled), uses_root)
    fn.plain_paths = _plain_paths(items) if not none_if else None  # type: ignore[attr-defined]
    return fn


def _plain_paths(items: list) -> tuple[tuple[str, ...], ...] | None:
    """The key chains of a spec made only of plain 1- or 2-key paths (inlined by
    :func:`_compile_fast_post`), else None."""
    out = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"path"}:
            item = item["path"]
        if not isinstance(item, str) or item in (".", "$"):
            return None
        parts = tuple(item.split("."))
        if len(parts) > 2 or any(p.isdigit() for p in parts):
            return None
        out.append(parts)
    return tuple(out)


def _is_root(item: Any) -> bool:
    if isinstance(item, str):
        return item.startswith("^")
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return item["path"].startswith("^")
    return False


def _strip_root(item: Any) -> Any:
    if isinstance(item, str):
        return item[1:].lstrip(".") or "."
    item = dict(item)
    item["path"] = item["path"][1:].lstrip(".") or "."
    return item


# ----------------------------------------------------------------------------- value coercion


def _kind(value: Any) -> str:
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
        raise BadValue(field, value, f"expected text, got {_kind(value)}")
    if len(s) > MAX_TEXT_CHARS:
        raise BadValue(field, f"<{len(s):,} characters>",
                       f"text is {len(s):,} characters long; the limit is {MAX_TEXT_CHARS:,}")
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
    raise BadValue(field, value, f"expected an id (string or integer), got {_kind(value)}")


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
    raise BadValue(field, value, f"expected true/false, got {_kind(value)}")


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
        raise BadValue(field, value, f"expected a number, got {_kind(value)}")
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
        raise BadValue(field, value, f"expected a list of strings, got {_kind(value)}")
    out: list[str] = []
    seen: set[str] = set()
    for item in raw[:MAX_LIST_ITEMS]:
        if item is None:
            continue
        if type(item) is not str:
            if type(item) is int:
                item = str(item)
            else:
                raise BadValue(field, item, f"expected a list of strings, found {_kind(item)} in it")
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


# ----------------------------------------------------------------------------- mapping


@dataclass(slots=True)
class BuildContext:
    format: str
    file_captured_at: datetime | None = None
    """Capture time carried by the file's own data (e.g. TikTok ``extra.now``)."""
    reference_time: datetime | None = None
    """For relative times: file-name capture time, else the caller's ``captured_at``."""
    mappings: Any = None
    """The MappingSet in use (expanders build nested records with other mappings)."""


@dataclass(slots=True)
class MediaSpec:
    path: Getter
    fields: dict[str, Any]
    skip_if: Getter | None


@dataclass(slots=True)
class CommentSpec:
    path: Getter | None
    fields: dict[str, Any]
    author: dict[str, Any]
    replies: Getter | None


@dataclass
class Mapping:
    name: str
    platform: str
    kind: str
    source: str
    builtin: bool
    description: str = ""
    priority: int = 0
    items: tuple[str, ...] = ()
    detect_all: tuple[tuple[str, Getter], ...] = ()
    detect_any: tuple[tuple[str, Getter], ...] = ()
    detect_none: tuple[tuple[str, Getter], ...] = ()
    meta_captured_at: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    author: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    platform_stats: dict[str, Any] = field(default_factory=dict)
    media: list[MediaSpec] = field(default_factory=list)
    comments: CommentSpec | None = None
    hooks: list[Callable] = field(default_factory=list)
    hook_names: tuple[str, ...] = ()
    expand: Callable | None = None

    @property
    def format_name(self) -> str:
        return self.name if self.builtin else f"mapping:{self.name}"

    # -- detection ---------------------------------------------------------------------------

    def matches(self, obj: Any) -> bool:
        if type(obj) is not dict:
            return False
        for _, g in self.detect_all:
            if g(obj) is None:
                return False
        if self.detect_any and not any(g(obj) is not None for _, g in self.detect_any):
            return False
        for _, g in self.detect_none:
            if g(obj) is not None:
                return False
        return True

    @property
    def specificity(self) -> int:
        return len(self.detect_all) * 2 + len(self.detect_none) + (1 if self.detect_any else 0)

    # -- building ----------------------------------------------------------------------------

    def build(self, obj: dict, ctx: BuildContext) -> list:
        """Records for one raw object (a post, a comment, or an expanded container)."""
        if self.expand is not None:
            return list(self.expand(obj, self, ctx))
        if self.kind == "comment":
            return [self.build_comment(obj, ctx)]
        fast = self.__dict__.get("_fast_post")
        if fast is None:
            fast = self.__dict__["_fast_post"] = _compile_fast_post(self)
        return [fast(obj, ctx)]

    def _captured_at(self, obj: dict, ctx: BuildContext) -> datetime | None:
        spec = self.fields.get("captured_at")
        if spec is not None:
            value = spec(obj)
            if value is not None:
                return to_time(value, "captured_at")
        return ctx.file_captured_at

    def _plans(self) -> tuple:
        plans = self.__dict__.get("_plans_cache")
        if plans is None:
            f = self.fields
            post_plan = tuple(
                (name, f[name], conv) for name, conv in _POST_CONVERTERS if name in f
            )
            count_plan = tuple(self.counts.items())
            stats_plan = tuple(self.platform_stats.items())
            author_plan = _author_plan(self.author, "author")
            plans = self.__dict__["_plans_cache"] = (post_plan, count_plan, stats_plan, author_plan)
        return plans

    def build_post(self, obj: dict, ctx: BuildContext) -> PostRecord:
        f = self.fields
        pid = to_id(f["platform_post_id"](obj), "platform_post_id")
        if pid is None:
            raise BadValue("platform_post_id", None,
                           f"missing post id (looked at: {f['platform_post_id'].describe})")
        post_plan, count_plan, stats_plan, author_plan = self._plans()
        values: dict[str, Any] = {}
        for name, spec, conv in post_plan:
            v = spec(obj)
            if v is not None:
                values[name] = conv(v, name)
        captured_at = values.pop("captured_at", None) or ctx.file_captured_at
        ago = values.pop("posted_ago", None)
        approximate = False
        if ago is not None and values.get("posted_at") is None:
            resolved = parse_relative(ago, captured_at or ctx.reference_time)
            if resolved is not None:
                values["posted_at"] = resolved
                approximate = True
        counts = MetricCounts()
        for name, spec in count_plan:
            v = spec(obj)
            if v is not None:
                if v.__class__ is not int or not 0 <= v <= MAX_COUNT:
                    try:
                        v = to_count(v, name)
                    except BadCount as exc:
                        raise BadCount(name, exc.value, f"{exc.reason} (source: {spec.describe})") from None
                setattr(counts, name, v)
        stats: dict = {}
        whole = values.pop("platform_stats", None)
        if whole is not None:
            if whole.__class__ is not dict:
                raise BadValue("platform_stats", whole, f"expected an object, got {_kind(whole)}")
            stats.update(whole)
        for name, spec in stats_plan:
            v = spec(obj)
            if v is not None:
                stats[name] = v
        post = PostRecord(
            self.platform, pid,
            author=_build_author(self.platform, author_plan, obj) if author_plan else None,
            posted_at_approximate=approximate,
            counts=counts,
            platform_stats=stats,
            captured_at=captured_at,
            media=self._media(obj) if self.media else [],
            raw=obj,
            format=ctx.format,
            **values,
        )
        if self.comments is not None:
            post.comments = self._comments(obj, pid, ctx)
        for hook in self.hooks:
            hook(obj, post)
        return post

    def build_comment(self, obj: dict, ctx: BuildContext) -> CommentRecord:
        f = self.fields
        cid = to_id(f["platform_comment_id"](obj), "platform_comment_id")
        if cid is None:
            raise BadValue("platform_comment_id", None,
                           f"missing comment id (looked at: {f['platform_comment_id'].describe})")
        rec = _comment_from(self.platform, f, self.author, obj, cid, None, "", self)
        if rec.platform_post_id is None:
            raise BadValue("platform_post_id", None, "missing the id of the post the comment belongs to"
                           + (f" (looked at: {f['platform_post_id'].describe})" if "platform_post_id" in f else ""))
        rec.captured_at = self._captured_at(obj, ctx)
        for hook in self.hooks:
            hook(obj, rec)
        return rec

    def _author(self, spec: dict[str, Any], obj: Any, prefix: str) -> ProfileRecord | None:
        if not spec:
            return None
        return _build_author(self.platform, _author_plan(spec, prefix), obj)

    def _media(self, obj: dict) -> list[MediaRecord]:
        out: list[MediaRecord] = []
        for ms in self.media:
            if ms.skip_if is not None and not _absent(ms.skip_if(obj)):
                continue
            found = ms.path(obj)
            if found is None:
                continue
            elements = found if type(found) is list else [found]
            for i, el in enumerate(elements[:MAX_LIST_ITEMS]):
                fname = f"media[{len(out)}]"
                if type(el) is str:
                    if el:
                        out.append(MediaRecord(url=to_text(el, fname + ".url"), position=len(out),
                                               media_type=_const_type(ms)))
                    continue
                if type(el) is not dict:
                    continue
                vals: dict[str, Any] = {}
                for name, s in ms.fields.items():
                    v = s(obj if s.uses_root else el)
                    if v is None:
                        continue
                    if name in ("width", "height"):
                        vals[name] = to_count(v, f"{fname}.{name}")
                    elif name == "duration_s":
                        vals[name] = to_float(v, f"{fname}.{name}")
                    else:
                        vals[name] = to_text(v, f"{fname}.{name}")
                if vals.get("url") or vals.get("thumbnail_url"):
                    out.append(MediaRecord(position=len(out), **vals))
        return out

    def _comments(self, obj: dict, pid: str, ctx: BuildContext) -> list[CommentRecord]:
        cs = self.comments
        assert cs is not None
        found = cs.path(obj) if cs.path is not None else None
        if found is None:
            return []
        if type(found) is not list:
            raise BadValue("comments", found, f"expected a list of comments, got {_kind(found)}")
        out: list[CommentRecord] = []
        self._walk_comments(found, pid, None, "comments", out, 0)
        return out

    def _walk_comments(self, items: list, pid: str, parent: str | None, prefix: str,
                       out: list[CommentRecord], depth: int) -> None:
        cs = self.comments
        assert cs is not None
        for i, c in enumerate(items[:MAX_LIST_ITEMS]):
            fname = f"{prefix}[{i}]"
            if type(c) is not dict:
                raise BadValue(fname, c, f"expected a comment object, got {_kind(c)}")
            cid = to_id(cs.fields["platform_comment_id"](c), fname + ".platform_comment_id")
            if cid is None:
                continue  # embedded comments without an id cannot be keyed; skipped
            rec = _comment_from(self.platform, cs.fields, cs.author, c, cid, parent, fname, self)
            if rec.platform_post_id is None:
                rec.platform_post_id = pid
            out.append(rec)
            if cs.replies is not None and depth < 20:
                replies = cs.replies(c)
                if type(replies) is list and replies:
                    self._walk_comments(replies, pid, cid, fname + ".replies", out, depth + 1)


def _ident_conv(value: Any, field: str) -> Any:
    return value


_EMPTY_CHECK = "(v.__class__ is str or v.__class__ is list or v.__class__ is dict) and not v"


def _spec_lines(spec: Any, ns: dict, indent: str) -> list[str]:
    """Python lines setting ``v`` to ``spec(obj)``: plain paths inlined (same rules as the
    compiled closures: the first candidate that is not None, "", [] or {}), else a call."""
    paths = getattr(spec, "plain_paths", None)
    if not paths:
        name = f"S{len(ns)}"
        ns[name] = spec
        return [f"{indent}v = {name}(obj)"]
    lines: list[str] = []
    ind = indent
    for k, parts in enumerate(paths):
        if len(parts) == 1:
            lines.append(f"{ind}v = obj.get({parts[0]!r})")
        else:
            lines.append(f"{ind}v = obj.get({parts[0]!r})")
            lines.append(f"{ind}v = v.get({parts[1]!r}) if v.__class__ is dict else None")
        lines.append(f"{ind}if v is None or {_EMPTY_CHECK}:")
        ind += "    "
        if k == len(paths) - 1:
            lines.append(f"{ind}v = None")
    return lines


def _compile_fast_post(m: "Mapping") -> Callable[[dict, BuildContext], PostRecord]:
    """``Mapping.build_post`` specialized for one mapping: generated Python with the plain paths
    inlined and the per-field loops unrolled (the same converters, checks, messages and order of
    evaluation as ``build_post``, so the same records and the same rejections)."""
    post_plan, count_plan, stats_plan, author_plan = m._plans()
    ns: dict[str, Any] = {
        "to_id": to_id, "to_count": to_count, "BadValue": BadValue, "BadCount": BadCount,
        "MAX_COUNT": MAX_COUNT, "MetricCounts": MetricCounts, "PostRecord": PostRecord,
        "ProfileRecord": ProfileRecord, "parse_relative": parse_relative, "_kind": _kind, "M": m,
        "PLATFORM": m.platform,
    }
    L = ["def build_post(obj, ctx):"]
    L += _spec_lines(m.fields["platform_post_id"], ns, "    ")
    ns["PID_MSG"] = f"missing post id (looked at: {m.fields['platform_post_id'].describe})"
    L += ["    pid = to_id(v, 'platform_post_id')",
          "    if pid is None:",
          "        raise BadValue('platform_post_id', None, PID_MSG)",
          "    values = {}"]
    for name, spec, conv in post_plan:
        cname = f"C{len(ns)}"
        ns[cname] = conv
        L += _spec_lines(spec, ns, "    ")
        L += ["    if v is not None:", f"        values[{name!r}] = {cname}(v, {name!r})"]
    L += ["    captured_at = values.pop('captured_at', None) or ctx.file_captured_at",
          "    ago = values.pop('posted_ago', None)",
          "    approximate = False",
          "    if ago is not None and values.get('posted_at') is None:",
          "        resolved = parse_relative(ago, captured_at or ctx.reference_time)",
          "        if resolved is not None:",
          "            values['posted_at'] = resolved",
          "            approximate = True",
          "    counts = MetricCounts()"]
    for name, spec in count_plan:
        dname = f"D{len(ns)}"
        ns[dname] = spec.describe
        L += _spec_lines(spec, ns, "    ")
        L += ["    if v is not None:",
              "        if v.__class__ is not int or not 0 <= v <= MAX_COUNT:",
              "            try:",
              f"                v = to_count(v, {name!r})",
              "            except BadCount as exc:",
              f"                raise BadCount({name!r}, exc.value, f'{{exc.reason}} (source: {{{dname}}})') from None",
              f"        counts.{name} = v"]
    L += ["    stats = {}",
          "    whole = values.pop('platform_stats', None)",
          "    if whole is not None:",
          "        if whole.__class__ is not dict:",
          "            raise BadValue('platform_stats', whole, f'expected an object, got {_kind(whole)}')",
          "        stats.update(whole)"]
    for name, spec in stats_plan:
        L += _spec_lines(spec, ns, "    ")
        L += ["    if v is not None:", f"        stats[{name!r}] = v"]
    if author_plan:
        L += ["    av = {}"]
        for name, spec, conv, fname in author_plan:
            cname = f"C{len(ns)}"
            ns[cname] = conv
            L += _spec_lines(spec, ns, "    ")
            L += ["    if v is not None:",
                  f"        v = {cname}(v, {fname!r})",
                  "        if v is not None:",
                  f"            av[{name!r}] = v"]
        L += ["    author = ProfileRecord(PLATFORM, **av) if av else None"]
    else:
        L += ["    author = None"]
    L += ["    post = PostRecord(PLATFORM, pid, author=author, posted_at_approximate=approximate, counts=counts,",
          "                      platform_stats=stats, captured_at=captured_at,",
          "                      media=M._media(obj) if M.media else [], raw=obj, format=ctx.format, **values)",
          "    if M.comments is not None:",
          "        post.comments = M._comments(obj, pid, ctx)",
          "    for hook in M.hooks:",
          "        hook(obj, post)",
          "    return post"]
    code = "\n".join(L)
    exec(compile(code, f"<mapping {m.name}: build_post>", "exec"), ns)  # code from the mapping's own compiled specs
    fn = ns["build_post"]
    fn.source = code  # type: ignore[attr-defined]
    return fn


_POST_CONVERTERS = (
    ("full_urn", to_id), ("url", to_text), ("text", to_text), ("post_type", to_text),
    ("content_type", to_text), ("posted_at", to_time), ("posted_ago", to_text),
    ("captured_at", to_time),
    ("hashtags", lambda v, f: to_tags(v, f, "#")), ("mentions", lambda v, f: to_tags(v, f, "@")),
    ("is_sponsored", to_bool), ("platform_stats", _ident_conv),
)
_AUTHOR_CONVERTERS = {
    "follower_count": to_count, "following_count": to_count, "post_count": to_count,
    "is_verified": to_bool, "platform_user_id": to_id, "username": to_id,
}


def _author_plan(spec: dict[str, Any], prefix: str) -> tuple:
    return tuple((name, s, _AUTHOR_CONVERTERS.get(name, to_text), f"{prefix}.{name}")
                 for name, s in spec.items())


def _build_author(platform: str, plan: tuple, obj: Any) -> ProfileRecord | None:
    values: dict[str, Any] = {}
    for name, spec, conv, fname in plan:
        v = spec(obj)
        if v is not None:
            v = conv(v, fname)
            if v is not None:
                values[name] = v
    if not values:
        return None
    return ProfileRecord(platform, **values)


def _const_type(ms: MediaSpec) -> str | None:
    spec = ms.fields.get("media_type")
    if spec is None:
        return None
    try:
        value = spec({})
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _comment_from(platform: str, f: dict[str, Any], author_spec: dict[str, Any], c: dict,
                  cid: str, parent: str | None, prefix: str, mapping: Mapping) -> CommentRecord:
    p = (prefix + ".") if prefix else ""
    parent_id = parent
    if "parent_platform_comment_id" in f:
        given = to_id(f["parent_platform_comment_id"](c), p + "parent_platform_comment_id")
        if given is not None:
            parent_id = given
    return CommentRecord(
        platform=platform,
        platform_comment_id=cid,
        platform_post_id=to_id(f["platform_post_id"](c), p + "platform_post_id") if "platform_post_id" in f else None,
        parent_platform_comment_id=parent_id,
        author=mapping._author(author_spec, c, p + "author"),
        text=to_text(f["text"](c), p + "text") if "text" in f else None,
        posted_at=to_time(f["posted_at"](c), p + "posted_at") if "posted_at" in f else None,
        like_count=to_count(f["like_count"](c), p + "like_count") if "like_count" in f else None,
        reply_count=to_count(f["reply_count"](c), p + "reply_count") if "reply_count" in f else None,
        raw=c,
    )


# ----------------------------------------------------------------------------- loading


def _table(source: str, data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(source, key, f"expected a table [{key}], got {type(value).__name__}")
    return value


def _spec_table(source: str, section: str, table: dict, allowed: Iterable[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    allowed_set = set(allowed) if allowed is not None else None
    for key, spec in table.items():
        if allowed_set is not None and key not in allowed_set:
            raise MappingError(source, f"{section} {key}" if section.startswith("[") else f"[{section}] {key}",
                               f"unknown field; allowed: {', '.join(sorted(allowed_set))}")
        out[key] = compile_spec(source, f"{section} {key}" if section.startswith("[") else f"[{section}] {key}", spec)
    return out


def _str_list(source: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MappingError(source, key, "expected a path or a list of paths")
    for v in value:
        _check_path(source, key, v)
    return tuple(value)


def parse_mapping(data: dict, source: str, *, builtin: bool = False) -> Mapping:
    """Validate and compile one mapping (already parsed from TOML)."""
    from .parsers.expanders import EXPANDERS
    from .parsers.hooks import HOOKS

    unknown = set(data) - TOP_KEYS
    if unknown:
        raise MappingError(source, ", ".join(sorted(unknown)),
                           f"unknown top-level key(s); allowed: {', '.join(sorted(TOP_KEYS))}")
    for req in ("name", "platform"):
        if not isinstance(data.get(req), str) or not data[req].strip():
            raise MappingError(source, req, "required (a non-empty string)")
    name = data["name"].strip()
    if name.startswith("mapping:") or not all(c.isalnum() or c in "_-." for c in name):
        raise MappingError(source, "name", f"{name!r}: use letters, digits, '_', '-', '.' only")
    kind = data.get("kind", "post")
    if kind not in KINDS:
        raise MappingError(source, "kind", f"{kind!r}; expected one of {', '.join(KINDS)}")
    priority = data.get("priority", 0 if builtin else 100)
    if not isinstance(priority, int):
        raise MappingError(source, "priority", "expected an integer")
    detect = _table(source, data, "detect")
    unknown = set(detect) - {"all", "any", "none"}
    if unknown:
        raise MappingError(source, f"[detect] {', '.join(sorted(unknown))}", "unknown key; allowed: all, any, none")
    d_all = _str_list(source, "[detect] all", detect.get("all", [])) if detect.get("all") else ()
    d_any = _str_list(source, "[detect] any", detect.get("any", [])) if detect.get("any") else ()
    d_none = _str_list(source, "[detect] none", detect.get("none", [])) if detect.get("none") else ()
    if not d_all and not d_any:
        raise MappingError(source, "[detect]", "needs 'all' and/or 'any': keys that identify the format")
    items = _str_list(source, "items", data["items"]) if "items" in data else ()
    for it in items:
        if any(p.isdigit() for p in it.split(".")):
            raise MappingError(source, "items", f"{it!r}: list indexes are not allowed in item paths")
    meta = _table(source, data, "meta")
    unknown = set(meta) - {"captured_at"}
    if unknown:
        raise MappingError(source, f"[meta] {', '.join(sorted(unknown))}", "unknown key; allowed: captured_at")
    meta_cap = _str_list(source, "[meta] captured_at", meta["captured_at"]) if "captured_at" in meta else ()

    expand = None
    if "expand" in data:
        if data["expand"] not in EXPANDERS:
            raise MappingError(source, "expand", f"unknown expander {data['expand']!r}; known: {sorted(EXPANDERS)}")
        expand = EXPANDERS[data["expand"]]
    hook_names = data.get("hooks", [])
    if not isinstance(hook_names, list):
        raise MappingError(source, "hooks", "expected a list of hook names")
    for h in hook_names:
        if h not in HOOKS:
            raise MappingError(source, "hooks", f"unknown hook {h!r}; known: {sorted(HOOKS)}")

    fields_allowed = COMMENT_FIELDS if kind == "comment" else POST_FIELDS
    fields = _spec_table(source, "fields", _table(source, data, "fields"), fields_allowed)
    if kind == "post" and expand is None and "platform_post_id" not in fields:
        raise MappingError(source, "[fields] platform_post_id", "required: where the post id is")
    if kind == "hashtag_stats" and expand is None:
        raise MappingError(source, "expand", "kind = \"hashtag_stats\" needs an expander")
    if kind == "comment" and "platform_comment_id" not in fields:
        raise MappingError(source, "[fields] platform_comment_id", "required: where the comment id is")
    author = _spec_table(source, "author", _table(source, data, "author"), AUTHOR_FIELDS)
    counts = _spec_table(source, "counts", _table(source, data, "counts"), COUNT_FIELDS)
    if kind == "comment" and counts:
        raise MappingError(source, "[counts]", "comment mappings use [fields] like_count / reply_count")
    pstats = _spec_table(source, "platform_stats", _table(source, data, "platform_stats"), None)

    media_specs: list[MediaSpec] = []
    media_data = data.get("media", [])
    if isinstance(media_data, dict):
        media_data = [media_data]
    if not isinstance(media_data, list):
        raise MappingError(source, "media", "expected [[media]] tables")
    for i, m in enumerate(media_data):
        key = f"[[media]] #{i + 1}"
        if not isinstance(m, dict):
            raise MappingError(source, key, "expected a table")
        m = dict(m)
        path = m.pop("path", ".")
        if not isinstance(path, str):
            raise MappingError(source, key + " path", "expected a path string")
        _check_path(source, key + " path", path)
        skip_if = m.pop("skip_if", None)
        if skip_if is not None:
            if not isinstance(skip_if, str):
                raise MappingError(source, key + " skip_if", "expected a path string")
            _check_path(source, key + " skip_if", skip_if)
        media_specs.append(MediaSpec(
            path=compile_path(path),
            fields=_spec_table(source, key, m, MEDIA_FIELDS),
            skip_if=compile_path(skip_if) if skip_if else None,
        ))

    comments = None
    if "comments" in data:
        c = data["comments"]
        if not isinstance(c, dict):
            raise MappingError(source, "comments", "expected a [comments] table")
        c = dict(c)
        cpath = c.pop("path", None)
        if not isinstance(cpath, str):
            raise MappingError(source, "[comments] path", "required: where the list of comments is")
        _check_path(source, "[comments] path", cpath)
        replies = c.pop("replies", None)
        if replies is not None and not isinstance(replies, str):
            raise MappingError(source, "[comments] replies", "expected a path string")
        cauthor = c.pop("author", {})
        if not isinstance(cauthor, dict):
            raise MappingError(source, "[comments.author]", "expected a table")
        cfields = _spec_table(source, "comments", c, COMMENT_FIELDS)
        if "platform_comment_id" not in cfields:
            raise MappingError(source, "[comments] platform_comment_id", "required: where each comment's id is")
        comments = CommentSpec(
            path=compile_path(cpath), fields=cfields,
            author=_spec_table(source, "comments.author", cauthor, AUTHOR_FIELDS),
            replies=compile_path(replies) if replies else None,
        )

    return Mapping(
        name=name, platform=data["platform"].strip().lower(), kind=kind, source=source,
        builtin=builtin, description=str(data.get("description", "")), priority=priority,
        items=items,
        detect_all=tuple((p, compile_path(p)) for p in d_all),
        detect_any=tuple((p, compile_path(p)) for p in d_any),
        detect_none=tuple((p, compile_path(p)) for p in d_none),
        meta_captured_at=meta_cap, fields=fields, author=author, counts=counts,
        platform_stats=pstats, media=media_specs, comments=comments,
        hooks=[HOOKS[h] for h in hook_names], hook_names=tuple(hook_names), expand=expand,
    )


def load_mapping_file(path: str | os.PathLike, *, builtin: bool = False) -> Mapping:
    source = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise MappingError(source, None, "mapping file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(source, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise MappingError(source, None, "not UTF-8 text") from None
    return parse_mapping(data, source, builtin=builtin)


class MappingSet:
    """Built-in plus user mappings, in detection order (priority, then specificity)."""

    def __init__(self, mappings: list[Mapping]):
        self.by_name: dict[str, Mapping] = {}
        for m in mappings:
            if m.name in self.by_name:
                other = self.by_name[m.name]
                raise MappingError(m.source, "name", f"{m.name!r} is already defined by {other.source}")
            self.by_name[m.name] = m
        self.ordered = sorted(mappings, key=lambda m: (-m.priority, -m.specificity, m.name))

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self.ordered)

    def names(self) -> list[str]:
        return [m.format_name for m in self.ordered]

    def get(self, name: str) -> Mapping | None:
        if name.startswith("mapping:"):
            name = name[len("mapping:"):]
        return self.by_name.get(name)


_BUILTIN_CACHE: list[Mapping] | None = None


def builtin_mappings() -> list[Mapping]:
    global _BUILTIN_CACHE
    if _BUILTIN_CACHE is None:
        files = sorted(BUILTIN_DIR.glob("*.toml"))
        _BUILTIN_CACHE = [load_mapping_file(p, builtin=True) for p in files]
    return list(_BUILTIN_CACHE)


def load_mappings(extra_paths: Iterable[str | os.PathLike] = ()) -> MappingSet:
    """All built-in mappings plus the user's mapping files (``*.toml`` files or folders of
    them). Raises :class:`MappingError` naming the file, key and problem."""
    user: list[Mapping] = []
    for p in extra_paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(path.glob("*.toml"))
            if not files:
                raise MappingError(str(path), None, "folder holds no *.toml mapping files")
            user.extend(load_mapping_file(f) for f in files)
        else:
            user.append(load_mapping_file(path))
    return MappingSet(builtin_mappings() + user)
