"""Alerts: every alert raised (a failed run, a frozen account, an expired session, a failing
check, overdue check-backs, a watch over budget, the daily digest), once per deduplication key,
with what was sent to which channel.

Revision ID: 0014_alerts
Revises: 0013_bluesky
"""

from alembic import op

revision = "0014_alerts"
down_revision = "0013_bluesky"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE alerts (
  id text PRIMARY KEY CHECK (id ~ '^alr-[0-9a-f]{1,8}$'),
  -- one alert per key, ever: e.g. run_failed:<run id>, account_frozen:<account>:<frozen until>
  dedup_key text NOT NULL UNIQUE CHECK (length(dedup_key) BETWEEN 1 AND 500),
  kind text NOT NULL CHECK (kind IN ('run_failed', 'account_frozen', 'session_expired', 'watch_over_budget',
    'check_failed', 'checkbacks_overdue', 'digest')),
  severity text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'error')),
  title text NOT NULL,
  body text NOT NULL DEFAULT '',
  -- the Dagster run or the object the alert is about
  link text,
  workspace_id text REFERENCES workspaces (id) ON DELETE SET NULL,
  account_id text REFERENCES accounts (id) ON DELETE SET NULL,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- per channel: {"email": {"ok": true, "at": ...}, "webhook:1": {"ok": false, "error": ...}}
  deliveries jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX idx_alerts_created ON alerts (created_at);
CREATE INDEX idx_alerts_unsent ON alerts (created_at) WHERE sent_at IS NULL;
CREATE INDEX idx_alerts_kind ON alerts (kind, created_at);
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alerts")
