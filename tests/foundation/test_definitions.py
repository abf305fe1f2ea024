"""The whole Definitions loads, and the store asset materializes against a real database."""

import dagster as dg

from orchestration.definitions import defs
from postpulse.store import migrate
from resources.store import PostgresStore


def test_definitions_load_and_graph():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert "store_overview" in keys
    assert "store" in repo.get_top_level_resources()


def test_store_overview_materializes(db_url):
    from assets.store_overview import store_overview

    result = dg.materialize([store_overview], resources={"store": PostgresStore(database_url=db_url)})
    assert result.success
    mat = result.asset_materializations_for_node("store_overview")[0]
    assert mat.metadata["schema_revision"].value == migrate.head_revision()
    assert mat.metadata["rows/posts"].value == 0
    assert "***" in mat.metadata["database"].value or "@" not in mat.metadata["database"].value


def test_dagster_definitions_validate_passes(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "All code locations passed validation" in result.stdout + result.stderr
