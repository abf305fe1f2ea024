"""Analytics over the store: post metric time series, daily metrics, named DuckDB queries,
plots, reports and data-quality checks. Plain Python (no dagster); ``assets/analytics`` wraps it.

DuckDB reads PostgreSQL through its postgres extension (``ATTACH ... (TYPE postgres,
READ_ONLY)``); results that must be stored (``daily_metrics``) are written back with psycopg
``COPY`` inside one PostgreSQL transaction.
"""
