"""The policy engine's inputs, read from PostgreSQL.

- ``DbUsageCounter``: counts successful and in-progress attempts in ``action_attempts`` (index
  ``idx_action_attempts_account (account_id, action_type, attempted_at)``), so rate limits hold
  across processes and machines. The executor calls it on the connection of its claim
  transaction, after ``pg_advisory_xact_lock`` on the account: "count + insert in-progress
  attempt" is atomic per account, two executors cannot both take the last slot.
- ``DbIdempotency``: a success (not superseded) or an in-progress attempt on the same key; for
  comments and replies also our own rows in ``comments`` with the same text (``comments.py``).
- ``BlocklistCache``: the indexed ``Blocklist`` per account (global entries + the account's
  own), rebuilt only when the table's fingerprint changes (one aggregate query).
- ``PreloadedUsage`` / ``PreloadedIdempotency``: a whole batch of decisions answered from two
  queries (used for dry runs, reports and the benchmark); not for the claim gate, which must
  count under the lock.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from postpulse.policy import Blocklist, BlocklistEntry, BlocklistError, validate_entry

_COUNT = text(
    "SELECT count(*) FROM action_attempts WHERE account_id = :a AND action_type = :t "
    "AND attempted_at >= :since AND status IN ('success', 'in_progress')"
)
_OLDEST = text(
    "SELECT attempted_at FROM action_attempts WHERE account_id = :a AND action_type = :t "
    "AND attempted_at >= :since AND status IN ('success', 'in_progress') "
    "ORDER BY attempted_at OFFSET :off LIMIT 1"
)
_DONE_TARGET = text(
    "SELECT 1 FROM action_attempts WHERE account_id = :a AND action_type = :t AND target_id = :tid "
    "AND ((status = 'success' AND superseded_at IS NULL) OR status = 'in_progress') LIMIT 1"
)
_DONE_TEXT = text(
    "SELECT 1 FROM action_attempts WHERE account_id = :a AND action_type = :t AND target_id = :tid "
    "AND text_hash = :h AND status IN ('success', 'in_progress') LIMIT 1"
)


class DbUsageCounter:
    """``WindowedUsageCounter`` on a connection (use the claim transaction's connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def count_actions(self, account_id: str, action_type: str, since: datetime) -> int:
        return int(
            self.conn.execute(_COUNT, {"a": account_id, "t": action_type, "since": since}).scalar_one()
        )

    def oldest_action_in_window(
        self, account_id: str, action_type: str, since: datetime, offset: int = 0
    ) -> datetime | None:
        return self.conn.execute(
            _OLDEST, {"a": account_id, "t": action_type, "since": since, "off": max(0, offset)}
        ).scalar()


class DbIdempotency:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def already_succeeded(
        self, account_id: str, action_type: str, target_id: str, text_hash: str | None
    ) -> bool:
        if text_hash is None:
            row = self.conn.execute(
                _DONE_TARGET, {"a": account_id, "t": action_type, "tid": target_id}
            ).first()
        else:
            row = self.conn.execute(
                _DONE_TEXT, {"a": account_id, "t": action_type, "tid": target_id, "h": text_hash}
            ).first()
            if row is None and action_type in ("comment", "reply"):
                # our comments in ``comments`` count too (attempts past retention, imported ones)
                from postpulse.policy import text_hash as hash_of

                from .comments import our_comment_texts

                return any(
                    hash_of(t) == text_hash
                    for t in our_comment_texts(self.conn, account_id, action_type, target_id)
                )
        return row is not None


# -- batch preload ------------------------------------------------------------------------------


class PreloadedUsage:
    """Attempt times of the last 24 h for the (account, type) pairs of a batch: one query."""

    def __init__(self, conn: Connection, pairs: Iterable[tuple[str, str]], now: datetime) -> None:
        pairs = sorted(set(pairs))
        self._times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        if not pairs:
            return
        rows = conn.execute(
            text(
                "SELECT a.account_id, a.action_type, a.attempted_at FROM action_attempts a "
                "JOIN unnest(CAST(:accs AS text[]), CAST(:types AS text[])) AS p(acc, typ) "
                "ON a.account_id = p.acc AND a.action_type = p.typ "
                "WHERE a.attempted_at >= :since AND a.status IN ('success', 'in_progress')"
            ),
            {"accs": [p[0] for p in pairs], "types": [p[1] for p in pairs], "since": now - timedelta(days=1)},
        )
        for acc, typ, at in rows:
            self._times[(acc, typ)].append(at)
        for v in self._times.values():
            v.sort()

    def record(self, account_id: str, action_type: str, at: datetime) -> None:
        bisect.insort(self._times[(account_id, action_type)], at)

    def count_actions(self, account_id: str, action_type: str, since: datetime) -> int:
        times = self._times.get((account_id, action_type))
        return len(times) - bisect.bisect_left(times, since) if times else 0

    def oldest_action_in_window(
        self, account_id: str, action_type: str, since: datetime, offset: int = 0
    ) -> datetime | None:
        times = self._times.get((account_id, action_type), [])
        i = bisect.bisect_left(times, since) + max(0, offset)
        return times[i] if i < len(times) else None


class PreloadedIdempotency:
    """Done keys for the targets of a batch: one query (plus one over our ``comments``)."""

    def __init__(self, conn: Connection, keys: Iterable[tuple[str, str, str]]) -> None:
        keys = sorted(set(keys))  # (account, type, target)
        self._done: set[tuple[str, str, str, str | None]] = set()
        if not keys:
            return
        rows = conn.execute(
            text(
                "SELECT a.account_id, a.action_type, a.target_id, a.text_hash FROM action_attempts a "
                "JOIN unnest(CAST(:accs AS text[]), CAST(:types AS text[]), CAST(:tids AS text[])) "
                "AS k(acc, typ, tid) ON a.account_id = k.acc AND a.action_type = k.typ "
                "AND a.target_id = k.tid "
                "WHERE (a.status = 'success' AND a.superseded_at IS NULL) OR a.status = 'in_progress' "
                "OR (a.status = 'success' AND a.action_type IN ('comment', 'reply', 'dm_send'))"
            ),
            {"accs": [k[0] for k in keys], "types": [k[1] for k in keys], "tids": [k[2] for k in keys]},
        )
        for acc, typ, tid, h in rows:
            self._done.add((acc, typ, tid, None))
            if h:
                self._done.add((acc, typ, tid, h))
        from postpulse.policy import text_hash as hash_of

        from .comments import our_comment_texts_batch

        for acc, typ, tid, body in our_comment_texts_batch(conn, keys):
            self._done.add((acc, typ, tid, hash_of(body)))

    def already_succeeded(
        self, account_id: str, action_type: str, target_id: str, text_hash: str | None
    ) -> bool:
        return (account_id, action_type, target_id, text_hash) in self._done


# -- blocklist ------------------------------------------------------------------------------------

# count + newest insert + newest row version (xmin): any insert, update or delete changes it.
# Cheap (no hashing of the values): one pass over the table.
_FINGERPRINT = text(
    "SELECT count(*), coalesce(max(created_at), 'epoch'::timestamptz), coalesce(max(xmin::text::bigint), 0) "
    "FROM blocklist_entries"
)
_ENTRIES = text(
    "SELECT id, entry_type, platform, value, match_type, reason, added_by, expires_at, created_at, "
    "account_id "
    "FROM blocklist_entries"
)


class BlocklistCache:
    """Per-process cache of the indexed blocklist; ``get(conn, account_id)`` checks the fingerprint
    (one aggregate query) and rebuilds only when entries were added, changed or removed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fingerprint: tuple | None = None
        self._rows: list[tuple[BlocklistEntry, str | None]] = []
        self._by_account: dict[str | None, Blocklist] = {}
        self._owners: set[str] = set()
        self.builds = 0
        #: entries that could not be used (named); reported by `postpulse actions status`
        self.errors: list[str] = []

    def fingerprint(self, conn: Connection) -> tuple:
        return tuple(conn.execute(_FINGERPRINT).one())

    def get(self, conn: Connection, account_id: str | None, *, check: bool = True) -> Blocklist:
        if check or self._fingerprint is None:
            fp = self.fingerprint(conn)
            with self._lock:
                if fp != self._fingerprint:
                    rows = conn.execute(_ENTRIES).mappings().all()
                    self._rows, self.errors = [], []
                    for r in rows:
                        entry = BlocklistEntry.from_row(r)
                        try:
                            validate_entry(entry)
                        except BlocklistError as exc:  # e.g. a regex RE2 refuses, inserted around the CLI
                            self.errors.append(str(exc))
                            continue
                        self._rows.append((entry, r["account_id"]))
                    self._owners = {acc for _, acc in self._rows if acc is not None}
                    self._by_account = {}
                    self._fingerprint = fp
        with self._lock:
            # accounts without entries of their own share the global index (built once)
            key = account_id if account_id in self._owners else None
            bl = self._by_account.get(key)
            if bl is None:
                bl = Blocklist(e for e, acc in self._rows if acc is None or acc == key)
                self._by_account[key] = bl
                self.builds += 1
            return bl


#: one cache per process (keyed by database URL)
_CACHES: dict[str, BlocklistCache] = {}


def blocklist_cache(engine: Engine) -> BlocklistCache:
    key = engine.url.render_as_string(hide_password=True)
    cache = _CACHES.get(key)
    if cache is None:
        cache = _CACHES[key] = BlocklistCache()
    return cache
