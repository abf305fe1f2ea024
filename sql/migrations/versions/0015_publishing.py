"""Publishing: content items with per-account variants, their lifecycle history, a media library.

A content item (a draft) belongs to a workspace and carries text, media, links, tags and notes.
Each target account gets one variant that may override the text and media. The item moves
draft -> in_review -> approved -> scheduled -> publishing -> published | failed | cancelled; every
change is logged in content_item_history by a trigger (as accounts' lifecycle is). Media files
are stored once, content-addressed by SHA-256. A publication row is created per variant when the
item is scheduled; it records the intent to send before sending, and the platform's post id and
URL after.

Revision ID: 0015_publishing
Revises: 0014_alerts
"""

from alembic import op

revision = "0015_publishing"
down_revision = "0014_alerts"
branch_labels = None
depends_on = None

STATES = "('draft', 'in_review', 'approved', 'scheduled', 'publishing', 'published', 'failed', 'cancelled')"

UPGRADE = rf"""
ALTER TABLE content_items
  ADD COLUMN title text,
  ADD COLUMN status text NOT NULL DEFAULT 'draft' CHECK (status IN {STATES}),
  ADD COLUMN links jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(links) = 'array'),
  ADD COLUMN tags jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(tags) = 'array'),
  ADD COLUMN notes text,
  ADD COLUMN scheduled_for timestamptz,
  ADD COLUMN approved_at timestamptz,
  ADD COLUMN approved_by text,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX idx_content_items_status ON content_items (workspace_id, status);
CREATE INDEX idx_content_items_scheduled ON content_items (scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE TRIGGER trigger_content_items_updated_at BEFORE UPDATE ON content_items
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

CREATE TABLE content_item_history (
  id text PRIMARY KEY CHECK (id ~ '^cih-[0-9a-f]{{1,8}}$'),
  content_item_id text NOT NULL REFERENCES content_items (id) ON DELETE CASCADE,
  from_state text,
  to_state text NOT NULL,
  transition_reason text,
  triggered_by text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_content_item_history_item ON content_item_history (content_item_id, created_at);

-- The reason and actor come from the transaction-local settings postpulse.transition_reason/_by.
CREATE FUNCTION log_content_item_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_id text;
  reason text := coalesce(nullif(current_setting('postpulse.transition_reason', true), ''), 'created');
  actor text := coalesce(nullif(current_setting('postpulse.transition_by', true), ''), 'system');
BEGIN
  IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
    LOOP
      new_id := pp_new_id('cih');
      EXIT WHEN NOT EXISTS (SELECT 1 FROM content_item_history WHERE id = new_id);
    END LOOP;
    -- clock_timestamp(): several changes in one transaction keep their order
    INSERT INTO content_item_history (id, content_item_id, from_state, to_state, transition_reason,
        triggered_by, created_at)
    VALUES (new_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, reason, actor,
        clock_timestamp());
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER trigger_content_item_history
  AFTER INSERT OR UPDATE OF status ON content_items
  FOR EACH ROW EXECUTE FUNCTION log_content_item_state_change();

-- Each file is stored once, named by its SHA-256; type and size are read from the file.
CREATE TABLE media_assets (
  id text PRIMARY KEY CHECK (id ~ '^mda-[0-9a-f]{{1,8}}$'),
  sha256 text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
  media_type text NOT NULL CHECK (media_type IN ('image', 'video')),
  mime_type text NOT NULL,
  file_size bigint NOT NULL CHECK (file_size >= 0),
  width integer CHECK (width > 0),
  height integer CHECK (height > 0),
  original_name text,
  stored_path text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE content_item_media (
  content_item_id text NOT NULL REFERENCES content_items (id) ON DELETE CASCADE,
  media_id text NOT NULL REFERENCES media_assets (id) ON DELETE RESTRICT,
  position integer NOT NULL DEFAULT 0,
  alt_text text,
  PRIMARY KEY (content_item_id, position)
);
CREATE INDEX idx_content_item_media_media ON content_item_media (media_id);

CREATE TABLE content_variants (
  id text PRIMARY KEY CHECK (id ~ '^cvr-[0-9a-f]{{1,8}}$'),
  content_item_id text NOT NULL REFERENCES content_items (id) ON DELETE CASCADE,
  account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  text_override text,
  -- NULL: the item's media; else [{{"media_id": ..., "alt_text": ...}}, ...]
  media_override jsonb CHECK (media_override IS NULL OR jsonb_typeof(media_override) = 'array'),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (content_item_id, account_id)
);
CREATE INDEX idx_content_variants_account ON content_variants (account_id);

ALTER TABLE publications
  ADD COLUMN content_item_id text REFERENCES content_items (id) ON DELETE SET NULL,
  ADD COLUMN variant_id text REFERENCES content_variants (id) ON DELETE SET NULL,
  ADD COLUMN action_id text REFERENCES action_queue (id) ON DELETE SET NULL,
  -- set before anything is sent: a publication with an intent is looked up on the platform
  -- before it is sent again
  ADD COLUMN intent_at timestamptz,
  ADD COLUMN media jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX idx_publications_item ON publications (content_item_id);
CREATE UNIQUE INDEX idx_publications_live_variant ON publications (variant_id)
  WHERE variant_id IS NOT NULL AND status IN ('scheduled', 'publishing', 'published');
"""

DOWNGRADE = """
DROP INDEX IF EXISTS idx_publications_live_variant;
DROP INDEX IF EXISTS idx_publications_item;
ALTER TABLE publications DROP COLUMN IF EXISTS content_item_id, DROP COLUMN IF EXISTS variant_id,
  DROP COLUMN IF EXISTS action_id, DROP COLUMN IF EXISTS intent_at,
  DROP COLUMN IF EXISTS media;
DROP TABLE IF EXISTS content_variants, content_item_media, media_assets, content_item_history;
DROP TRIGGER IF EXISTS trigger_content_item_history ON content_items;
DROP FUNCTION IF EXISTS log_content_item_state_change();
DROP TRIGGER IF EXISTS trigger_content_items_updated_at ON content_items;
DROP INDEX IF EXISTS idx_content_items_scheduled;
DROP INDEX IF EXISTS idx_content_items_status;
ALTER TABLE content_items DROP COLUMN IF EXISTS title, DROP COLUMN IF EXISTS status,
  DROP COLUMN IF EXISTS links, DROP COLUMN IF EXISTS tags, DROP COLUMN IF EXISTS notes,
  DROP COLUMN IF EXISTS scheduled_for, DROP COLUMN IF EXISTS approved_at,
  DROP COLUMN IF EXISTS approved_by, DROP COLUMN IF EXISTS updated_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
