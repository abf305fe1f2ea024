"""The same value means the same thing in every container (CSV cells are strings), and dates of
other shapes: a mapping's ``date_format`` and the compact ``YYYYMMDD`` form."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from postpulse.ingest import BadTime, PostRecord, Rejected, iter_file, parse_datetime
from postpulse.ingest.mapping import MappingError, load_mapping_file

POST = {
    "id": "2781942365739423907",
    "shortCode": "Cabcdefghij",
    "type": "Image",
    "caption": "hidden likes",
    "timestamp": "2025-07-11T10:18:29.000Z",
    "ownerUsername": "goodtrip",
    "likesCount": -1,
    "commentsCount": 4,
}


def _write_csv(path, records):
    keys = list(records[0])
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(records)
    return path


@pytest.mark.parametrize("hidden", [-1, "-1", " -1 ", "-1.0"])
def test_hidden_count_is_null_in_csv_as_in_json(tmp_path, hidden):
    j = tmp_path / "posts.json"
    j.write_text(json.dumps([POST]))
    c = _write_csv(tmp_path / "posts.csv", [{**POST, "likesCount": hidden}])
    (from_json,) = list(iter_file(j))
    (from_csv,) = list(iter_file(c))
    assert type(from_json) is PostRecord and type(from_csv) is PostRecord, from_csv
    assert from_json.counts.likes is None and from_csv.counts.likes is None
    assert from_json.counts.comments == from_csv.counts.comments == 4


def test_other_negative_counts_are_still_rejected_in_csv(tmp_path):
    c = _write_csv(tmp_path / "posts.csv", [{**POST, "likesCount": "-2"}])
    (rec,) = list(iter_file(c))
    assert type(rec) is Rejected and "negative" in rec.reason


@pytest.mark.parametrize(
    "value, expected",
    [
        ("20250314", datetime(2025, 3, 14, tzinfo=UTC)),
        (20250314, datetime(2025, 3, 14, tzinfo=UTC)),
        ("19991231", datetime(1999, 12, 31, tzinfo=UTC)),
        ("1741910400", datetime(2025, 3, 14, tzinfo=UTC)),  # unix seconds stay unix seconds
        (1741910400000, datetime(2025, 3, 14, tzinfo=UTC)),
    ],
)
def test_compact_dates_and_unix_times(value, expected):
    assert parse_datetime(value) == expected


def test_eight_digits_that_are_no_date_are_not_taken_for_one():
    with pytest.raises(BadTime, match="out of range"):
        parse_datetime("20251399")  # month 13: read as unix seconds, which is 1970


def _mapping(tmp_path, date_spec: str):
    m = tmp_path / "export.toml"
    m.write_text(
        "\n".join(
            [
                'name = "dated_export"',
                'platform = "facebook"',
                "[detect]",
                'all = ["post_id", "day"]',
                "[fields]",
                'platform_post_id = "post_id"',
                f"posted_at = {date_spec}",
                "[counts]",
                'likes = { path = "likes", none_if = [-1] }',
            ]
        )
    )
    return m


def test_date_format_reads_other_shapes(tmp_path):
    m = _mapping(tmp_path, '{ path = "day", date_format = "%d/%m/%Y %H:%M" }')
    c = _write_csv(
        tmp_path / "export.csv",
        [
            {"post_id": "a", "day": "14/03/2025 09:30", "likes": "-1"},
            {"post_id": "b", "day": "2025-03-14", "likes": "7"},
            {"post_id": "c", "day": "", "likes": "8"},
        ],
    )
    a, b, c_ = list(iter_file(c, mapping_paths=[m]))
    assert a.posted_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC) and a.counts.likes is None
    assert type(b) is Rejected and b.field == "posted_at" and "date_format" in b.reason
    assert c_.posted_at is None and c_.counts.likes == 8


def test_date_format_with_a_zone_is_converted_to_utc(tmp_path):
    m = _mapping(tmp_path, '{ path = "day", date_format = "%Y%m%d %H%M %z" }')
    j = tmp_path / "export.json"
    j.write_text(json.dumps([{"post_id": "a", "day": "20250314 1130 +0200"}]))
    (a,) = list(iter_file(j, mapping_paths=[m]))
    assert a.posted_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ('{ path = "day", date_format = "dd/mm/yyyy" }', "strptime format"),
        ('{ path = "day", date_format = "%d/%m/%Y", transform = "lower" }', "with 'path'"),
    ],
)
def test_bad_date_format_names_the_key(tmp_path, spec, problem):
    with pytest.raises(MappingError, match=problem) as exc:
        load_mapping_file(_mapping(tmp_path, spec))
    assert "posted_at" in str(exc.value)
