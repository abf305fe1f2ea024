"""Core entities: workspaces, accounts (+ state history), profiles, tags, posts, media, comments.

One schema for the engagement core (accounts, tracked profiles, posts, comments), the LinkedIn
tracking schema (posts, profiles, tags, post media), the workspace model (workspaces, an account
lifecycle with a history trigger, content pools), publishing (our own posts per account, media)
and check-backs (the schedule columns on posts, comment replies, hashtag results).

Revision ID: 0001_core
Revises:
"""

from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
-- Identifiers {prefix}-{8 hex} generated inside the database (used by triggers only; the
-- application allocates its own ids collision-safely). gen_random_uuid() is a CSPRNG.
CREATE FUNCTION pp_new_id(prefix text) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT prefix || '-' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 8)
$$;

CREATE FUNCTION pp_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE workspaces (
  id text PRIMARY KEY CHECK (id ~ '^wsp-[0-9a-f]{1,8}$'),
  name text NOT NULL UNIQUE,
  description text,
  owner_name text,
  owner_email text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'paused')),
  timezone text NOT NULL DEFAULT 'UTC',
  daily_follow_limit integer NOT NULL DEFAULT 50 CHECK (daily_follow_limit BETWEEN 1 AND 1000),
  unfollow_ratio integer NOT NULL DEFAULT 90 CHECK (unfollow_ratio BETWEEN 0 AND 100),
  posting_schedule jsonb NOT NULL DEFAULT '{}'::jsonb,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_workspaces_status ON workspaces (status);
CREATE INDEX idx_workspaces_created_at ON workspaces (created_at);

CREATE TABLE accounts (
  id text PRIMARY KEY CHECK (id ~ '^acc-[0-9a-f]{1,8}$'),
  workspace_id text REFERENCES workspaces (id) ON DELETE SET NULL,
  platform text NOT NULL CHECK (platform IN ('linkedin', 'instagram', 'tiktok', 'x', 'threads', 'facebook',
      'youtube', 'sandbox')),
  platform_user_id text NOT NULL,
  username text NOT NULL,
  display_name text,
  email text,
  bio text,
  avatar_url text,
  -- connection status and lifecycle (without warm-up/proxy states)
  status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'expired', 'revoked', 'error', 'pending', 'banned', 'suspended', 'inactive')),
  health text NOT NULL DEFAULT 'unknown' CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
  lifecycle_state text NOT NULL DEFAULT 'imported'
    CHECK (lifecycle_state IN ('imported', 'human_review', 'ready', 'active', 'paused', 'cleanup')),
  is_active boolean NOT NULL DEFAULT true,
  -- only accounts the user marked as theirs and authorized are ever acted on
  is_authorized boolean NOT NULL DEFAULT false,
  requires_human_review boolean NOT NULL DEFAULT false,
  needs_relogin boolean NOT NULL DEFAULT false,
  frozen_until timestamptz,
  frozen_reason text,
  -- settings: rate limits, quiet hours, auto-approve, check-back schedule (the account settings)
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  timezone text NOT NULL DEFAULT 'UTC',
  -- secrets at rest: AES-256-GCM envelopes (postpulse.crypto), never plaintext
  session_encrypted bytea,
  session_updated_at timestamptz,
  access_token_encrypted bytea,
  refresh_token_encrypted bytea,
  token_expires_at timestamptz,
  expires_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  followers_count integer CHECK (followers_count >= 0),
  following_count integer CHECK (following_count >= 0),
  posts_count integer CHECK (posts_count >= 0),
  last_error_message text,
  last_error_at timestamptz,
  retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  last_used_at timestamptz,
  last_synced_at timestamptz,
  last_posted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, platform_user_id)
);
CREATE UNIQUE INDEX idx_accounts_platform_username ON accounts (platform, lower(username));
CREATE INDEX idx_accounts_platform ON accounts (platform);
CREATE INDEX idx_accounts_active ON accounts (is_active);
CREATE INDEX idx_accounts_workspace ON accounts (workspace_id);
CREATE INDEX idx_accounts_status ON accounts (status);
CREATE INDEX idx_accounts_health ON accounts (health);
CREATE INDEX idx_accounts_lifecycle_state ON accounts (lifecycle_state);
CREATE INDEX idx_accounts_requires_review ON accounts (requires_human_review) WHERE requires_human_review;
CREATE INDEX idx_accounts_token_expires ON accounts (token_expires_at) WHERE token_expires_at IS NOT NULL;

