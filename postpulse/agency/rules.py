"""Tag rules: a rule gives its tag to every post that matches all of its conditions.

Conditions (each a list, matched by any of its items; a rule needs at least one condition):
hashtags (without ``#``, case-insensitive), a keyword regex over the post's text (RE2: linear
time, no backreferences or lookaround; keywords given as words become a whole-word regex),
authors (usernames, case-insensitive) and platforms.

A post's rule tag is stored once per (post, tag) with ``source='rule:<id>'`` (the lowest id of
the rules giving it) and that rule's confidence. Rules are applied

* to the posts of each import, right after its merge (:func:`apply_to_run`), and
* to every stored post whenever a rule of a tag is added, changed or removed
  (:func:`reapply`): the tag's rule rows then become exactly what its rules give now (tags the
  rules no longer give are removed; manual tags are never touched).

All regexes of the rules are matched in one pass per post through RE2 sets (``re2.Set``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import orjson
import psycopg
import re2
from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse.agency.errors import AgencyError
from postpulse.agency.tags import get_tag
from postpulse.ids import (
    allocate_ids,
    draw_ids,
    insert_with_new_id,
    is_id_collision,
    retry_on_id_collision,
)

MAX_PATTERN_LENGTH = 2000
MAX_MEM = 64 << 20
SET_CHUNK_SIZE = 1024
SCAN_BATCH = 20_000
WRITE_CHUNK = 50_000


def _options() -> re2.Options:
    o = re2.Options()
    o.case_sensitive = False
    o.log_errors = False
    o.max_mem = MAX_MEM
    return o


def keywords_regex(keywords: Iterable[str]) -> str | None:
    """A whole-word, case-insensitive regex for plain keywords (``None`` for none)."""
    words = [k.strip() for k in keywords if k and k.strip()]
    if not words:
        return None
    return r"\b(?:" + "|".join(re2.escape(w) for w in words) + r")\b"


def check_regex(pattern: str, *, what: str = "--regex") -> str:
    """The pattern if RE2 accepts it within its memory budget; a clear error otherwise."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise AgencyError(f"{what} must be 1 to {MAX_PATTERN_LENGTH} characters")
    try:
        re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise AgencyError(
            f"{what} {pattern!r} is not accepted by the safe regex engine RE2 ({detail})",
            fix="backreferences (\\1) and lookaround ((?=...), (?!...), (?<=...)) are not supported; "
            "rewrite the pattern without them, or give plain words with --keyword",
        ) from None
    return pattern


def _norm_hashtag(h: Any) -> str:
    return str(h).strip().lstrip("#").lower()


@dataclass(frozen=True)
class TagRule:
    id: str
    tag_id: str
    hashtags: frozenset[str] = frozenset()
    keyword_regex: str | None = None
    authors: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()
    confidence: float = 1.0

    @cached_property
    def source(self) -> str:
        """What a tag row given by this rule says in ``post_tags.source``."""
        return f"rule:{self.id}"

    @classmethod
    def from_row(cls, row: Any) -> TagRule:
        return cls(
            id=row["id"],
            tag_id=row["tag_id"],
            hashtags=frozenset(_norm_hashtag(h) for h in row["hashtags"] or ()),
            keyword_regex=row["keyword_regex"],
            authors=frozenset(str(a).strip().lstrip("@").lower() for a in row["authors"] or ()),
            platforms=frozenset(str(p).strip().lower() for p in row["platforms"] or ()),
            confidence=float(row["confidence"]),
        )


class _RegexChunk:
    """One RE2 set with an always-matching canary at index 0: when RE2's DFA gives up (memory)
    ``Match`` returns nothing, the missing canary shows it, and the chunk matches one by one."""

    def __init__(self, patterns: list[str], rule_idx: list[int]) -> None:
        s = re2.Set.SearchSet(_options())
        s.Add("")
        for p in patterns:
            s.Add(p)
        s.Compile()
        self.set, self.patterns, self.singles = s, patterns, None
        self.rule_idx = [-1, *rule_idx]  # set index -> rule index (0 is the canary)

    def hits(self, text_: str) -> list[int]:
        found = self.set.Match(text_)
        if found and 0 in found:
            idx = self.rule_idx
            return [idx[i] for i in found if i]
        if self.singles is None:
            self.singles = [re2.compile(p, _options()) for p in self.patterns]
        return [idx for r, idx in zip(self.singles, self.rule_idx[1:], strict=True) if r.search(text_)]


