"""Engagement: the action queue, the policy gate against the store, the executor and its
Playwright drivers, browser sessions, DM sync, key rotation, retention and the audit trail.

Plain Python (no Dagster). The Dagster jobs in ``orchestration/engagement.py`` and the
``postpulse actions|accounts|keys`` commands are thin shells over these modules:

- ``repository``  accounts (and their alerts: frozen / needs re-login / paused), the action queue
                  (add/approve/reject/cancel), blocklist entries, message templates, app settings
- ``policy_store`` ``UsageCounter`` / ``IdempotencyChecker`` / blocklist loading on PostgreSQL
- ``audit``       audit entries (never secrets, never DM text)
- ``executor``    claim (SKIP LOCKED + advisory lock + policy) -> execute -> verify -> record
- ``drivers``     the driver registry (``drivers/registry``: which driver acts for an account, how
                  to add one), the sandbox Playwright driver, its selectors in ``drivers/sandbox_selectors``
- ``comments``    our posted comments and replies into ``comments`` (is_ours, attempt, action)
- ``sessions``    log in once, keep the Playwright storage state encrypted in ``accounts``
- ``dm_sync``     threads and messages into ``dm_threads``/``dm_messages`` (encrypted), opt-outs
- ``keys``        key status and rotation (re-encrypt every envelope)
- ``retention``   retention of audit entries, attempts, posts, DM content and screenshots
"""
