"""Paths into a record (``stats.likes``, ``images.0.url``) and field specs (fallback paths,
transforms, templates, constants), compiled once into plain closures."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..parsers.transforms import TRANSFORMS
from ..timeparse import parse_with_format
from .errors import MappingError
from .fields import SPEC_KEYS

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


def is_absent(value: Any) -> bool:
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


_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _in_none_if(value: Any, none_if: tuple) -> bool:
    """``value`` is one of the "absent" values, compared after type conversion: the CSV cell
    ``"-1"`` means what the JSON number ``-1`` means."""
    if type(value) is bool:
        return False
    try:
        if value in none_if:
            return True
    except TypeError:
        return False
    if type(value) is str:
        s = value.strip()
        if _NUMBER_RE.fullmatch(s):
            number = float(s)
            return any(type(x) is not bool and isinstance(x, (int, float)) and x == number for x in none_if)
    return False


def _compile_candidate(source: str, key: str, spec: Any) -> tuple[Getter, str]:
    """One candidate: a path string or a table without ``paths``."""
    if isinstance(spec, str):
        check_path(source, key, spec)
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
            check_path(source, key, p)
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
            check_path(source, key, p)
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
    check_path(source, key, path)
    getter = compile_path(path)
    if "date_format" in spec:
        return _dated(source, key, spec, getter), f"{path} as {spec['date_format']}"
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


def _dated(source: str, key: str, spec: dict, getter: Getter) -> Getter:
    """A date read with a strptime ``date_format`` (e.g. ``"%d/%m/%Y %H:%M"``)."""
    fmt = spec["date_format"]
    if not isinstance(fmt, str) or "%" not in fmt:
        raise MappingError(source, key, 'date_format must be a strptime format, e.g. "%d/%m/%Y %H:%M"')
    if set(spec) - {"path", "date_format"}:
        raise MappingError(source, key, "date_format goes with 'path' (or 'paths') only")
    try:
        datetime.strptime(datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC).strftime(fmt), fmt)
    except ValueError as exc:
        raise MappingError(
            source, key, f"date_format {fmt!r} is not a valid strptime format: {exc}"
        ) from None
    field = key.rsplit(" ", 1)[-1]

    def dated(obj: Any) -> Any:
        value = getter(obj)
        if value is None or value == "":
            return None
        return parse_with_format(value, fmt, field=field)

    return dated


def check_path(source: str, key: str, path: str) -> None:
    if not path or path.startswith(".") and path != "." or path.endswith(".") and path != "." or ".." in path:
        raise MappingError(
            source, key, f"invalid path {path!r} (dotted keys, e.g. 'author.name' or 'images.0.url')"
        )


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