class RuleMatcher:
    """All rules compiled once; :meth:`match` gives the indexes of the rules a post matches."""

    def __init__(self, rules: list[TagRule]) -> None:
        self.rules = rules
        self.by_hashtag: dict[str, list[int]] = {}
        self.by_author: dict[str, list[int]] = {}
        self.by_platform: dict[str, list[int]] = {}
        self._norm: dict[Any, str] = {}
        regex_found: set[int] = set()
        for i, r in enumerate(rules):
            # each rule is found through one condition (the most selective it has), then checked
            if r.hashtags:
                for h in r.hashtags:
                    self.by_hashtag.setdefault(h, []).append(i)
            elif r.keyword_regex:
                regex_found.add(i)
            elif r.authors:
                for a in r.authors:
                    self.by_author.setdefault(a, []).append(i)
            else:
                for p in r.platforms:
                    self.by_platform.setdefault(p, []).append(i)
        self.regex_found = frozenset(regex_found)
        with_regex = [i for i, r in enumerate(rules) if r.keyword_regex]
        self.chunks = [
            _RegexChunk([rules[i].keyword_regex for i in part], part)
            for part in (
                with_regex[k : k + SET_CHUNK_SIZE] for k in range(0, len(with_regex), SET_CHUNK_SIZE)
            )
        ]

    def _regex_hits(self, text_: str) -> set[int]:
        out: set[int] = set()
        for c in self.chunks:
            out.update(c.hits(text_))
        return out

    def _hashtags(self, hashtags: Iterable[Any]) -> set[str]:
        norm = self._norm
        out = set()
        for h in hashtags:
            n = norm.get(h) if isinstance(h, str) else None
            if n is None:
                n = _norm_hashtag(h)
                if isinstance(h, str) and len(norm) < 1_000_000:
                    norm[h] = n
            out.add(n)
        return out

    def match(
        self, platform: str | None, author: str | None, hashtags: Iterable[Any], text_: str | None
    ) -> list[int]:
        tags = self._hashtags(hashtags) if hashtags else set()
        author = author.lower() if author else ""
        hits: set[int] | None = None
        candidates: set[int] = set()
        for h in tags:
            found = self.by_hashtag.get(h)
            if found:
                candidates.update(found)
        if self.regex_found and text_:
            hits = self._regex_hits(text_)
            candidates |= hits & self.regex_found
        if author:
            candidates.update(self.by_author.get(author, ()))
        if platform:
            candidates.update(self.by_platform.get(platform, ()))
        out = []
        for i in candidates:
            r = self.rules[i]
            if r.platforms and platform not in r.platforms:
                continue
            if r.authors and author not in r.authors:
                continue
            if r.hashtags and not (r.hashtags & tags):
                continue
            if r.keyword_regex:
                if not text_:
                    continue
                if hits is None:
                    hits = self._regex_hits(text_)
                if i not in hits:
                    continue
            out.append(i)
        return out


# -- store ------------------------------------------------------------------------------------

_RULE_COLS = (
    "r.id, r.tag_id, t.name AS tag, r.hashtags, r.keyword_regex, r.authors, r.platforms, r.confidence, "
    "r.version"
)


def load_rules(conn: Connection, tag_ids: list[str] | None = None) -> list[TagRule]:
    rows = conn.execute(
        text(
            f"SELECT {_RULE_COLS} FROM tag_rules r JOIN tags t ON t.id = r.tag_id "
            "WHERE r.is_active AND (CAST(:tags AS text[]) IS NULL OR r.tag_id = ANY(:tags)) ORDER BY r.id"
        ),
        {"tags": tag_ids},
    ).mappings()
    return [TagRule.from_row(r) for r in rows]


def list_rules(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text(
            f"""SELECT {_RULE_COLS}, coalesce(n.posts, 0) AS posts
                FROM tag_rules r JOIN tags t ON t.id = r.tag_id
                LEFT JOIN (SELECT source, count(*) AS posts FROM post_tags WHERE source LIKE 'rule:%'
                           GROUP BY source) n ON n.source = 'rule:' || r.id
                ORDER BY t.name, r.id"""
        )
    ).mappings()
    return [dict(r) for r in rows]