CREATE TABLE account_state_history (
  id text PRIMARY KEY CHECK (id ~ '^ash-[0-9a-f]{1,8}$'),
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  from_state text,
  to_state text NOT NULL,
  transition_reason text,
  triggered_by text CHECK (triggered_by IN ('user', 'bot', 'system', 'scheduler')),
  user_id text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_state_history_account_id ON account_state_history (account_id);
CREATE INDEX idx_state_history_to_state ON account_state_history (to_state);
CREATE INDEX idx_state_history_created_at ON account_state_history (created_at);
CREATE INDEX idx_state_history_triggered_by ON account_state_history (triggered_by);

-- The lifecycle trigger: every lifecycle change is logged. The reason and actor can be passed by
-- the application through the transaction-local settings postpulse.transition_reason/_by.
CREATE FUNCTION log_account_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_id text;
  reason text := coalesce(nullif(current_setting('postpulse.transition_reason', true), ''),
      'automated_transition');
  actor text := coalesce(nullif(current_setting('postpulse.transition_by', true), ''), 'system');
BEGIN
  IF TG_OP = 'INSERT' OR OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state THEN
    LOOP
      new_id := pp_new_id('ash');
      EXIT WHEN NOT EXISTS (SELECT 1 FROM account_state_history WHERE id = new_id);
    END LOOP;
    INSERT INTO account_state_history (id, account_id, from_state, to_state, transition_reason, triggered_by,
        metadata)
    VALUES (new_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.lifecycle_state END, NEW.lifecycle_state,
            reason, actor, jsonb_build_object('timestamp', now()));
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER trigger_account_state_history
  AFTER INSERT OR UPDATE OF lifecycle_state ON accounts
  FOR EACH ROW EXECUTE FUNCTION log_account_state_change();
CREATE TRIGGER trigger_accounts_updated_at BEFORE UPDATE ON accounts
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
CREATE TRIGGER trigger_workspaces_updated_at BEFORE UPDATE ON workspaces
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

-- Tracked or discovered profiles (platform users we follow and authors seen in imports).
CREATE TABLE profiles (
  id text PRIMARY KEY CHECK (id ~ '^prf-[0-9a-f]{1,8}$'),
  platform text NOT NULL,
  platform_user_id text,
  username text,
  -- natural key: the platform's user id when known, else the lower-cased username
  profile_key text GENERATED ALWAYS AS (coalesce(platform_user_id, 'u:' || lower(username))) STORED,
  display_name text,
  profile_url text,
  bio text,
  follower_count bigint CHECK (follower_count >= 0),
  following_count bigint CHECK (following_count >= 0),
  post_count bigint CHECK (post_count >= 0),
  is_verified boolean,
  is_private boolean,
  is_active boolean NOT NULL DEFAULT true,
  is_tracked boolean NOT NULL DEFAULT false,
  account_id text REFERENCES accounts (id) ON DELETE SET NULL,
  notes text,
  raw_json jsonb,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  last_synced_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (platform_user_id IS NOT NULL OR username IS NOT NULL),
  UNIQUE (platform, profile_key)
);
CREATE INDEX idx_profiles_platform ON profiles (platform);
CREATE INDEX idx_profiles_username ON profiles (platform, lower(username));
CREATE INDEX idx_profiles_active ON profiles (is_active);
CREATE INDEX idx_profiles_tracked ON profiles (is_tracked) WHERE is_tracked;

CREATE TABLE tags (
  id text PRIMARY KEY CHECK (id ~ '^tag-[0-9a-f]{1,8}$'),
  name text NOT NULL UNIQUE CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 100),
  description text,
  color text NOT NULL DEFAULT 'cyan',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE profile_tags (
  id text PRIMARY KEY CHECK (id ~ '^pft-[0-9a-f]{1,8}$'),
  profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  tag_id text NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (profile_id, tag_id)
);
CREATE INDEX idx_profile_tags_tag ON profile_tags (tag_id);

-- One row per platform post. Metrics live in data_downloads; the
-- like/comment/share/view/reaction counts here are the latest snapshot, denormalized.
CREATE TABLE posts (
  id text PRIMARY KEY CHECK (id ~ '^p-[0-9a-f]{1,8}$'),
  platform text NOT NULL,
  platform_post_id text NOT NULL CHECK (length(platform_post_id) BETWEEN 1 AND 400),
  full_urn text,
  url text,
  author_profile_id text REFERENCES profiles (id) ON DELETE SET NULL,
  author_username text,
  account_id text REFERENCES accounts (id) ON DELETE SET NULL,
  post_type text,
  content_type text NOT NULL DEFAULT 'unknown'
    CHECK (content_type IN ('text', 'image', 'video', 'carousel', 'story', 'reel', 'mixed', 'document',
        'article', 'poll', 'unknown')),
  text_content text,
  media_urls jsonb NOT NULL DEFAULT '[]'::jsonb,
  hashtags jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(hashtags) = 'array'),
  mentions jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(mentions) = 'array'),
  is_sponsored boolean,
  posted_at timestamptz,
  posted_at_approximate boolean NOT NULL DEFAULT false,
  reaction_count bigint CHECK (reaction_count >= 0),
  like_count bigint CHECK (like_count >= 0),
  comment_count bigint CHECK (comment_count >= 0),
  share_count bigint CHECK (share_count >= 0),
  view_count bigint CHECK (view_count >= 0),
  engagement_status text NOT NULL DEFAULT 'not_engaged'
    CHECK (engagement_status IN ('not_engaged', 'liked', 'commented', 'liked_and_commented')),
  raw_json jsonb,
  -- check-back schedule
  check_schedule jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(check_schedule) = 'array'),
  next_check_at timestamptz,
  tracking_started_at timestamptz,
  tracking_complete boolean NOT NULL DEFAULT false,
  checks_completed integer NOT NULL DEFAULT 0 CHECK (checks_completed >= 0),
  check_failures integer NOT NULL DEFAULT 0 CHECK (check_failures >= 0),
  last_check_error text,
  is_deleted boolean NOT NULL DEFAULT false,
  deleted_at timestamptz,
  -- UI state
  is_read boolean NOT NULL DEFAULT false,
  is_marked boolean NOT NULL DEFAULT false,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_extracted_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, platform_post_id)
);
CREATE INDEX idx_posts_platform ON posts (platform);
CREATE INDEX idx_posts_posted_at ON posts (posted_at);
CREATE INDEX idx_posts_author ON posts (author_profile_id);
CREATE INDEX idx_posts_author_username ON posts (author_username);
CREATE INDEX idx_posts_account ON posts (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX idx_posts_first_seen ON posts (first_seen_at);
CREATE INDEX idx_posts_engagement ON posts (engagement_status);
CREATE INDEX idx_posts_hashtags_gin ON posts USING gin (hashtags);
CREATE INDEX idx_posts_mentions_gin ON posts USING gin (mentions);
-- the due-post query of the check-backs reads only posts still being tracked
CREATE INDEX idx_posts_next_check ON posts (next_check_at) WHERE tracking_complete = false;
CREATE INDEX idx_posts_unread ON posts (first_seen_at) WHERE is_read = false;
ALTER TABLE posts ALTER COLUMN posted_at SET STATISTICS 1000;

CREATE TABLE post_tags (
  id text PRIMARY KEY CHECK (id ~ '^ptg-[0-9a-f]{1,8}$'),
  post_id text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  tag_id text NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  confidence real CHECK (confidence BETWEEN 0 AND 1),
  applied_by text NOT NULL DEFAULT 'ai' CHECK (applied_by IN ('ai', 'user', 'rule')),
  system_notes text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (post_id, tag_id)
);
CREATE INDEX idx_post_tags_tag ON post_tags (tag_id);
CREATE INDEX idx_post_tags_applied_by ON post_tags (applied_by);

-- Our own content, drafts -> scheduled -> published per account.
CREATE TABLE publications (
  id text PRIMARY KEY CHECK (id ~ '^pub-[0-9a-f]{1,8}$'),
  workspace_id text REFERENCES workspaces (id) ON DELETE SET NULL,
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  post_id text REFERENCES posts (id) ON DELETE SET NULL,
  title text,
  slug text,
  content text NOT NULL DEFAULT '',
  content_type text NOT NULL DEFAULT 'text'
    CHECK (content_type IN ('text', 'image', 'video', 'carousel', 'story', 'reel', 'mixed')),
  hashtags jsonb NOT NULL DEFAULT '[]'::jsonb,
  mentions jsonb NOT NULL DEFAULT '[]'::jsonb,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'scheduled', 'publishing', 'published', 'failed', 'cancelled')),
  scheduled_for timestamptz,
  published_at timestamptz,
  platform_post_id text,
  platform_post_url text,
  error_message text,
  failed_at timestamptz,
  retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  last_retry_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL)
);
CREATE INDEX idx_publications_account ON publications (account_id);
CREATE INDEX idx_publications_status ON publications (status);
CREATE INDEX idx_publications_scheduled ON publications (scheduled_for) WHERE status = 'scheduled';
CREATE INDEX idx_publications_published_at ON publications (published_at);

