"""Parsing layer of postpulse: scraper exports and API responses -> normalized records.

Plain Python (no Dagster, no database). Public API::

    detect_format(path, sample=None, *, mapping_paths=()) -> str
    iter_file(path, format=None, *, mapping_paths=(), captured_at=None)
        -> Iterator[PostRecord | CommentRecord | HashtagStatsRecord | Rejected]
    capture_time_from_filename(name) -> datetime | None
    load_mappings(extra_paths=()) -> MappingSet
    parse_count(value, *, field) -> int | None      (postpulse.ingest.counts)
    parse_datetime / parse_relative                (postpulse.ingest.timeparse)

Errors: FileReadError (file unreadable: store nothing from it), UnknownFormatError,
MappingError (bad mapping file), BadCount/BadTime/BadValue (become Rejected records).
"""

from .counts import BadCount, parse_count
from .detect import UnknownFormatError, detect_format
from .mapping import BadValue, Mapping, MappingError, MappingSet, load_mapping_file, load_mappings
from .parsers.run import iter_file
from .readers import FileReadError
from .records import (
    CommentRecord,
    HashtagStatsRecord,
    MediaRecord,
    MetricCounts,
    PostRecord,
    ProfileRecord,
    Rejected,
)
from .timeparse import BadTime, capture_time_from_filename, parse_datetime, parse_relative


def known_formats(mapping_paths=()) -> list[str]:
    """Names of all formats (built-in and from the given mapping files), detection order."""
    return load_mappings(mapping_paths).names()


__all__ = [
    "BadCount",
    "BadTime",
    "BadValue",
    "CommentRecord",
    "FileReadError",
    "HashtagStatsRecord",
    "Mapping",
    "MappingError",
    "MappingSet",
    "MediaRecord",
    "MetricCounts",
    "PostRecord",
    "ProfileRecord",
    "Rejected",
    "UnknownFormatError",
    "capture_time_from_filename",
    "detect_format",
    "iter_file",
    "known_formats",
    "load_mapping_file",
    "load_mappings",
    "parse_count",
    "parse_datetime",
    "parse_relative",
]
