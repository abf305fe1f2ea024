"""Markdown previews in the Dagster UI: DATE columns shown as dates, timestamps with their time."""

from __future__ import annotations

from datetime import date

from postpulse.analytics.duck import open_analytics
from postpulse.analytics.report_format import markdown_table


def test_dates_are_dates_and_timestamps_keep_their_time(db_url):
    with open_analytics(db_url) as a:
        df = a.sql(
            "SELECT * FROM (VALUES (DATE '2025-01-31', TIMESTAMP '2025-01-31 10:30', 1), "
            "(NULL, TIMESTAMP '2025-02-01 00:00', 2)) t(metric_date, seen_at, n)"
        )
    assert str(df["metric_date"].dtype).startswith("datetime64")  # how DuckDB hands DATE to pandas
    lines = markdown_table(df).splitlines()  # also what `postpulse query` prints (dates_as_dates)
    assert lines[2] == "| 2025-01-31 | 2025-01-31 10:30 | 1 |"
    assert lines[3] == "|  | 2025-02-01 00:00 | 2 |"
    assert (
        markdown_table(df.assign(metric_date=[date(2025, 1, 31), None]))
        .splitlines()[2]
        .startswith("| 2025-01-31 |")
    )
