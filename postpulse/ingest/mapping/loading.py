"""Loading mapping files: validation with messages naming the file and key, the built-in set,


and :class:`MappingSet` (detection order)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..records import COUNT_FIELDS
from .errors import MappingError
from .fields import AUTHOR_FIELDS, BUILTIN_DIR, COMMENT_FIELDS, KINDS, MEDIA_FIELDS, POST_FIELDS, TOP_KEYS
from .model import Mapping
from .paths import check_path, compile_path, compile_spec
from .specs import CommentSpec, MediaSpec


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
            raise MappingError(
                source,
                f"{section} {key}" if section.startswith("[") else f"[{section}] {key}",
                f"unknown field; allowed: {', '.join(sorted(allowed_set))}",
            )
        out[key] = compile_spec(
            source, f"{section} {key}" if section.startswith("[") else f"[{section}] {key}", spec
        )
    return out


def _str_list(source: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MappingError(source, key, "expected a path or a list of paths")
    for v in value:
        check_path(source, key, v)
    return tuple(value)


def parse_mapping(data: dict, source: str, *, builtin: bool = False) -> Mapping:
    """Validate and compile one mapping (already parsed from TOML)."""
    from ..parsers.expanders import EXPANDERS
    from ..parsers.hooks import HOOKS

    unknown = set(data) - TOP_KEYS
    if unknown:
        raise MappingError(
            source,
            ", ".join(sorted(unknown)),
            f"unknown top-level key(s); allowed: {', '.join(sorted(TOP_KEYS))}",
        )
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
        raise MappingError(
            source, f"[detect] {', '.join(sorted(unknown))}", "unknown key; allowed: all, any, none"
        )
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
        raise MappingError(
            source, f"[meta] {', '.join(sorted(unknown))}", "unknown key; allowed: captured_at"
        )
    meta_cap = _str_list(source, "[meta] captured_at", meta["captured_at"]) if "captured_at" in meta else ()

    expand = None
    if "expand" in data:
        if data["expand"] not in EXPANDERS:
            raise MappingError(
                source, "expand", f"unknown expander {data['expand']!r}; known: {sorted(EXPANDERS)}"
            )
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
        raise MappingError(source, "expand", 'kind = "hashtag_stats" needs an expander')
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
        check_path(source, key + " path", path)
        skip_if = m.pop("skip_if", None)
        if skip_if is not None:
            if not isinstance(skip_if, str):
                raise MappingError(source, key + " skip_if", "expected a path string")
            check_path(source, key + " skip_if", skip_if)
        media_specs.append(
            MediaSpec(
                path=compile_path(path),
                fields=_spec_table(source, key, m, MEDIA_FIELDS),
                skip_if=compile_path(skip_if) if skip_if else None,
            )
        )

    comments = None
    if "comments" in data:
        c = data["comments"]
        if not isinstance(c, dict):
            raise MappingError(source, "comments", "expected a [comments] table")
        c = dict(c)
        cpath = c.pop("path", None)
        if not isinstance(cpath, str):
            raise MappingError(source, "[comments] path", "required: where the list of comments is")
        check_path(source, "[comments] path", cpath)
        replies = c.pop("replies", None)
        if replies is not None and not isinstance(replies, str):
            raise MappingError(source, "[comments] replies", "expected a path string")
        cauthor = c.pop("author", {})
        if not isinstance(cauthor, dict):
            raise MappingError(source, "[comments.author]", "expected a table")
        cfields = _spec_table(source, "comments", c, COMMENT_FIELDS)
        if "platform_comment_id" not in cfields:
            raise MappingError(
                source, "[comments] platform_comment_id", "required: where each comment's id is"
            )
        comments = CommentSpec(
            path=compile_path(cpath),
            fields=cfields,
            author=_spec_table(source, "comments.author", cauthor, AUTHOR_FIELDS),
            replies=compile_path(replies) if replies else None,
        )

    return Mapping(
        name=name,
        platform=data["platform"].strip().lower(),
        kind=kind,
        source=source,
        builtin=builtin,
        description=str(data.get("description", "")),
        priority=priority,
        items=items,
        detect_all=tuple((p, compile_path(p)) for p in d_all),
        detect_any=tuple((p, compile_path(p)) for p in d_any),
        detect_none=tuple((p, compile_path(p)) for p in d_none),
        meta_captured_at=meta_cap,
        fields=fields,
        author=author,
        counts=counts,
        platform_stats=pstats,
        media=media_specs,
        comments=comments,
        hooks=[HOOKS[h] for h in hook_names],
        hook_names=tuple(hook_names),
        expand=expand,
    )


MAX_MAPPING_BYTES = 1024 * 1024


def load_mapping_file(path: str | os.PathLike, *, builtin: bool = False) -> Mapping:
    from ..readers import FileReadError, ensure_regular_file

    source = str(path)
    try:
        size = ensure_regular_file(path)  # a FIFO would block the open, a device never end
    except FileReadError as exc:
        raise MappingError(source, None, f"mapping file: {exc.problem}") from None
    if size > MAX_MAPPING_BYTES:
        raise MappingError(
            source, None, f"mapping file is {size:,} bytes; the limit is {MAX_MAPPING_BYTES:,}"
        )
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise MappingError(source, None, "mapping file not found") from None
    except OSError as exc:
        raise MappingError(source, None, f"cannot read the mapping file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(source, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise MappingError(source, None, "not UTF-8 text") from None
    except RecursionError:
        raise MappingError(source, None, "not a mapping: nested too deeply") from None
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
            name = name[len("mapping:") :]
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