def get_rule(conn: Connection, rule_id: str) -> dict:
    row = (
        conn.execute(
            text(f"SELECT {_RULE_COLS} FROM tag_rules r JOIN tags t ON t.id = r.tag_id WHERE r.id = :i"),
            {"i": rule_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AgencyError(f"no tag rule {rule_id!r}", fix="see `postpulse tags rules`")
    return dict(row)


@dataclass(frozen=True)
class RuleSpec:
    """A rule's conditions as given by a user, validated by :func:`check_spec`."""

    hashtags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    regex: str | None = None
    authors: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    confidence: float = 1.0


def check_spec(spec: RuleSpec) -> dict:
    """The columns of a rule from ``spec``; an error naming the bad option otherwise."""
    hashtags = sorted({_norm_hashtag(h) for h in spec.hashtags if _norm_hashtag(h)})
    authors = sorted({a.strip().lstrip("@").lower() for a in spec.authors if a.strip().lstrip("@")})
    platforms = sorted({p.strip().lower() for p in spec.platforms if p.strip()})
    parts = []
    kw = keywords_regex(spec.keywords)
    if kw:
        parts.append(check_regex(kw, what="--keyword"))
    if spec.regex is not None:
        parts.append(check_regex(spec.regex))
    regex = parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts) if parts else None
    if regex is not None:
        check_regex(regex)
    if not (hashtags or regex or authors or platforms):
        raise AgencyError(
            "a tag rule needs at least one condition",
            fix="give --hashtag, --keyword, --regex, --author or --platform",
        )
    if not 0 < spec.confidence <= 1:
        raise AgencyError(f"--confidence {spec.confidence} must be above 0 and at most 1")
    return {
        "hashtags": json.dumps(hashtags),
        "keyword_regex": regex,
        "authors": json.dumps(authors),
        "platforms": json.dumps(platforms),
        "confidence": spec.confidence,
    }


Progress = Callable[[int, int], None]
"""Called with (posts scanned so far, posts stored) after each batch of a re-application."""


def add_rule(
    conn: Connection, tag: str, spec: RuleSpec, *, progress: Progress | None = None
) -> tuple[dict, ApplyResult]:
    """Store a rule for ``tag`` (which must exist) and apply it to the stored posts."""
    values = check_spec(spec)  # before anything is written
    t = get_tag(conn, tag)
    row = insert_with_new_id(
        conn,
        "tag_rules",
        {"tag_id": t["id"], **values},
    )
    return get_rule(conn, row["id"]), reapply(conn, [t["id"]], progress=progress)


def update_rule(
    conn: Connection, rule_id: str, spec: RuleSpec, *, progress: Progress | None = None
) -> tuple[dict, ApplyResult]:
    """Replace a rule's conditions (a new version) and re-apply its tag to the stored posts."""
    values = check_spec(spec)
    rule = get_rule(conn, rule_id)
    conn.execute(
        text(
            """UPDATE tag_rules SET hashtags = CAST(:hashtags AS jsonb), keyword_regex = :keyword_regex,
                      authors = CAST(:authors AS jsonb), platforms = CAST(:platforms AS jsonb),
                      confidence = :confidence, version = version + 1 WHERE id = :id"""
        ),
        {**values, "id": rule_id},
    )
    return get_rule(conn, rule_id), reapply(conn, [rule["tag_id"]], progress=progress)


def remove_rule(conn: Connection, rule_id: str, *, progress: Progress | None = None) -> ApplyResult:
    rule = get_rule(conn, rule_id)
    conn.execute(text("DELETE FROM tag_rules WHERE id = :i"), {"i": rule_id})
    return reapply(conn, [rule["tag_id"]], progress=progress)


# -- applying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    posts_scanned: int
    added: int
    removed: int
    changed: int


def desired_rows(matcher: RuleMatcher, posts: Iterable[tuple]) -> Iterator[tuple[str, str, TagRule]]:
    """(post_id, tag_id, rule) for each post and tag its rules give (the rule with the lowest id
    per tag) from rows of (post_id, platform, author_username, hashtags, text)."""
    rules = matcher.rules
    for post_id, platform, author, hashtags, text_ in posts:
        best: dict[str, TagRule] = {}
        for i in matcher.match(platform, author, hashtags, text_):
            r = rules[i]
            cur = best.get(r.tag_id)
            if cur is None or r.id < cur.id:
                best[r.tag_id] = r
        for tag_id, r in best.items():
            yield post_id, tag_id, r


_POSTS = (
    "SELECT id, platform, author_username, "
    "CASE WHEN hashtags <> '[]'::jsonb THEN hashtags::text END, text_content FROM posts"
)


@contextmanager
def _post_batches(conn: Connection, where: str = "", params: dict | None = None) -> Iterator[Iterator[list]]:
    """The posts in batches from a server-side cursor: between two batches the connection is
    free, so each batch's tags are written before the next is read (one connection, one
    transaction, memory bounded by the batch). The cursor is closed on leaving, before the
    connection can go back to its pool."""
    raw = conn.connection.driver_connection
    with raw.cursor(name="pp_tag_rule_scan") as cur:
        cur.execute(_POSTS + where, params or {})

        def batches() -> Iterator[list]:
            while rows := cur.fetchmany(SCAN_BATCH):
                yield [(i, pl, au, orjson.loads(h) if h else (), tx) for i, pl, au, h, tx in rows]

        yield batches()


class _Stored(NamedTuple):
    id: str
    source: str
    confidence: float | None


def _stored_tags(conn: Connection, where: str, params: dict) -> dict[str, dict[str, _Stored]]:
    """The tag rows selected by ``where``, as {tag_id: {post_id: row}}."""
    out: dict[str, dict[str, _Stored]] = {}
    sources: dict[str, str] = {}
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(f"SELECT tag_id, post_id, id, source, confidence FROM post_tags WHERE {where}", params)
        for tag_id, post_id, id_, source, confidence in cur:
            by_post = out.get(tag_id)
            if by_post is None:
                by_post = out[tag_id] = {}
            by_post[post_id] = _Stored(id_, sources.setdefault(source, source), confidence)
    return out


def _is_rule(source: str) -> bool:
    return source.startswith("rule")


def _same(row: _Stored, rule: TagRule) -> bool:
    return row.source == rule.source and row.confidence == rule.confidence


_COPY_TAGS = "COPY post_tags (id, post_id, tag_id, confidence, applied_by, source) FROM STDIN"


class _TagWriter:
    """Writes batches of new rule tags with ``COPY`` on a helper thread, so that the next batch
    is matched while PostgreSQL inserts this one (its foreign key checks and indexes are most of
    the work). The connection is used by one side at a time: :meth:`start` hands it to the
    thread, :meth:`finish` takes it back.

    Ids are drawn locally, distinct within the run; the primary key catches one that an existing
    row already has, the batch is written again under ids checked against the table, and from
    then on every batch's ids are checked first."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.raw = conn.connection.driver_connection
        self.drawn: set[str] = set()
        self.check_table = False
        self.added = 0
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postpulse-tag-copy")
        self.pending: tuple[Future, Any, list] | None = None

    def __enter__(self) -> _TagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.finish()
        finally:
            self.pool.shutdown(wait=True)  # after an error too: the connection is the thread's until then

    def _ids(self, n: int) -> list[str]:
        if self.check_table:
            ids = allocate_ids(self.conn, "post_tags", n)
        else:
            ids = draw_ids("post_tags", n, avoid=self.drawn)
        self.drawn.update(ids)
        return ids

    def _copy(self, ids: list[str], rows: list[tuple[str, str, TagRule]]) -> None:
        with self.raw.cursor() as cur, cur.copy(_COPY_TAGS) as cp:
            for id_, (post_id, tag_id, r) in zip(ids, rows, strict=True):
                cp.write_row((id_, post_id, tag_id, r.confidence, "rule", r.source))

    def start(self, rows: list[tuple[str, str, TagRule]]) -> None:
        """Begin writing ``rows`` (post_id, tag_id, rule); the connection is busy until
        :meth:`finish`."""
        self.finish()
        if not rows:
            return
        ids = self._ids(len(rows))
        savepoint = self.conn.begin_nested()
        self.pending = (self.pool.submit(self._copy, ids, rows), savepoint, rows)

    def finish(self) -> None:
        """Wait for the batch being written (if any)."""
        if self.pending is None:
            return
        future, savepoint, rows = self.pending
        self.pending = None
        try:
            future.result()
        except psycopg.IntegrityError as exc:
            savepoint.rollback()
            if not is_id_collision(exc, "post_tags"):
                raise
            self.check_table = True
            retry_on_id_collision(self.conn, "post_tags", lambda: self._copy(self._ids(len(rows)), rows))
        except BaseException:
            savepoint.rollback()
            raise
        else:
            savepoint.commit()
        self.added += len(rows)


def _delete(conn: Connection, ids: list[str]) -> int:
    n = 0
    for k in range(0, len(ids), WRITE_CHUNK):
        n += conn.execute(
            text("DELETE FROM post_tags WHERE id = ANY(:ids)"), {"ids": ids[k : k + WRITE_CHUNK]}
        ).rowcount
    return n


def _update(conn: Connection, changes: list[tuple[str, str, float]]) -> int:
    n = 0
    for k in range(0, len(changes), WRITE_CHUNK):
        part = changes[k : k + WRITE_CHUNK]
        n += conn.execute(
            text(
                """UPDATE post_tags pt SET source = d.source, confidence = d.confidence, applied_by = 'rule'
                   FROM unnest(CAST(:ids AS text[]), CAST(:sources AS text[]), CAST(:confs AS real[]))
                        AS d(id, source, confidence)
                   WHERE pt.id = d.id"""
            ),
            {"ids": [c[0] for c in part], "sources": [c[1] for c in part], "confs": [c[2] for c in part]},
        ).rowcount
    return n


def _apply(
    conn: Connection,
    rules: list[TagRule],
    stored: dict[str, dict[str, _Stored]],
    posts: Iterable[list[tuple]],
    *,
    exact: bool,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Give ``posts`` the tags ``rules`` give them, against the ``stored`` tag rows. With
    ``exact``, stored rule rows that differ are updated and those no rule gives are removed
    (``stored`` must then hold every row of the rules' tags); manual rows are never touched."""
    matcher = RuleMatcher(rules) if rules else None
    scanned = 0
    changes: list[tuple[str, str, float]] = []
    batches = iter(posts if matcher else ())
    with _TagWriter(conn) as writer:
        batch = next(batches, None)
        while batch is not None:
            scanned += len(batch)
            new: list[tuple[str, str, TagRule]] = []  # matched while the previous batch is written
            for post_id, tag_id, r in desired_rows(matcher, batch):
                have = stored.get(tag_id, {}).pop(post_id, None)
                if have is None:
                    new.append((post_id, tag_id, r))
                elif exact and _is_rule(have.source) and not _same(have, r):
                    changes.append((have.id, r.source, r.confidence))
            writer.finish()
            batch = next(batches, None)
            writer.start(new)
            if progress:
                progress(scanned)
    if not exact:
        return ApplyResult(scanned, writer.added, 0, 0)
    gone = [row.id for by_post in stored.values() for row in by_post.values() if _is_rule(row.source)]
    return ApplyResult(scanned, writer.added, _delete(conn, gone), _update(conn, changes))


def apply_to_run(conn: Connection, run_id: str) -> ApplyResult:
    """Give the posts of one download run the tags all active rules give them (added only:
    a run's posts gain rule tags; removal happens when a rule changes)."""
    rules = load_rules(conn)
    if not rules:
        return ApplyResult(0, 0, 0, 0)
    run_posts = "(SELECT post_id FROM data_downloads WHERE run_id = %(run)s)"
    stored = _stored_tags(conn, f"post_id IN {run_posts}", {"run": run_id})
    with _post_batches(conn, f" WHERE id IN {run_posts}", {"run": run_id}) as posts:
        return _apply(conn, rules, stored, posts, exact=False)


def reapply(
    conn: Connection, tag_ids: list[str] | None = None, *, progress: Progress | None = None
) -> ApplyResult:
    """Make the rule tags of ``tag_ids`` (all tags with rules, and every rule-given tag, when
    None) exactly what their active rules give the stored posts now."""
    rules = load_rules(conn, tag_ids)
    if tag_ids is None:
        tag_ids = sorted(
            {r.tag_id for r in rules}
            | set(
                conn.execute(
                    text("SELECT DISTINCT tag_id FROM post_tags WHERE source LIKE 'rule%'")
                ).scalars()
            )
        )
    stored = _stored_tags(conn, "tag_id = ANY(%(tags)s)", {"tags": tag_ids})
    where, params = "", {}
    if rules and all(r.platforms for r in rules):  # posts on other platforms get none of these tags
        platforms = sorted(set().union(*(r.platforms for r in rules)))
        where, params = " WHERE platform = ANY(%(p)s)", {"p": platforms}
    on_batch = None
    if progress and rules:
        raw = conn.connection.driver_connection
        total = raw.execute(f"SELECT count(*) FROM posts{where}", params).fetchone()[0]
        progress(0, total)
        on_batch = lambda n: progress(n, total)  # noqa: E731
    with _post_batches(conn, where, params) as posts:
        return _apply(conn, rules, stored, posts, exact=True, progress=on_batch)
