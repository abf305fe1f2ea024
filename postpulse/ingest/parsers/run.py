"""``iter_file``: read a file, pick its mapping, stream normalized records."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from postpulse.timeutil import as_utc

from ..detect import UnknownFormatError, detect_mapping, find_wrapped, whole_object
from ..mapping import BAD_VALUE_ERRORS, BuildContext, Mapping, MappingSet, compile_path, load_mappings
from ..readers import (
    JSON_OBJECT,
    JSONL,
    FileReadError,
    RawItem,
    ijson_prefix,
    iter_container,
    iter_json_array,
    json_kind,
    read_first_value,
    read_sample,
    sniff_container,
)
from ..records import CommentRecord, HashtagStatsRecord, PostRecord, Rejected
from ..timeparse import BadTime, capture_time_from_filename, parse_datetime


def _excerpt(obj: Any) -> str:
    try:
        data = orjson.dumps(obj)
    except TypeError:
        return repr(obj)[:200]
    return data[:800].decode("utf-8", "replace")[:200]


class _Dedup:
    """Same post (or comment) with the same capture time seen twice in one file: the first is
    kept, later ones become ``Rejected(kind="duplicate")`` saying whether values differ."""

    __slots__ = ("seen",)
    _MASK = (1 << 64) - 1

    def __init__(self) -> None:
        # key hash -> (first index << 64 | value fingerprint): one small int per record seen
        self.seen: dict[int, int] = {}

    def check(self, rec: Any, index: int) -> Rejected | None:
        if type(rec) is PostRecord:
            key = hash(("p", rec.platform_post_id, rec.captured_at))
            c = rec.counts
            fp = hash(
                (
                    c.reactions,
                    c.likes,
                    c.comments,
                    c.shares,
                    c.views,
                    c.saves,
                    c.impressions,
                    c.reach,
                    c.clicks,
                    c.quotes,
                    rec.text,
                    rec.posted_at,
                )
            )
            what = f"post {rec.platform_post_id!r}"
        elif type(rec) is CommentRecord:
            key = hash(("c", rec.platform_comment_id, rec.captured_at))
            fp = hash((rec.text, rec.like_count, rec.reply_count, rec.posted_at))
            what = f"comment {rec.platform_comment_id!r}"
        else:
            return None
        fp &= self._MASK
        prev = self.seen.get(key)
        if prev is None:
            self.seen[key] = (index << 64) | fp
            return None
        first, prev_fp = prev >> 64, prev & self._MASK
        same = "identical values" if prev_fp == fp else "different values; the first one is kept"
        return Rejected(
            index,
            f"duplicate of record {first} ({what}, same capture time, {same})",
            "platform_post_id" if type(rec) is PostRecord else "platform_comment_id",
            _excerpt(rec.raw),
            kind="duplicate",
        )


def _whole_or_none(path: Any) -> dict | None:
    objs = whole_object(path)
    return objs[0] if objs else None


def _meta_captured_at(path: Any, mapping: Mapping, kind: str, container: dict | None) -> datetime | None:
    for p in mapping.meta_captured_at:
        if container is not None:
            value = compile_path(p)(container)
        elif kind == JSON_OBJECT:
            value = read_first_value(path, p)
        else:
            value = None
        if value is not None:
            try:
                return parse_datetime(value, field=f"meta {p}")
            except BadTime:
                return None
    return None


def iter_file(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    mapping_paths=(),
    captured_at: datetime | None = None,
    mappings: MappingSet | None = None,
    dedupe: bool = True,
) -> Iterator[PostRecord | CommentRecord | HashtagStatsRecord | Rejected]:
    """Stream the normalized records of one file.

    * ``format``: force a format (``apify_x_tweets``, ``mapping:my_export``); default: detect.
    * ``mapping_paths``: extra mapping files/folders (user formats).
    * ``captured_at``: reference time for relative posted times when neither the records nor
      the file name carry a capture time (pass ``--captured-at`` or the import time).

    Raises :class:`FileReadError` (possibly after some records were yielded: the caller must
    not commit anything from the file then) and :class:`UnknownFormatError`.
    """
    mset = mappings if mappings is not None else load_mappings(mapping_paths)
    head = read_sample(path)
    kind = sniff_container(path, head)
    if format:
        mapping = mset.get(format)
        if mapping is None:
            raise UnknownFormatError(path, mset.names()) from None
        one_document = kind == JSON_OBJECT or (kind == JSONL and b"\n" not in head.strip())
        if one_document and not mapping.items and not mapping.matches(_whole_or_none(path)):
            found = find_wrapped(path, mapping)  # {"videos": [...]} of the forced format
            if found is not None:
                mapping, kind = found, JSON_OBJECT
    else:
        mapping, kind = detect_mapping(path, mset, kind=kind)
    file_time = capture_time_from_filename(os.fspath(path))
    ctx = BuildContext(
        format=mapping.format_name,
        reference_time=file_time or as_utc(captured_at),
        mappings=mset,
    )
    dedup = _Dedup() if dedupe else None
    index = 0

    def emit(records: list) -> Iterator[Any]:
        nonlocal index
        for rec in records:
            rec.record_index = index
            if dedup is not None and type(rec) is not Rejected:
                dup = dedup.check(rec, index)
                if dup is not None:
                    rec = dup
            index += 1
            yield rec

    def build(obj: Any) -> list:
        if type(obj) is not dict:
            return [Rejected(0, f"expected a JSON object, got {json_kind(obj)}", None, _excerpt(obj))]
        try:
            return mapping.build(obj, ctx)
        except BAD_VALUE_ERRORS as exc:
            return [Rejected(0, str(exc), getattr(exc, "field", None), _excerpt(obj))]

    if mapping.items and kind == JSON_OBJECT:
        ctx.file_captured_at = _meta_captured_at(path, mapping, kind, None)
        for items_path in mapping.items:
            for raw in iter_json_array(path, prefix=ijson_prefix(items_path)):
                yield from emit(build(raw.obj))
        return

    for raw in iter_container(path, kind):
        if raw.error is not None:
            yield from emit([Rejected(0, raw.error, None, raw.excerpt)])
            continue
        obj = raw.obj
        if mapping.items:
            # each record is a container (e.g. JSONL of API responses)
            ctx.file_captured_at = _meta_captured_at(path, mapping, kind, obj if type(obj) is dict else None)
            found = False
            for items_path in mapping.items:
                lst = compile_path(items_path)(obj)
                if type(lst) is list:
                    found = True
                    for item in lst:
                        yield from emit(build(item))
            if not found:
                yield from emit(
                    [Rejected(0, f"no item list at {' / '.join(mapping.items)}", "items", _excerpt(obj))]
                )
            continue
        yield from emit(build(obj))


__all__ = ["iter_file", "FileReadError", "RawItem"]
