"""The agency's structure: archived workspaces, tag rules, the source of each post tag, profile
snapshots (followers/following/posts per capture, append-only) and watchlists with per-source
budgets recorded in api_usage.

Revision ID: 0011_agency
Revises: 0010_console_users
"""

from alembic import op

revision = "0011_agency"
down_revision = "0010_console_users"
branch_labels = None
depends_on = None


UPGRADE = """
ALTER TABLE workspaces DROP CONSTRAINT workspaces_status_check;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_status_check
  CHECK (status IN ('active', 'inactive', 'paused', 'archived'));
ALTER TABLE workspaces ADD COLUMN archived_at timestamptz;

-- A tag rule gives its tag to every post matching all of its conditions (each list: any of).
CREATE TABLE tag_rules (
  id text PRIMARY KEY CHECK (id ~ '^trl-[0-9a-f]{1,8}$'),
  tag_id text NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  hashtags jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(hashtags) = 'array'),
  keyword_regex text CHECK (length(keyword_regex) BETWEEN 1 AND 2000),
  authors jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(authors) = 'array'),
  platforms jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(platforms) = 'array'),
  confidence real NOT NULL DEFAULT 1 CHECK (confidence > 0 AND confidence <= 1),
  is_active boolean NOT NULL DEFAULT true,
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (jsonb_array_length(hashtags) > 0 OR keyword_regex IS NOT NULL
         OR jsonb_array_length(authors) > 0 OR jsonb_array_length(platforms) > 0)
);
CREATE INDEX idx_tag_rules_tag ON tag_rules (tag_id);
CREATE TRIGGER trigger_tag_rules_updated_at BEFORE UPDATE ON tag_rules
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

-- Who gave a post its tag: 'manual' (a user), 'rule:<rule id>', 'ai', or 'rule' (before rules had ids).
ALTER TABLE post_tags ADD COLUMN source text;
UPDATE post_tags SET source = CASE applied_by WHEN 'user' THEN 'manual' ELSE applied_by END;
ALTER TABLE post_tags ALTER COLUMN source SET NOT NULL;
ALTER TABLE post_tags ALTER COLUMN source SET DEFAULT 'manual';
ALTER TABLE post_tags ADD CONSTRAINT post_tags_source_check
  CHECK (source IN ('manual', 'ai', 'rule') OR source ~ '^rule:trl-[0-9a-f]{1,8}$');
-- source says who tagged; applied_by's index served no query and costs every bulk tagging
DROP INDEX idx_post_tags_applied_by;

-- Followers, following and post count of a profile at one capture (append-only).
CREATE TABLE profile_snapshots (
  id text PRIMARY KEY CHECK (id ~ '^psn-[0-9a-f]{1,8}$'),
  profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  captured_at timestamptz NOT NULL,
  follower_count bigint CHECK (follower_count >= 0),
  following_count bigint CHECK (following_count >= 0),
  post_count bigint CHECK (post_count >= 0),
  view_count bigint CHECK (view_count >= 0),
  source text NOT NULL CHECK (source IN ('import', 'account_daily_stats', 'watch')),
  run_id text REFERENCES download_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (follower_count IS NOT NULL OR following_count IS NOT NULL OR post_count IS NOT NULL
         OR view_count IS NOT NULL),
  UNIQUE (profile_id, captured_at)
);
CREATE INDEX idx_profile_snapshots_time ON profile_snapshots (captured_at);

CREATE FUNCTION pp_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: rows are never updated', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER trigger_profile_snapshots_append_only BEFORE UPDATE ON profile_snapshots
  FOR EACH ROW EXECUTE FUNCTION pp_refuse_update();

-- Watchlists: a source (how profiles are collected, with its daily budget) and the watched profiles.
CREATE TABLE watch_sources (
  id text PRIMARY KEY CHECK (id ~ '^wsr-[0-9a-f]{1,8}$'),
  name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
  kind text NOT NULL CHECK (kind IN ('apify', 'bluesky')),
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  results_per_day integer NOT NULL CHECK (results_per_day > 0),
  cost_per_result numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_per_result >= 0),
  cost_per_day numeric(12, 4) CHECK (cost_per_day > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER trigger_watch_sources_updated_at BEFORE UPDATE ON watch_sources
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

CREATE TABLE watches (
  id text PRIMARY KEY CHECK (id ~ '^wch-[0-9a-f]{1,8}$'),
  profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  source_id text NOT NULL REFERENCES watch_sources (id) ON DELETE RESTRICT,
  role text NOT NULL CHECK (role IN ('ours', 'competitor', 'creator')),
  workspace_id text REFERENCES workspaces (id) ON DELETE SET NULL,
  every_hours integer NOT NULL DEFAULT 24 CHECK (every_hours BETWEEN 1 AND 720),
  is_active boolean NOT NULL DEFAULT true,
  last_collected_at timestamptz,
  last_status text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (profile_id)
);

ALTER TABLE api_usage ADD COLUMN watch_source_id text REFERENCES watch_sources (id) ON DELETE SET NULL;
ALTER TABLE api_usage ADD COLUMN estimated_cost numeric(12, 6) CHECK (estimated_cost >= 0);
CREATE INDEX idx_api_usage_watch_source ON api_usage (watch_source_id, called_at)
  WHERE watch_source_id IS NOT NULL;
"""

DOWNGRADE = """
DROP INDEX IF EXISTS idx_api_usage_watch_source;
ALTER TABLE api_usage DROP COLUMN IF EXISTS estimated_cost;
ALTER TABLE api_usage DROP COLUMN IF EXISTS watch_source_id;
DROP TABLE IF EXISTS watches, watch_sources, profile_snapshots, tag_rules CASCADE;
DROP FUNCTION IF EXISTS pp_refuse_update();
ALTER TABLE post_tags DROP CONSTRAINT IF EXISTS post_tags_source_check;
CREATE INDEX IF NOT EXISTS idx_post_tags_applied_by ON post_tags (applied_by);
ALTER TABLE post_tags DROP COLUMN IF EXISTS source;
UPDATE workspaces SET status = 'inactive' WHERE status = 'archived';
ALTER TABLE workspaces DROP COLUMN IF EXISTS archived_at;
ALTER TABLE workspaces DROP CONSTRAINT workspaces_status_check;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_status_check
  CHECK (status IN ('active', 'inactive', 'paused'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
