"""Turning query results into markdown previews, rich tables and files."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from postpulse.safe_text import for_display, for_spreadsheet

FORMATS = ("table", "csv", "parquet", "json")


def cell_text(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"
    return for_display(str(v)).replace("|", "\\|")


def dates_as_dates(df: pd.DataFrame) -> pd.DataFrame:
    """DuckDB hands DATE columns to pandas as timestamps: a column of midnights only is shown as
    dates (2025-01-31, not 2025-01-31 00:00)."""
    out = df
    for col in df.columns:
        values = df[col]
        if (
            pd.api.types.is_datetime64_any_dtype(values)
            and values.notna().any()
            and (values.dropna() == values.dropna().dt.normalize()).all()
        ):
            out = out.copy() if out is df else out
            out[col] = values.dt.strftime("%Y-%m-%d").where(values.notna(), None)
    return out


def markdown_table(df: pd.DataFrame | None, max_rows: int = 20) -> str:
    if df is None or df.empty:
        return "_no rows_"
    head = dates_as_dates(df.head(max_rows))
    cols = [str(c) for c in head.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.itertuples(index=False):
        lines.append("| " + " | ".join(cell_text(v) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more row(s)_")
    return "\n".join(lines)


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells (and column names) a spreadsheet would evaluate as formulas, quoted (OWASP)."""
    out = df.rename(columns=lambda c: for_spreadsheet(str(c)))
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(for_spreadsheet)
    return out


def write(df: pd.DataFrame, fmt: str, path: Path | None) -> str | None:
    """Write ``df`` as csv/parquet/json to ``path`` (or return the text for stdout); CSV cells
    are made spreadsheet-safe (``spreadsheet_safe``)."""
    if fmt == "csv":
        # CRLF rows (RFC 4180): a carriage return inside a cell is then quoted too
        text = spreadsheet_safe(df).to_csv(index=False, lineterminator="\r\n")
    elif fmt == "json":
        text = df.to_json(orient="records", date_format="iso", indent=1)
    elif fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs an output file (-o FILE)")
        df.to_parquet(path, index=False)
        return None
    else:
        raise ValueError(f"unknown format {fmt}")
    if path is None:
        return text
    path.write_text(text)
    return None
