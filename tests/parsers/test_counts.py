import math

import pytest

from postpulse.ingest.counts import BadCount, parse_count


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0),
        (42, 42),
        (42.0, 42),
        ("42", 42),
        (" 42 ", 42),
        ("3,401", 3401),
        ("1,234,567", 1234567),
        ("1.2K", 1200),
        ("1.2k", 1200),
        ("1,2K", 1200),
        ("12K", 12000),
        ("1.2M", 1_200_000),
        ("12.28 M", 12_280_000),
        ("2B", 2_000_000_000),
        ("12 345", 12345),
        ("12\u00a0345", 12345),
        ("1.234.567", 1234567),
        ("3.401", 3401),
        ("10.0", 10),
        ("149,998", 149998),
        ("+1,000", 1000),
        ("14K", 14000),
        ("1.5k+", 1500),
        ("0", 0),
        (10**12, 10**12),
    ],
)
def test_parse_count_values(value, expected):
    assert parse_count(value, field="likes") == expected


@pytest.mark.parametrize("value", [None, "", "-", "  ", "N/A", "null", "—"])
def test_absent_counts_are_none_never_zero(value):
    assert parse_count(value, field="likes") is None


@pytest.mark.parametrize(
    "value, reason",
    [
        (-1, "negative"),
        ("-5", "negative"),
        (-3.0, "negative"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("nan", "finite"),
        (10**12 + 1, "absurd"),
        ("2T", "absurd"),
        ("9" * 20, "absurd"),
        (1.5, "whole"),
        ("1.5", "whole"),
        ("abc", "not a number"),
        ("12abc", "not a number"),
        (True, "boolean"),
        ({"a": 1}, "object"),
        ([1], "list"),
        ("1,23,4", "not a number"),
    ],
)
def test_bad_counts_raise_with_field_and_reason(value, reason):
    with pytest.raises(BadCount) as exc:
        parse_count(value, field="views")
    assert exc.value.field == "views"
    assert reason in exc.value.reason
    assert "views" in str(exc.value)
