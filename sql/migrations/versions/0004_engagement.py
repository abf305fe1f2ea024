"""Engagement: action queue, attempts, verifications, DMs (encrypted), templates, blocklist,
audit trail, global settings; the rate-limit views and function.

Attempts and their verifications, DM threads and messages, audit entries, blocklist entries and
the idempotency unique partial indexes; the approval queue (action_queue); message templates;
the per-day and per-hour action counts, the active conversations summary and
check_rate_limit over action_attempts.

Revision ID: 0004_engagement
Revises: 0003_analytics
"""

from alembic import op

revision = "0004_engagement"
down_revision = "0003_analytics"
branch_labels = None
depends_on = None

ACTION_TYPES = (
    "('like', 'unlike', 'comment', 'delete_comment', 'reply', 'dm_send', 'dm_read', 'follow', "
    "'unfollow', 'publish', 'extract_stats')"
)

UPGRADE = rf"""
CREATE TABLE app_settings (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO app_settings (key, value) VALUES ('global_pause', 'false'::jsonb);

CREATE TABLE message_templates (
  id text PRIMARY KEY CHECK (id ~ '^tpl-[0-9a-f]{{1,8}}$'),
  workspace_id text REFERENCES workspaces (id) ON DELETE CASCADE,
  name text NOT NULL,
  template_type text NOT NULL
    CHECK (template_type IN ('comment', 'reply', 'dm', 'bio', 'post', 'story', 'highlight')),
  content text NOT NULL CHECK (length(content) BETWEEN 1 AND 10000),
  variables jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(variables) = 'array'),
  is_active boolean NOT NULL DEFAULT true,
  usage_count integer NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
  success_rate numeric(5, 2) NOT NULL DEFAULT 0 CHECK (success_rate BETWEEN 0 AND 100),
  last_used_at timestamptz,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_templates_name ON message_templates (coalesce(workspace_id, ''), name);
CREATE INDEX idx_templates_type ON message_templates (template_type) WHERE is_active;

CREATE TABLE blocklist_entries (
  id text PRIMARY KEY CHECK (id ~ '^blk-[0-9a-f]{{1,8}}$'),
  entry_type text NOT NULL CHECK (entry_type IN ('user', 'post', 'keyword', 'domain')),
  platform text,
  value text NOT NULL CHECK (length(value) BETWEEN 1 AND 500),
  match_type text NOT NULL DEFAULT 'exact' CHECK (match_type IN ('exact', 'contains', 'regex')),
  reason text NOT NULL,
  added_by text NOT NULL CHECK (added_by IN ('user', 'system', 'opt_out')),
  account_id text REFERENCES accounts (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX idx_blocklist_type ON blocklist_entries (entry_type);
CREATE INDEX idx_blocklist_platform ON blocklist_entries (platform);
CREATE INDEX idx_blocklist_value ON blocklist_entries (value);
CREATE UNIQUE INDEX idx_blocklist_unique
  ON blocklist_entries (entry_type, coalesce(platform, ''), match_type, lower(value), coalesce(account_id,
      ''));

CREATE TABLE action_queue (
  id text PRIMARY KEY CHECK (id ~ '^act-[0-9a-f]{{1,8}}$'),
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  post_id text REFERENCES posts (id) ON DELETE CASCADE,
  action_type text NOT NULL CHECK (action_type IN {ACTION_TYPES}),
  target_type text NOT NULL DEFAULT 'post'
    CHECK (target_type IN ('post', 'user', 'dm_thread', 'comment', 'publication')),
  target_id text NOT NULL,
  target_url text,
  target_username text,
  action_params jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  text_hash text,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'approved', 'in_progress', 'completed', 'failed', 'cancelled', 'rejected')),
  priority integer NOT NULL DEFAULT 0,
  scheduled_for timestamptz,
  expires_at timestamptz,
  approved_at timestamptz,
  approved_by text,
  claimed_by text,
  claimed_at timestamptz,
  executed_at timestamptz,
  completed_at timestamptz,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  last_reason_code text,
  last_error text,
  idempotency_key text,
  user_notes text,
  system_notes text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status NOT IN ('approved', 'in_progress', 'completed') OR approved_at IS NOT NULL)
);
CREATE INDEX idx_actions_post_id ON action_queue (post_id);
CREATE INDEX idx_actions_account ON action_queue (account_id);
CREATE INDEX idx_actions_status ON action_queue (status);
CREATE INDEX idx_actions_scheduled ON action_queue (scheduled_for);
CREATE INDEX idx_actions_priority ON action_queue (priority DESC);
CREATE INDEX idx_actions_due ON action_queue (priority DESC, scheduled_for NULLS FIRST, created_at)
  WHERE status = 'approved';
CREATE UNIQUE INDEX idx_actions_idempotency_key ON action_queue (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER trigger_action_queue_updated_at BEFORE UPDATE ON action_queue
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

CREATE TABLE action_attempts (
  id text PRIMARY KEY CHECK (id ~ '^att-[0-9a-f]{{1,8}}$'),
  run_id text NOT NULL,
  action_id text REFERENCES action_queue (id) ON DELETE SET NULL,
  platform text NOT NULL,
  action_type text NOT NULL CHECK (action_type IN {ACTION_TYPES}),
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  target_type text NOT NULL CHECK (target_type IN ('post', 'user', 'dm_thread', 'comment', 'publication')),
  target_id text NOT NULL,
  input jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  text_hash text,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'in_progress', 'success', 'failed', 'skipped', 'cancelled')),
  result jsonb,
  error jsonb,
  error_code text,
  screenshot_path text,
  attempted_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  duration_ms integer CHECK (duration_ms >= 0),
  verification_id text,
  -- set when a later opposite action (unlike after like, unfollow after follow) undid this one
  superseded_at timestamptz
);
CREATE INDEX idx_action_attempts_run ON action_attempts (run_id);
CREATE INDEX idx_action_attempts_account ON action_attempts (account_id, action_type, attempted_at);
CREATE INDEX idx_action_attempts_target ON action_attempts (target_type, target_id);
CREATE INDEX idx_action_attempts_status ON action_attempts (status);
CREATE INDEX idx_action_attempts_type ON action_attempts (action_type);
CREATE INDEX idx_action_attempts_action ON action_attempts (action_id);
-- Idempotency: one live success per (account, platform, target, type) ...
CREATE UNIQUE INDEX idx_action_unique
  ON action_attempts (account_id, platform, target_id, action_type)
  WHERE status = 'success' AND superseded_at IS NULL
    AND action_type IN ('like', 'unlike', 'follow', 'unfollow', 'delete_comment', 'publish');
-- ... one successful like per post per account ...
CREATE UNIQUE INDEX idx_unique_like
  ON action_attempts (account_id, target_id)
  WHERE action_type = 'like' AND status = 'success' AND superseded_at IS NULL;
-- ... a comment text once per post per account (different comments allowed) ...
CREATE UNIQUE INDEX idx_unique_comment
  ON action_attempts (account_id, target_id, text_hash)
  WHERE action_type IN ('comment', 'reply') AND status = 'success';
-- ... and a queued action succeeds at most once, and runs at most once at a time.
CREATE UNIQUE INDEX idx_attempt_action_success ON action_attempts (action_id)
  WHERE status = 'success' AND action_id IS NOT NULL;
CREATE UNIQUE INDEX idx_attempt_action_running ON action_attempts (action_id)
  WHERE status = 'in_progress' AND action_id IS NOT NULL;

CREATE TABLE verification_results (
  id text PRIMARY KEY CHECK (id ~ '^ver-[0-9a-f]{{1,8}}$'),
  action_attempt_id text NOT NULL REFERENCES action_attempts (id) ON DELETE CASCADE,
  verified boolean NOT NULL,
  confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  method text NOT NULL
    CHECK (method IN ('dom_state_check', 'reload_verify', 'api_response', 'attribute_change', 'manual')),
  details jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  verified_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL CHECK (duration_ms >= 0)
);
CREATE INDEX idx_verifications_action ON verification_results (action_attempt_id);
CREATE INDEX idx_verifications_verified ON verification_results (verified);
ALTER TABLE action_attempts ADD CONSTRAINT fk_action_attempts_verification
  FOREIGN KEY (verification_id) REFERENCES verification_results (id) ON DELETE SET NULL;
ALTER TABLE comments ADD CONSTRAINT fk_comments_action_attempt
  FOREIGN KEY (action_attempt_id) REFERENCES action_attempts (id) ON DELETE SET NULL;

CREATE TABLE dm_threads (
  id text PRIMARY KEY CHECK (id ~ '^dmt-[0-9a-f]{{1,8}}$'),
  platform text NOT NULL,
  platform_thread_id text NOT NULL,
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  participant_profile_id text REFERENCES profiles (id) ON DELETE SET NULL,
  participant_username text NOT NULL,
  participant_display_name text,
  participant_avatar_url text,
  last_message_at timestamptz,
  -- encrypted like message content (postpulse.crypto envelope); never plaintext
  last_message_preview_encrypted bytea,
  unread_count integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  is_muted boolean NOT NULL DEFAULT false,
  is_archived boolean NOT NULL DEFAULT false,
  discovered_at timestamptz NOT NULL DEFAULT now(),
  last_synced_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, platform_thread_id)
);
CREATE INDEX idx_dm_threads_account ON dm_threads (account_id);
CREATE INDEX idx_dm_threads_participant ON dm_threads (participant_profile_id);
CREATE INDEX idx_conversations_last_msg ON dm_threads (last_message_at DESC);
CREATE UNIQUE INDEX idx_dm_threads_account_participant
  ON dm_threads (account_id, platform, lower(participant_username));

CREATE TABLE dm_messages (
  id text PRIMARY KEY CHECK (id ~ '^dmm-[0-9a-f]{{1,8}}$'),
  platform text NOT NULL,
  platform_message_id text,
  thread_id text NOT NULL REFERENCES dm_threads (id) ON DELETE CASCADE,
  is_from_us boolean NOT NULL,
  sender_profile_id text REFERENCES profiles (id) ON DELETE SET NULL,
  sender_username text,
  -- AES-256-GCM envelope bound to this row's id; NULL once redacted by retention
  content_encrypted bytea,
  key_id text,
  content_redacted_at timestamptz,
  content_type text NOT NULL DEFAULT 'text' CHECK (content_type IN ('text', 'image', 'video', 'link',
      'sticker')),
  media_url text,
  is_read boolean NOT NULL DEFAULT false,
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  action_attempt_id text REFERENCES action_attempts (id) ON DELETE SET NULL,
  discovered_at timestamptz NOT NULL DEFAULT now(),
  CHECK (content_encrypted IS NOT NULL OR content_redacted_at IS NOT NULL),
  UNIQUE (platform, platform_message_id)
);
CREATE INDEX idx_dm_messages_thread ON dm_messages (thread_id);
CREATE INDEX idx_dm_messages_sent ON dm_messages (sent_at DESC);
CREATE INDEX idx_dm_messages_key ON dm_messages (key_id) WHERE content_encrypted IS NOT NULL;

CREATE TABLE audit_entries (
  id text PRIMARY KEY CHECK (id ~ '^aud-[0-9a-f]{{1,8}}$'),
  run_id text NOT NULL,
  step_id text NOT NULL,
  event_type text NOT NULL CHECK (event_type IN (
    'session_start', 'session_end', 'navigate', 'extract', 'action_attempt', 'action_complete',
    'verification', 'error', 'rate_limit_hit', 'policy_block', 'approval', 'login', 'block_signal',
    'retention', 'key_rotation', 'opt_out')),
  platform text,
  account_id text REFERENCES accounts (id) ON DELETE SET NULL,
  action_id text,
  target_type text,
  target_id text,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'skipped', 'pending')),
  details jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  "timestamp" timestamptz NOT NULL DEFAULT now(),
  duration_ms integer CHECK (duration_ms >= 0)
);
CREATE INDEX idx_audit_run ON audit_entries (run_id);
CREATE INDEX idx_audit_account ON audit_entries (account_id);
CREATE INDEX idx_audit_event ON audit_entries (event_type);
CREATE INDEX idx_audit_timestamp ON audit_entries ("timestamp");
CREATE INDEX idx_audit_action ON audit_entries (action_id) WHERE action_id IS NOT NULL;

CREATE TRIGGER trigger_message_templates_updated_at BEFORE UPDATE ON message_templates
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();
CREATE TRIGGER trigger_dm_threads_updated_at BEFORE UPDATE ON dm_threads
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

-- Rate-limit views and function, over action_attempts (UTC days).
CREATE VIEW daily_action_counts AS
SELECT account_id,
       (attempted_at AT TIME ZONE 'UTC')::date AS action_date,
       action_type,
       count(*) AS action_count
FROM action_attempts
WHERE status IN ('success', 'in_progress')
  AND attempted_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY account_id, action_date, action_type;

CREATE VIEW hourly_action_distribution AS
SELECT account_id, action_type,
       extract(hour FROM attempted_at AT TIME ZONE 'UTC')::int AS hour_utc,
       count(*) AS action_count,
       count(*) FILTER (WHERE status = 'success') AS success_count
FROM action_attempts
GROUP BY account_id, action_type, hour_utc;

CREATE VIEW active_conversations_summary AS
SELECT account_id,
       count(*) AS threads,
       coalesce(sum(unread_count), 0) AS unread_messages,
       max(last_message_at) AS last_message_at
FROM dm_threads
WHERE NOT is_archived
GROUP BY account_id;

CREATE FUNCTION check_rate_limit(p_account_id text, p_action_type text, p_limit integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT count(*) < p_limit
  FROM action_attempts
  WHERE account_id = p_account_id AND action_type = p_action_type
    AND status IN ('success', 'in_progress')
    AND attempted_at > now() - interval '24 hours'
$$;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS check_rate_limit(text, text, integer);
DROP VIEW IF EXISTS active_conversations_summary, hourly_action_distribution, daily_action_counts;
ALTER TABLE comments DROP CONSTRAINT IF EXISTS fk_comments_action_attempt;
DROP TABLE IF EXISTS audit_entries, dm_messages, dm_threads, verification_results, action_attempts,
  action_queue, blocklist_entries, message_templates, app_settings CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
