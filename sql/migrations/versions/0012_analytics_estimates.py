"""Columns for the daily_metrics estimates and the snapshots they leave out.

* ``data_downloads.captured_before_post``: a snapshot whose capture time is earlier than the
  post's ``posted_at`` (a wrong clock or time zone in the source). Such rows are kept, but the
  daily attribution, growth curves and time-to-engagement leave them out. ``IF NOT EXISTS``: the
  importer's schema may add the same column.
* ``daily_metrics.is_rounded``: a total of the row looks rounded by the platform (1.4M, 14.5K),
  so a flat count there says nothing about growth. ``ALTER TABLE`` on the parent adds the column
  to every day table (they inherit it).

Revision ID: 0012_analytics_estimates
Revises: 0011_agency
"""

from alembic import op

revision = "0012_analytics_estimates"
down_revision = "0011_agency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE data_downloads "
        "ADD COLUMN IF NOT EXISTS captured_before_post boolean NOT NULL DEFAULT false"
    )
    op.execute("ALTER TABLE daily_metrics ADD COLUMN IF NOT EXISTS is_rounded boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE daily_metrics DROP COLUMN IF EXISTS is_rounded")
    op.execute("ALTER TABLE data_downloads DROP COLUMN IF EXISTS captured_before_post")
