"""Materialization metadata of an import / pull / check-back run (no secrets, ever)."""

import os

import dagster as dg

from postpulse.ingest.loader import ImportResult

INGEST_KEYS = ("download_runs", "data_downloads", "posts", "profiles", "comments")


def _cell(value) -> str:
    return str(value)[:120].replace("|", "/").replace("\n", " ")


def run_metadata(res: ImportResult) -> dict:
    md = {
        "run_id": dg.MetadataValue.text(res.run_id or ""),
        "status": dg.MetadataValue.text(res.status),
        "source": dg.MetadataValue.path(res.source_path)
        if res.source_path
        else dg.MetadataValue.text("(stream)"),
        "format": dg.MetadataValue.text(res.format or "unknown"),
        "captured_at": dg.MetadataValue.text(res.captured_at.isoformat() if res.captured_at else ""),
        "captured_at_source": dg.MetadataValue.text(res.captured_at_source or ""),
        "rows_new": dg.MetadataValue.int(res.posts_new),
        "rows_updated": dg.MetadataValue.int(res.posts_updated),
        "rows_rejected": dg.MetadataValue.int(res.records_rejected),
        "snapshots_new": dg.MetadataValue.int(res.snapshots_new),
        "posts_fetched": dg.MetadataValue.int(res.posts_fetched),
        "comments_upserted": dg.MetadataValue.int(res.comments_upserted),
        "snapshots_captured_before_post": dg.MetadataValue.int(res.snapshots_captured_before_post),
    }
    if res.source_sha256:
        md["source_sha256"] = dg.MetadataValue.text(res.source_sha256)
    if res.rejected:
        name = _cell(os.path.basename(res.source_path or "") or "(stream)")
        rows = "\n".join(
            f"| {name} | {r['record_index']} | {_cell(r.get('field') or '')} | {_cell(r['reason'])} |"
            for r in res.rejected
        )
        more = (
            (
                f"\n\n{res.records_rejected - len(res.rejected)} more in the table rejected_records "
                f"(run_id = {res.run_id})"
            )
            if res.records_rejected > len(res.rejected)
            else ""
        )
        md["rejected_records"] = dg.MetadataValue.md(
            "| file | record | field | reason |\n|---|---:|---|---|\n" + rows + more
        )
    return md


def table_rows(engine) -> dict[str, int]:
    """The row count of every ingest table (``dagster/row_count`` is the table's size)."""
    from sqlalchemy import text

    sql = " UNION ALL ".join(f"SELECT '{k}', count(*) FROM {k}" for k in INGEST_KEYS)  # fixed names
    with engine.connect() as conn:
        return {name: int(n) for name, n in conn.execute(text(sql))}


def metadata_for(key: str, res: ImportResult, rows: dict[str, int] | None = None) -> dict:
    """Per-table metadata: the run's counts plus what matters for that table. ``run_rows`` is what
    this run wrote to the table; ``dagster/row_count`` the table's rows (when ``rows`` is given)."""
    md = run_metadata(res)
    run_rows = {
        "posts": res.posts_new + res.posts_updated,
        "data_downloads": res.snapshots_new,
        "comments": res.comments_upserted,
        "profiles": res.profiles_new,
        "download_runs": 1,
    }
    md["run_rows"] = dg.MetadataValue.int(run_rows[key])
    if rows is not None and key in rows:
        md["dagster/row_count"] = dg.MetadataValue.int(rows[key])
    if key == "posts":
        md["preview"] = dg.MetadataValue.md(res.preview_markdown())
    elif key == "profiles":
        md["profiles_new"] = dg.MetadataValue.int(res.profiles_new)
    return md


def materializations(res: ImportResult, description: str = "", rows: dict[str, int] | None = None) -> list:
    """Runtime materializations of the ingest tables (for op jobs: pulls and check-backs)."""
    return [
        dg.AssetMaterialization(
            asset_key=k, description=description or None, metadata=metadata_for(k, res, rows)
        )
        for k in INGEST_KEYS
    ]
