"""The Dagster graph is pinned: asset keys with their groups and upstream assets, asset checks,
jobs, sensors, schedules and resources, as ``definitions_snapshot.json`` beside this file. A
change to the graph then shows as a diff of that file in review.

After an intended change, rewrite the snapshot and commit it with the change:

    POSTPULSE_UPDATE_SNAPSHOT=1 python -m pytest tests/foundation/test_definitions_snapshot.py
"""

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_ENV = "POSTPULSE_UPDATE_SNAPSHOT"


def graph_of(defs: dg.Definitions) -> dict:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    jobs = sorted(name for name in repo.job_names if not name.startswith("__"))
    sensors = {
        s.name: {
            "jobs": sorted(t.job_name for t in s.targets) if s.has_jobs else [],
            "default_status": s.default_status.value,
        }
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    schedules = {
        s.name: {
            "job": s.job_name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.value,
        }
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    return {
        "assets": assets,
        "asset_checks": checks,
        "jobs": jobs,
        "sensors": sensors,
        "schedules": schedules,
        "resources": sorted(repo.get_top_level_resources()),
    }


def test_the_graph_matches_its_snapshot():
    from orchestration.definitions import defs

    current = graph_of(defs)
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), f"no {SNAPSHOT.name}: write it with {UPDATE_ENV}=1 and commit it"
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    if current != pinned:
        changed = sorted(k for k in current.keys() | pinned.keys() if current.get(k) != pinned.get(k))
        raise AssertionError(
            f"the Dagster graph differs from {SNAPSHOT.name} in: {', '.join(changed)}. If the change is "
            f"intended, rewrite the snapshot ({UPDATE_ENV}=1 python -m pytest {Path(__file__).name}) and "
            "commit it with the change, so the reviewer sees it."
        )


def test_a_changed_graph_is_reported():
    """The comparison above can fail: one asset more is a different graph."""
    from orchestration.definitions import defs

    @dg.asset(group_name="extra")
    def one_more_asset() -> None: ...

    bigger = dg.Definitions.merge(defs, dg.Definitions(assets=[one_more_asset]))
    assert graph_of(bigger) != graph_of(defs)
    assert graph_of(bigger)["assets"]["one_more_asset"] == {"group": "extra", "upstream": []}


def test_each_area_is_merged():
    """Every ``orchestration/<area>.py`` is part of the merged definitions: its assets, jobs,
    sensors and schedules all appear there."""
    import importlib
    import pkgutil

    import orchestration
    from orchestration.definitions import defs

    merged = graph_of(defs)
    areas = [m.name for m in pkgutil.iter_modules(orchestration.__path__) if m.name != "definitions"]
    assert {"store", "ingest", "analytics", "engagement"} <= set(areas)
    for name in areas:
        area = importlib.import_module(f"orchestration.{name}").defs
        parts = {
            "assets": {k.to_user_string() for a in area.assets or [] for k in getattr(a, "keys", ())},
            "jobs": {j.name for j in area.jobs or []},
            "sensors": {s.name for s in area.sensors or []},
            "schedules": {s.name for s in area.schedules or []},
        }
        for part, names in parts.items():
            missing = names - set(merged[part])
            assert not missing, (
                f"orchestration/{name}.py is not merged in orchestration/definitions.py: {missing}"
            )
