"""Idempotency: never like or follow the same target twice; a given text once per target.

``text_hash(text)`` is the one normalisation used everywhere (policy, the executor's
``action_attempts.input.text_hash``, the database's unique index): SHA-256 (hex) of the text
NFKC-normalised, case-folded, with runs of whitespace collapsed to one space and the ends
stripped. "Great  post!" and "great post!" hash alike; "great post" and "great post!" do not.

Which actions are checked, and on which key:

================ =====================================
action type      key (besides account and type)
================ =====================================
like, follow     target_id
repost           target_id
delete_post      target_id (deleting twice is meaningless)
delete_comment   target_id (deleting twice is meaningless)
comment, reply   target_id + text_hash(params["text"])
dm_send          target_id + text_hash(params["text"])
publish          target_id (the publication)
unlike, unfollow not checked (they toggle; the executor verifies state)
================ =====================================
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Protocol, runtime_checkable

#: action type -> whether the text hash is part of the key
IDEMPOTENT_ACTIONS: dict[str, bool] = {
    "like": False,
    "follow": False,
    "delete_comment": False,
    "publish": False,
    "repost": False,
    "delete_post": False,
    "comment": True,
    "reply": True,
    "dm_send": True,
}


def normalize_text(text: str) -> str:
    """NFKC-normalised, case-folded, whitespace runs collapsed to one space, ends stripped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


def text_hash(text: str) -> str:
    """SHA-256 hex digest of ``normalize_text(text)``."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def idempotency_key(
    action_type: str, target_id: str | None, text: str | None, known_hash: str | None = None
) -> tuple[str, str | None] | None:
    """``(target_id, text_hash or None)`` for checked action types, else None. ``known_hash``
    (the hash stored with the action: keyed for DMs) wins over hashing ``text`` here."""
    if action_type not in IDEMPOTENT_ACTIONS or not target_id:
        return None
    if IDEMPOTENT_ACTIONS[action_type]:
        return (target_id, known_hash or text_hash(text or ""))
    return (target_id, None)


@runtime_checkable
class IdempotencyChecker(Protocol):
    """Answers from the store: has this exact action already succeeded?

    ``text_hash`` is None for actions keyed on the target only. The database implementation
    reads ``action_attempts`` with ``status = 'success'`` (and should also treat an in-progress
    attempt on the same key as done, to close the race between two executors).
    """

    def already_succeeded(
        self, account_id: str, action_type: str, target_id: str, text_hash: str | None
    ) -> bool: ...


class InMemoryIdempotency:
    """A set-backed ``IdempotencyChecker`` for plain-Python use, tests and the benchmark."""

    def __init__(self) -> None:
        self._done: set[tuple[str, str, str, str | None]] = set()

    def record_success(
        self, account_id: str, action_type: str, target_id: str, text_hash: str | None = None
    ) -> None:
        self._done.add((account_id, action_type, target_id, text_hash))

    def already_succeeded(
        self, account_id: str, action_type: str, target_id: str, text_hash: str | None
    ) -> bool:
        return (account_id, action_type, target_id, text_hash) in self._done
