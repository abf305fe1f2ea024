"""What every import does for the agency, inside the import's transaction right after its
merge (one call from :func:`postpulse.ingest.loader.load_records`):

* links the run's profiles and posts to our accounts (:mod:`postpulse.agency.links`);
* gives the run's posts the tags of the active tag rules (:mod:`postpulse.agency.rules`);
* adds a profile snapshot for each profile of the run that carried counts
  (:mod:`postpulse.agency.profile_snapshots`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.links import link_run
from postpulse.agency.profile_snapshots import record_from_import
from postpulse.agency.rules import apply_to_run


def after_import(conn: Connection, run_id: str) -> None:
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM accounts)")).scalar():
        link_run(conn, run_id)
    apply_to_run(conn, run_id)
    record_from_import(conn, run_id)
