"""Ingestion: download runs, data downloads (the metrics time series), rejected records.

Download runs and every metric reading of a post (exports, analytics, check-backs) in one
append-only snapshot table; the posts_pending_checkback view and API usage tracking.

Revision ID: 0002_ingest
Revises: 0001_core
"""

from alembic import op

revision = "0002_ingest"
down_revision = "0001_core"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE download_runs (
  id text PRIMARY KEY CHECK (id ~ '^run-[0-9a-f]{1,8}$'),
  started_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  source_kind text NOT NULL DEFAULT 'file'
    CHECK (source_kind IN ('file', 'apify', 'api', 'checkback', 'sandbox', 'browser')),
  script_name text,
  platform text,
  format text,
  source_path text,
  source_sha256 text CHECK (source_sha256 ~ '^[0-9a-f]{64}$'),
  source_bytes bigint CHECK (source_bytes >= 0),
  -- capture time of the snapshots and where it came from
  captured_at timestamptz,
  captured_at_source text CHECK (captured_at_source IN ('record', 'filename', 'cli', 'import_time',
      'fetch_time')),
  posts_fetched integer NOT NULL DEFAULT 0 CHECK (posts_fetched >= 0),
  posts_new integer NOT NULL DEFAULT 0 CHECK (posts_new >= 0),
  posts_updated integer NOT NULL DEFAULT 0 CHECK (posts_updated >= 0),
  snapshots_new integer NOT NULL DEFAULT 0 CHECK (snapshots_new >= 0),
  comments_upserted integer NOT NULL DEFAULT 0 CHECK (comments_upserted >= 0),
  records_rejected integer NOT NULL DEFAULT 0 CHECK (records_rejected >= 0),
  error_message text,
  system_info jsonb NOT NULL DEFAULT '{}'::jsonb,
  dagster_run_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'failed' OR error_message IS NOT NULL),
  CHECK (completed_at IS NULL OR completed_at >= started_at)
);
CREATE INDEX idx_runs_started_at ON download_runs (started_at);
CREATE INDEX idx_runs_status ON download_runs (status);
-- the same file imported twice changes nothing: one live run per content hash
CREATE UNIQUE INDEX idx_runs_source_sha256 ON download_runs (source_sha256)
  WHERE source_sha256 IS NOT NULL AND status IN ('running', 'completed');

-- The time series: one snapshot of one post's metrics at downloaded_at. Append-only.
CREATE TABLE data_downloads (
  id text PRIMARY KEY CHECK (id ~ '^dl-[0-9a-f]{1,8}$'),
  post_id text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  run_id text REFERENCES download_runs (id) ON DELETE SET NULL,
  downloaded_at timestamptz NOT NULL,
  total_reactions bigint CHECK (total_reactions >= 0),
  like_count bigint CHECK (like_count >= 0),
  comment_count bigint CHECK (comment_count >= 0),
  share_count bigint CHECK (share_count >= 0),
  view_count bigint CHECK (view_count >= 0),
  save_count bigint CHECK (save_count >= 0),
  impression_count bigint CHECK (impression_count >= 0),
  reach_count bigint CHECK (reach_count >= 0),
  click_count bigint CHECK (click_count >= 0),
  quote_count bigint CHECK (quote_count >= 0),
  stats_json jsonb,
  raw_json jsonb,
  source_file_path text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (post_id, downloaded_at)
);
CREATE INDEX idx_downloads_run_id ON data_downloads (run_id);
CREATE INDEX idx_downloads_downloaded_at ON data_downloads (downloaded_at);

-- Records that could not be parsed, kept aside with file, index and reason.
CREATE TABLE rejected_records (
  id text PRIMARY KEY CHECK (id ~ '^rej-[0-9a-f]{1,8}$'),
  run_id text NOT NULL REFERENCES download_runs (id) ON DELETE CASCADE,
  source_path text,
  record_index integer NOT NULL CHECK (record_index >= 0),
  field text,
  reason text NOT NULL,
  excerpt text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, record_index)
);

-- API usage: calls made to external APIs (Apify, platform APIs).
CREATE TABLE api_usage (
  id text PRIMARY KEY CHECK (id ~ '^apu-[0-9a-f]{1,8}$'),
  provider text NOT NULL,
  endpoint text NOT NULL,
  run_id text REFERENCES download_runs (id) ON DELETE SET NULL,
  status_code integer,
  items integer CHECK (items >= 0),
  duration_ms integer CHECK (duration_ms >= 0),
  called_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_api_usage_provider_time ON api_usage (provider, called_at);

-- Posts due for a check-back.
CREATE VIEW posts_pending_checkback AS
SELECT id, platform, platform_post_id, url, posted_at, next_check_at, checks_completed, check_schedule
FROM posts
WHERE tracking_complete = false AND next_check_at IS NOT NULL AND next_check_at <= now();
"""

DOWNGRADE = r"""
DROP VIEW IF EXISTS posts_pending_checkback;
DROP TABLE IF EXISTS api_usage, rejected_records, data_downloads, download_runs CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
