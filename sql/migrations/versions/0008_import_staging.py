"""A schema for the staging tables an import fills on its second connection.

Each import COPYs its chunks' post and profile rows on a second, autocommit connection into
UNLOGGED tables here (``postpulse.ingest.side_staging``), in parallel with its own transaction,
and drops them when it ends; nothing else lives here. See that module for why.

Revision ID: 0008_import_staging
Revises: 0007_daily_metrics_storage
"""

from alembic import op

revision = "0008_import_staging"
down_revision = "0007_daily_metrics_storage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS import_staging")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS import_staging CASCADE")