CREATE TABLE post_media (
  id text PRIMARY KEY CHECK (id ~ '^med-[0-9a-f]{1,8}$'),
  post_id text REFERENCES posts (id) ON DELETE CASCADE,
  publication_id text REFERENCES publications (id) ON DELETE CASCADE,
  media_type text NOT NULL DEFAULT 'image'
    CHECK (media_type IN ('image', 'video', 'gif', 'document', 'audio', 'carousel', 'unknown')),
  media_url text NOT NULL,
  thumbnail_url text,
  local_file_path text,
  file_size bigint CHECK (file_size >= 0),
  mime_type text,
  width integer CHECK (width > 0),
  height integer CHECK (height > 0),
  duration_s real CHECK (duration_s >= 0),
  alt_text text,
  position integer NOT NULL DEFAULT 0,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  ai_analysis_status text NOT NULL DEFAULT 'pending'
    CHECK (ai_analysis_status IN ('pending', 'analyzing', 'completed', 'failed')),
  ai_analysis jsonb,
  ai_analyzed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (post_id IS NOT NULL OR publication_id IS NOT NULL)
);
CREATE UNIQUE INDEX idx_media_post_url ON post_media (post_id, media_url) WHERE post_id IS NOT NULL;
CREATE INDEX idx_media_publication ON post_media (publication_id) WHERE publication_id IS NOT NULL;
CREATE INDEX idx_media_analysis_status ON post_media (ai_analysis_status);
CREATE INDEX idx_media_type ON post_media (media_type);

