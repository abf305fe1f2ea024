"""Snapshots captured before their post was published.

A capture time earlier than the post's ``posted_at`` is impossible (usually a wrong
``--captured-at``). Such snapshots are kept but flagged, so analytics can leave them out of
attribution, growth curves and time-to-engagement; each run counts them.

Revision ID: 0009_capture_before_post
Revises: 0008_import_staging
"""

from alembic import op

revision = "0009_capture_before_post"
down_revision = "0008_import_staging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE data_downloads ADD COLUMN captured_before_post boolean NOT NULL DEFAULT false;
        ALTER TABLE download_runs ADD COLUMN snapshots_captured_before_post integer NOT NULL DEFAULT 0
          CHECK (snapshots_captured_before_post >= 0);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE download_runs DROP COLUMN IF EXISTS snapshots_captured_before_post;
        ALTER TABLE data_downloads DROP COLUMN IF EXISTS captured_before_post;
        """
    )
