"""Ingestion tuning: the per-platform due-post index for the check-back sensor.

The sensor batches due posts per platform (``WHERE platform = ? AND tracking_complete = false
AND next_check_at <= now ORDER BY next_check_at LIMIT n``) and lists the platforms that have due
posts with a skip scan; both read this partial index only.

Revision ID: 0005_ingest_tuning
Revises: 0004_engagement
"""

from alembic import op

revision = "0005_ingest_tuning"
down_revision = "0004_engagement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX idx_posts_due_platform ON posts (platform, next_check_at) "
        "WHERE tracking_complete = false"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_posts_due_platform")
