"""Security: a table for secrets kept encrypted in the store (the DM text hash key), and the
read-only role the analytics connect as.

``vault_secrets`` holds AES-GCM envelopes (``postpulse.crypto``) bound to their row id, like every
other encrypted column; ``postpulse keys rotate`` re-encrypts them. The role ``postpulse_reader``
is created and granted by ``postpulse.analytics.reader_role`` (also re-run at every ``postpulse db
upgrade``); when the migrating role cannot create roles the migration still succeeds and says so.

Revision ID: 0017_security
Revises: 0016_official_apis
"""

from alembic import op

revision = "0017_security"
down_revision = "0016_official_apis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE vault_secrets (
  id text PRIMARY KEY CHECK (id ~ '^[a-z0-9_]{1,64}$'),
  value_encrypted bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
)"""
    )
    from postpulse.analytics.reader_role import ensure_reader_role

    bind = op.get_bind()
    problem = ensure_reader_role(bind, bind.engine.url.password)
    if problem:
        print(f"note: {problem}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS vault_secrets")
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postpulse_reader') THEN "
        "EXECUTE 'DROP OWNED BY postpulse_reader'; END IF; END $$"
    )
