"""Automatic format detection by content: the first records are matched against the
``[detect]`` rules of every mapping (user mappings first, then built-ins by priority and
specificity). The file name is never used on its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from postpulse.errors import PostpulseError

from .mapping import Mapping, MappingSet, compile_path, load_mappings
from .readers import (
    CSV,
    JSON_ARRAY,
    JSON_OBJECT,
    JSONL,
    FileReadError,
    JsonLimitError,
    ijson_prefix,
    iter_container,
    iter_record_lists,
    read_first_value,
    read_sample,
    sniff_container,
)

DETECT_RECORDS = 20
DETECT_ITEMS_PER_RECORD = 50
"""Detection gives up after ``DETECT_RECORDS * DETECT_ITEMS_PER_RECORD`` items that are not
records (numbers in an array, bad lines)."""


class UnknownFormatError(PostpulseError):
    """No mapping recognises the file's records."""

    def __init__(
        self,
        path: object,
        known: list[str],
        keys: list[str] | None = None,
        record_keys: list[str] | None = None,
    ):
        self.path = str(path)
        self.known = known
        self.record_keys = record_keys or []
        if self.record_keys:
            lists = ", ".join(f"{k!r}" for k in self.record_keys[:10])
            seen = (
                f" It is one JSON object; the lists of objects in it are under: {lists}, and the "
                f"first object of none of them is a known format."
            )
            fix = (
                f'describe the records in a mapping file with items = "{self.record_keys[0]}" '
                "(the key that holds them) and pass it with --mapping FILE.toml "
                "(see postpulse/ingest/mappings/README.md), or force a format with --format NAME"
            )
        else:
            seen = f" Its first record has the keys: {', '.join(keys[:25])}." if keys else ""
            fix = (
                "force one with --format NAME (iter_file(..., format=NAME)), or describe the "
                "format in a mapping file and pass it with --mapping FILE.toml "
                "(see postpulse/ingest/mappings/README.md)"
            )
        super().__init__(
            f"{self.path}: unknown format: no mapping recognises its records.{seen} "
            f"Known formats: {', '.join(known)}",
            fix=fix,
        )


def _iter_first_objects(source: Any, kind: str, limit: int = DETECT_RECORDS) -> Iterator[dict]:
    """The first ``limit`` object records, one at a time (detection holds one record, not 20
    records of up to 16 MB each)."""
    n = seen = 0
    it = iter_container(source, kind)
    try:
        for raw in it:
            obj, raw = raw.obj, None
            seen += 1
            if obj is not None and type(obj) is dict:
                yield obj
                obj = None
                n += 1
                if n >= limit:
                    break
            if seen >= limit * DETECT_ITEMS_PER_RECORD:
                break  # e.g. an array of numbers: no records to recognise, however long it is
    except FileReadError:
        if not isinstance(source, (bytes, bytearray)):
            raise
        # a sample may be cut anywhere: keep the records read before the cut
    finally:
        close = getattr(it, "close", None)
        if close:
            close()


def _first_objects(source: Any, kind: str, limit: int = DETECT_RECORDS) -> list[dict]:
    return list(_iter_first_objects(source, kind, limit))


def whole_object(source: Any) -> list[dict]:
    """The file's one JSON object as a record, or nothing when it is too big to be one (a
    wrapper of many records: those are looked for by key)."""
    try:
        return _first_objects(source, JSON_OBJECT, 1)
    except JsonLimitError as exc:
        if "nested deeper" in exc.problem:
            raise
        return []


def wrapped(mapping: Mapping, key: str) -> Mapping:
    """``mapping`` reading its records from the list at ``key`` of a JSON object
    (``{"videos": [...]}``); the format keeps its name."""
    return replace(mapping, items=(key,))


def find_wrapped(path: str | os.PathLike, mapping: Mapping) -> Mapping | None:
    """``mapping`` reading the list of a JSON object whose first object it matches, if any."""
    for key, first in iter_record_lists(path):
        if mapping.matches(first):
            return wrapped(mapping, key)
    return None


def _match_obj(obj: dict, mappings: MappingSet) -> Mapping | None:
    for m in mappings:
        if m.items:
            for path in m.items:
                lst = compile_path(path)(obj)
                if type(lst) is list:
                    first = next((x for x in lst if type(x) is dict), None)
                    if first is not None and m.matches(first):
                        return m
        elif m.matches(obj):
            return m
    return None


def detect_mapping(
    path: str | os.PathLike, mappings: MappingSet, sample: bytes | None = None, kind: str | None = None
) -> tuple[Mapping, str]:
    """(mapping, container kind) for the file; raises UnknownFormatError."""
    if kind is None:
        kind = sniff_container(path, read_sample(path, sample))
    source: Any = sample if sample is not None else path
    first_keys: list[str] | None = None
    record_keys: list[str] = []
    if kind == JSON_OBJECT:
        item_paths: list[str] = []
        for m in mappings:
            for p in m.items:
                if p not in item_paths:
                    item_paths.append(p)
        for p in item_paths:
            first = read_first_value(source, ijson_prefix(p))
            if type(first) is dict:
                for m in mappings:
                    if p in m.items and m.matches(first):
                        return m, kind
        objs = whole_object(source)
        if objs:
            first_keys = list(objs[0])
            for m in mappings:
                if not m.items and m.matches(objs[0]):
                    return m, kind
        for key, first in iter_record_lists(source):
            record_keys.append(key)
            m = _match_obj(first, mappings)
            if m is not None:
                return (m if m.items else wrapped(m, key)), kind
    else:
        seen = 0
        for obj in _iter_first_objects(source, kind):
            m = _match_obj(obj, mappings)
            if m is not None:
                return m, kind
            if first_keys is None:
                first_keys = list(obj)
            seen += 1
            obj = None  # noqa: PLW2901 - the record is not held while the next is read
        if seen == 1 and kind == JSONL and sample is None:
            # one object on one line is as much a JSON document: its lists may hold the records
            return detect_mapping(path, mappings, kind=JSON_OBJECT)
    if record_keys:
        raise UnknownFormatError(path, mappings.names(), first_keys, record_keys)
    raise UnknownFormatError(path, mappings.names(), first_keys)


def detect_format(path: str | os.PathLike, sample: bytes | None = None, *, mapping_paths=()) -> str:
    """Name of the file's format (e.g. ``apify_x_tweets``, ``mapping:youtube_videos``).
    ``sample`` (the first bytes of the file, gzip allowed) is used instead of reading ``path``."""
    mappings = load_mappings(mapping_paths)
    mapping, _ = detect_mapping(path, mappings, sample)
    return mapping.format_name


__all__ = ["UnknownFormatError", "detect_format", "detect_mapping", "CSV", "JSONL", "JSON_ARRAY"]
