"""Our accounts linked to their platform profiles, and our posts to our accounts.

An account (platform + username) is linked to the profile of the same platform whose username
(case-insensitive) or platform user id matches; then every post that profile authored carries
the account's ``account_id``. Linking is idempotent and runs when an account is added and after
each import (for profiles and posts the import brought)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

_LINK_PROFILES = """
UPDATE profiles pr SET account_id = a.id
FROM accounts a
WHERE a.id = :a AND pr.platform = a.platform AND pr.account_id IS NULL
  AND (lower(pr.username) = lower(a.username) OR pr.platform_user_id = a.platform_user_id)"""

_LINK_POSTS = """
UPDATE posts p SET account_id = :a
FROM profiles pr
WHERE pr.account_id = :a AND p.author_profile_id = pr.id AND p.account_id IS NULL"""

# the run's authors whose username is one of our accounts, then the run's posts by them
_LINK_RUN_PROFILES = """
UPDATE profiles pr SET account_id = a.id
FROM accounts a
WHERE pr.account_id IS NULL AND a.platform = pr.platform AND lower(a.username) = lower(pr.username)
  AND pr.id IN (SELECT p.author_profile_id FROM data_downloads d JOIN posts p ON p.id = d.post_id
                WHERE d.run_id = :run)"""

_LINK_RUN_POSTS = """
UPDATE posts p SET account_id = pr.account_id
FROM profiles pr
WHERE pr.id = p.author_profile_id AND pr.account_id IS NOT NULL AND p.account_id IS NULL
  AND p.id IN (SELECT d.post_id FROM data_downloads d WHERE d.run_id = :run)"""


@dataclass(frozen=True)
class Linked:
    profiles: int
    posts: int


def link_account(conn: Connection, account_id: str) -> Linked:
    """Link the account to its profile and its posts (those already stored)."""
    profiles = conn.execute(text(_LINK_PROFILES), {"a": account_id}).rowcount
    posts = conn.execute(text(_LINK_POSTS), {"a": account_id}).rowcount
    return Linked(profiles, posts)


def link_run(conn: Connection, run_id: str) -> Linked:
    """Link the profiles and posts of one download run to our accounts."""
    profiles = conn.execute(text(_LINK_RUN_PROFILES), {"run": run_id}).rowcount
    posts = conn.execute(text(_LINK_RUN_POSTS), {"run": run_id}).rowcount
    return Linked(profiles, posts)
