"""Analytics assets: post metrics time series, daily metrics (daily partitions), the named
DuckDB reports and the data-quality checks. Thin shells over ``postpulse.analytics``."""
