"""DuckDB attach against the real test database, read-only refusal, named queries, post metrics."""

from __future__ import annotations

import pytest

from postpulse.analytics import queries
from postpulse.analytics.duck import check_read_only, libpq_conninfo, open_analytics, run_user_query
from postpulse.analytics.errors import AnalyticsError, BadParameter, QueryRefused, UnknownReport


def test_attach_over_unix_socket_url(db_url, duck):
    assert "host=" in libpq_conninfo(db_url)
    assert duck.sql("SELECT count(*) AS n FROM posts")["n"][0] == 0  # unqualified table name
    assert duck.sql("SELECT count(*) AS n FROM pg.public.data_downloads")["n"][0] == 0
    assert duck.sql("SELECT current_setting('autoinstall_known_extensions') AS v")["v"][0] in (False, "false")
    assert (
        duck.sql("SELECT count(*) AS n FROM duckdb_functions() WHERE function_name = 'postgres_query'")["n"][
            0
        ]
        >= 1
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO posts (id) VALUES ('p-1')",
        "DELETE FROM posts",
        "UPDATE posts SET url = 'x'",
        "DROP TABLE posts",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH 'x.db' AS y",
        "COPY posts TO 'x.csv'",
        "SET threads = 1",
        "SELECT 1; DELETE FROM posts",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
    ],
)
def test_writes_and_ddl_refused_before_execution(sql):
    with pytest.raises(QueryRefused) as exc:
        check_read_only(sql)
    assert "\n" not in str(exc.value)


def test_malformed_query_is_one_line(duck):
    with pytest.raises(QueryRefused, match="does not parse"):
        check_read_only("SELEC 1")
    with pytest.raises(AnalyticsError, match="query failed"):
        run_user_query(duck, "SELECT * FROM no_such_table")


def test_store_stays_read_only_even_through_postgres_execute(duck):
    with pytest.raises(AnalyticsError):
        run_user_query(duck, "SELECT * FROM postgres_execute('pg', 'DELETE FROM posts')")
    with pytest.raises(AnalyticsError):
        run_user_query(duck, "SELECT * FROM read_csv('/etc/passwd')")


def test_bad_store_url_is_a_clear_error(tmp_path):
    with pytest.raises(AnalyticsError, match="could not open the store"):
        open_analytics(f"postgresql://nobody@/nodb?host={tmp_path}")


def test_every_named_query_runs_on_an_empty_store(duck):
    lib = queries.load_library()
    assert {
        "growth_curves",
        "top_posts",
        "engagement_rate_over_time",
        "best_time_to_post",
        "time_to_half_engagement",
        "tag_performance",
        "cross_platform",
        "anomalies",
        "post_metrics",
        "post_series",
    } <= set(lib)
    for q in lib.values():
        assert q.run(duck).empty, q.name


def test_every_named_query_runs_on_data(duck, scenario):
    lib = queries.load_library()
    for q in lib.values():
        q.run(duck)  # no error
    top = lib["top_posts"].run(duck, {"since": "2025-01-01", "until": "2025-01-31"})
    assert set(top["platform"]) == {"instagram", "linkedin"}
    half = lib["time_to_half_engagement"].run(duck)
    a = half[half["post_id"] == scenario["posts"]["A"]].iloc[0]
    # A: final engagement 131, half 65.5 reached between 20:00 Jan 10 (58) and 20:00 Jan 13 (130)
    assert a["final_engagement"] == 131
    assert a["hours_to_half"] == pytest.approx(10 + 72 * (65.5 - 58) / (130 - 58), abs=0.01)


def test_parameters_are_checked():
    q = queries.get("top_posts")
    with pytest.raises(BadParameter, match="not a date"):
        q.bind({"since": "yesterday"})
    with pytest.raises(BadParameter, match="no parameter"):
        q.bind({"nope": "1"})
    with pytest.raises(UnknownReport, match="available: .*growth_curves"):
        queries.get("no_such_report")
    # an injection attempt is just a value
    assert q.bind({"platform": "x' OR 1=1 --"})["platform"] == "x' OR 1=1 --"


def test_post_metrics_standard_ages(duck, scenario):
    df = queries.get("post_metrics").run(duck)
    a = df[df["post_id"] == scenario["posts"]["A"]].set_index("age_label")
    # A posted 10:00; 1 h = 11:00 is exactly a snapshot -> exact
    assert not a.loc["1h", "interpolated"] and a.loc["1h", "engagement"] == 11
    # 24 h = Jan 11 10:00, between Jan 10 20:00 (58) and Jan 13 20:00 (130): 14 of 72 h
    assert a.loc["24h", "interpolated"]
    assert a.loc["24h", "engagement"] == pytest.approx(58 + 72 * 14 / 72)
    # 7 d = Jan 17 10:00, after the last snapshot: NULL, not extrapolated
    assert a.loc["7d", "engagement"] != a.loc["7d", "engagement"] or a.loc["7d", "engagement"] is None
    c = df[df["post_id"] == scenario["posts"]["C"]].set_index("age_label")
    # C: single snapshot at 3 h; 1 h is before it -> NULL
    assert c["engagement"].isna().all()


def test_post_series_deltas_and_velocity(duck, scenario):
    df = queries.get("post_series").run(duck, {"post_id": scenario["posts"]["A"]})
    assert list(df["engagement"]) == [11, 35, 58, 130, 131]
    assert list(df["engagement_delta"].iloc[1:]) == [24, 23, 72, 1]
    assert df["engagement_per_hour"].iloc[1] == pytest.approx(24 / 4)
    single = queries.get("post_series").run(duck, {"post_id": scenario["posts"]["C"]})
    assert len(single) == 1 and single["engagement_delta"].isna().all()


def test_duckdb_settings_from_env(db_url, monkeypatch):
    monkeypatch.setenv("POSTPULSE_DUCKDB_THREADS", "1")
    monkeypatch.setenv("POSTPULSE_DUCKDB_MEMORY_LIMIT", "512MB")
    with open_analytics(db_url) as a:
        row = a.con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert row[0] == 1 and row[1].replace(" ", "").upper() in ("512.0MIB", "488.2MIB", "512MB", "488.2MB")
    monkeypatch.setenv("POSTPULSE_DUCKDB_THREADS", "many")
    with pytest.raises(AnalyticsError, match="POSTPULSE_DUCKDB_THREADS"):
        open_analytics(db_url)
    monkeypatch.setenv("POSTPULSE_DUCKDB_THREADS", "2")
    monkeypatch.setenv("POSTPULSE_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(AnalyticsError, match="POSTPULSE_DUCKDB_MEMORY_LIMIT"):
        open_analytics(db_url)
