from datetime import UTC, datetime, timedelta

import pytest

from postpulse.ingest import capture_time_from_filename, parse_datetime, parse_relative
from postpulse.ingest.timeparse import BadTime

UTC = UTC


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-11-14T21:27:16.100Z", datetime(2025, 11, 14, 21, 27, 16, 100000, tzinfo=UTC)),
        ("2025-12-05 14:37:10", datetime(2025, 12, 5, 14, 37, 10, tzinfo=UTC)),  # naive = UTC
        ("2025-12-05T16:37:10+02:00", datetime(2025, 12, 5, 14, 37, 10, tzinfo=UTC)),
        (1764941830371, datetime(2025, 12, 5, 13, 37, 10, 371000, tzinfo=UTC)),  # ms
        (1736159311, datetime(2025, 1, 6, 10, 28, 31, tzinfo=UTC)),  # s
        ("1736159311", datetime(2025, 1, 6, 10, 28, 31, tzinfo=UTC)),
        (1736159311.5, datetime(2025, 1, 6, 10, 28, 31, 500000, tzinfo=UTC)),
        ("Wed Oct 10 20:19:24 +0000 2018", datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)),
        ("Sat Jun 21 18:05:00 +0000 2025", datetime(2025, 6, 21, 18, 5, tzinfo=UTC)),
        (
            {"timestamp": 1764941830371, "date": "2025-12-05 14:37:10"},
            datetime(2025, 12, 5, 13, 37, 10, 371000, tzinfo=UTC),
        ),
        ({"date": "2025-12-05T14:37:10Z"}, datetime(2025, 12, 5, 14, 37, 10, tzinfo=UTC)),
        ("Thu, 01 Jan 2026 10:00:00 GMT", datetime(2026, 1, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_datetime(value, expected):
    got = parse_datetime(value)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", 0, "0"])
def test_absent_datetimes(value):
    assert parse_datetime(value) is None


@pytest.mark.parametrize(
    "value", ["yesterday-ish", "2025-13-45", 10**20, -5, True, [1], "99999999999999999999999"]
)
def test_bad_datetimes(value):
    with pytest.raises(BadTime):
        parse_datetime(value)


REF = datetime(2025, 12, 6, 11, 28, 56, 790000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value, delta",
    [
        ("5d", timedelta(days=5)),
        ("3w", timedelta(weeks=3)),
        ("2mo", timedelta(days=60)),
        ("1y", timedelta(days=365)),
        ("1yr", timedelta(days=365)),
        ("4h", timedelta(hours=4)),
        ("30m", timedelta(minutes=30)),
        ("5 days ago", timedelta(days=5)),
        ("1w •", timedelta(weeks=1)),
        ("21 hours ago • Edited • Visible to anyone on or off LinkedIn", timedelta(hours=21)),
        ("1 month ago • Visible to anyone", timedelta(days=30)),
        ("an hour ago", timedelta(hours=1)),
        ("just now", timedelta(0)),
        ("9mo", timedelta(days=270)),
        ("16h", timedelta(hours=16)),
    ],
)
def test_relative_times(value, delta):
    assert parse_relative(value, REF) == REF - delta


def test_relative_needs_a_reference_and_a_relative_value():
    assert parse_relative("5d", None) is None
    assert parse_relative("2025-01-01", REF) is None
    assert parse_relative("Edited", REF) is None


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json",
            datetime(2025, 12, 6, 11, 28, 56, 790000, tzinfo=UTC),
        ),
        (
            "uploads__intel__dataset_instagram-hashtag-scraper_2025-09-22_11-58-11-805.jsonl",
            datetime(2025, 9, 22, 11, 58, 11, 805000, tzinfo=UTC),
        ),
        (
            "/some/dir/docMaman__dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json.gz",
            datetime(2025, 12, 6, 11, 28, 56, 790000, tzinfo=UTC),
        ),
        ("export_2025-01-02_03-04-05.csv", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("threads_posts.json", None),
        ("dataset_x_2025-13-40_99-00-00-000.json", None),
    ],
)
def test_capture_time_from_filename(name, expected):
    assert capture_time_from_filename(name) == expected
