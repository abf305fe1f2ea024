"""Console users: people who log in to the web console, their roles per workspace, and the
login attempts that slow down password guessing.

- ``console_users``: argon2 password hashes only; ``session_epoch`` grows with every password
  reset or disable, and a session cookie carries the epoch it was issued under, so cookies from
  before a reset stop working; ``must_change_password`` is set for one-time passwords.
- ``console_memberships``: a role per workspace; ``workspace_id`` NULL means every workspace
  (the first admin). Roles: admin, editor, approver, viewer, client.
- ``console_login_attempts``: every login attempt (username as typed, lowercased, and the
  client address), counted to refuse logins after repeated failures.

Revision ID: 0010_console_users
Revises: 0009_capture_before_post
"""

from alembic import op

revision = "0010_console_users"
down_revision = "0009_capture_before_post"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE console_users (
  id text PRIMARY KEY DEFAULT pp_new_id('usr') CHECK (id ~ '^usr-[0-9a-f]{1,8}$'),
  username text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.@-]{2,64}$'),
  display_name text,
  password_hash text NOT NULL,
  is_active boolean NOT NULL DEFAULT true,
  must_change_password boolean NOT NULL DEFAULT false,
  session_epoch integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE UNIQUE INDEX idx_console_users_username ON console_users (lower(username));
CREATE TRIGGER trigger_console_users_updated_at BEFORE UPDATE ON console_users
  FOR EACH ROW EXECUTE FUNCTION pp_touch_updated_at();

CREATE TABLE console_memberships (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
  workspace_id text REFERENCES workspaces (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('admin', 'editor', 'approver', 'viewer', 'client')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (role <> 'client' OR workspace_id IS NOT NULL)
);
CREATE UNIQUE INDEX idx_console_memberships_user_ws
  ON console_memberships (user_id, coalesce(workspace_id, ''));

CREATE TABLE console_login_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username text NOT NULL,
  client_address text,
  succeeded boolean NOT NULL,
  attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_console_login_attempts_user ON console_login_attempts (username, attempted_at);
CREATE INDEX idx_console_login_attempts_address ON console_login_attempts (client_address, attempted_at);
-- the approval inbox lists queued actions newest first
CREATE INDEX idx_actions_queued_created ON action_queue (created_at DESC) WHERE status = 'queued';
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS idx_actions_queued_created;
DROP TABLE IF EXISTS console_login_attempts;
DROP TABLE IF EXISTS console_memberships;
DROP TABLE IF EXISTS console_users;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
