"""The one Definitions object of postpulse, loaded by workspace.yaml.

Each area keeps its complete wiring in ``orchestration/<area>.py`` as ``defs`` (its assets from
``assets/<area>/``, checks, jobs, sensors, schedules and the resources they need); this file
merges them. A new area adds one import below and one entry in ``Definitions.merge``.
The graph is pinned by ``tests/foundation/definitions_snapshot.json`` (see its test).
"""

import warnings

import dagster as dg

# postpulse uses beta parameters knowingly (single-run backfills of daily_metrics, sensors'
# owners); without this the same warnings repeat in every run's and every tick's log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from orchestration import (
    agency,
    analytics,
    bluesky,
    engagement,
    ingest,
    operations,
    platforms,
    publishing,
    store,
)

defs = dg.Definitions.merge(
    store.defs,
    ingest.defs,
    analytics.defs,
    engagement.defs,
    agency.defs,
    bluesky.defs,
    operations.defs,
    publishing.defs,
    platforms.defs,
)
