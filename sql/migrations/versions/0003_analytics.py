"""Daily metrics: per day per post, rolled up per profile, account,
workspace, tag and platform. Engagement is attributed to the day it happened (differences of
consecutive snapshots), never to the publication day.

Revision ID: 0003_analytics
Revises: 0002_ingest
"""

from alembic import op

revision = "0003_analytics"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE daily_metrics (
  metric_date date NOT NULL,
  grain text NOT NULL CHECK (grain IN ('post', 'profile', 'account', 'workspace', 'tag', 'platform')),
  entity_id text NOT NULL,
  platform text,
  -- cumulative totals at the end of the day (last known value)
  reactions_total bigint CHECK (reactions_total >= 0),
  likes_total bigint CHECK (likes_total >= 0),
  comments_total bigint CHECK (comments_total >= 0),
  shares_total bigint CHECK (shares_total >= 0),
  views_total bigint CHECK (views_total >= 0),
  saves_total bigint CHECK (saves_total >= 0),
  -- engagement that happened on this day
  reactions_new double precision,
  likes_new double precision,
  comments_new double precision,
  shares_new double precision,
  views_new double precision,
  saves_new double precision,
  engagement_new double precision,
  engagement_rate double precision,
  posts_published integer NOT NULL DEFAULT 0 CHECK (posts_published >= 0),
  posts_tracked integer NOT NULL DEFAULT 0 CHECK (posts_tracked >= 0),
  posts_settled integer NOT NULL DEFAULT 0 CHECK (posts_settled >= 0),
  snapshots integer NOT NULL DEFAULT 0 CHECK (snapshots >= 0),
  -- true when part of the day's numbers were spread over a multi-day gap between snapshots
  is_estimated boolean NOT NULL DEFAULT false,
  is_settled boolean,
  actions_completed integer NOT NULL DEFAULT 0 CHECK (actions_completed >= 0),
  actions_failed integer NOT NULL DEFAULT 0 CHECK (actions_failed >= 0),
  computed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (metric_date, grain, entity_id)
);
CREATE INDEX idx_daily_metrics_grain_entity ON daily_metrics (grain, entity_id, metric_date);
CREATE INDEX idx_daily_metrics_platform ON daily_metrics (platform, metric_date);
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS daily_metrics;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
