"""Automation conditions shared by the assets."""

import dagster as dg


def on_cron_and_first(cron: str) -> dg.AutomationCondition:
    """On ``cron`` once the upstream data changed, and right away while the asset was never
    materialized (Dagster's ``on_missing`` only reacts to assets that *become* missing after the
    condition was added, so a fresh install would wait for the first cron tick)."""
    never_materialized = (
        dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.execution_failed()
    ).with_label("never materialized")
    return dg.AutomationCondition.on_cron(cron) | never_materialized