-- Comments incl. replies (parent comment and reply counts).
CREATE TABLE comments (
  id text PRIMARY KEY CHECK (id ~ '^cmt-[0-9a-f]{1,8}$'),
  platform text NOT NULL,
  platform_comment_id text,
  post_id text NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  parent_comment_id text REFERENCES comments (id) ON DELETE CASCADE,
  is_reply boolean NOT NULL DEFAULT false,
  author_profile_id text REFERENCES profiles (id) ON DELETE SET NULL,
  author_username text,
  account_id text REFERENCES accounts (id) ON DELETE SET NULL,
  text text NOT NULL,
  posted_at timestamptz,
  like_count bigint CHECK (like_count >= 0),
  reply_count bigint CHECK (reply_count >= 0),
  is_ours boolean NOT NULL DEFAULT false,
  action_attempt_id text,
  raw_json jsonb,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  CHECK (NOT is_reply OR parent_comment_id IS NOT NULL OR raw_json IS NOT NULL),
  UNIQUE (platform, platform_comment_id)
);
CREATE INDEX idx_comments_post ON comments (post_id);
CREATE INDEX idx_comments_parent ON comments (parent_comment_id) WHERE parent_comment_id IS NOT NULL;
CREATE INDEX idx_comments_author ON comments (author_profile_id);
CREATE INDEX idx_comments_ours ON comments (is_ours) WHERE is_ours;

-- Hashtag results.
CREATE TABLE hashtags (
  id text PRIMARY KEY CHECK (id ~ '^hsh-[0-9a-f]{1,8}$'),
  platform text NOT NULL,
  name text NOT NULL CHECK (name = lower(name)),
  post_count bigint CHECK (post_count >= 0),
  view_count bigint CHECK (view_count >= 0),
  raw_json jsonb,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, name)
);

-- Content pools: images and texts a workspace publishes from.
CREATE TABLE content_items (
  id text PRIMARY KEY CHECK (id ~ '^cnt-[0-9a-f]{1,8}$'),
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  content_type text NOT NULL CHECK (content_type IN ('pfp', 'post', 'highlight', 'story', 'any')),
  image_url text,
  text_content text,
  is_template boolean NOT NULL DEFAULT false,
  order_priority integer NOT NULL DEFAULT 0,
  usage_count integer NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
  success_rate numeric(5, 2) NOT NULL DEFAULT 0 CHECK (success_rate BETWEEN 0 AND 100),
  last_used_at timestamptz,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (image_url IS NOT NULL OR text_content IS NOT NULL)
);
CREATE INDEX idx_content_items_workspace ON content_items (workspace_id, content_type);
CREATE INDEX idx_content_items_template ON content_items (is_template) WHERE is_template;

CREATE TRIGGER trigger_profiles_updated_at BEFORE UPDATE ON profiles
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
CREATE TRIGGER trigger_posts_updated_at BEFORE UPDATE ON posts
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
CREATE TRIGGER trigger_publications_updated_at BEFORE UPDATE ON publications
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
CREATE TRIGGER trigger_post_media_updated_at BEFORE UPDATE ON post_media
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS content_items, hashtags, comments, post_media, publications, post_tags,
  posts, profile_tags, tags, profiles, account_state_history, accounts, workspaces CASCADE;
DROP FUNCTION IF EXISTS log_account_state_change();
DROP FUNCTION IF EXISTS pp_touch_updated_at();
DROP FUNCTION IF EXISTS pp_new_id(text);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
