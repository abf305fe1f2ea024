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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import re2
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from postpulse.agency.errors import AgencyError
from postpulse.agency.sqlutil import redraw_colliding_ids
from postpulse.agency.tags import get_tag
from postpulse.ids import insert_with_new_id, is_id_collision

MAX_PATTERN_LENGTH = 2000
MAX_MEM = 64 << 20
SET_CHUNK_SIZE = 1024
SCAN_BATCH = 50_000
MAX_ID_ATTEMPTS = 8


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
        self.set, self.patterns, self.rule_idx, self.singles = s, patterns, rule_idx, None

    def hits(self, text_: str) -> Iterator[int]:
        found = self.set.Match(text_)
        if found and 0 in found:
            for i in found:
                if i:
                    yield self.rule_idx[i - 1]
            return
        if self.singles is None:
            self.singles = [re2.compile(p, _options()) for p in self.patterns]
        for r, idx in zip(self.singles, self.rule_idx, strict=True):
            if r.search(text_):
                yield idx


class RuleMatcher:
    """All rules compiled once; :meth:`match` gives the indexes of the rules a post matches."""

    def __init__(self, rules: list[TagRule]) -> None:
        self.rules = rules
        self.by_hashtag: dict[str, list[int]] = {}
        self.by_author: dict[str, list[int]] = {}
        self.by_platform: dict[str, list[int]] = {}
        regex_rules: list[int] = []
        for i, r in enumerate(rules):
            # each rule is found through one condition (the most selective it has), then checked
            if r.hashtags:
                for h in r.hashtags:
                    self.by_hashtag.setdefault(h, []).append(i)
            elif r.keyword_regex:
                regex_rules.append(i)
            elif r.authors:
                for a in r.authors:
                    self.by_author.setdefault(a, []).append(i)
            else:
                for p in r.platforms:
                    self.by_platform.setdefault(p, []).append(i)
        self.regex_anchored = bool(regex_rules)
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

    def match(self, platform: str | None, author: str | None, hashtags: Iterable[Any], text_: str | None):
        tags = {_norm_hashtag(h) for h in hashtags} if hashtags else set()
        author = (author or "").lower()
        hits: set[int] | None = None
        candidates: set[int] = set()
        for h in tags:
            candidates.update(self.by_hashtag.get(h, ()))
        if self.regex_anchored and text_:
            hits = self._regex_hits(text_)
            candidates.update(i for i in hits if not self.rules[i].hashtags)
        if author:
            candidates.update(self.by_author.get(author, ()))
        if platform:
            candidates.update(self.by_platform.get(platform, ()))
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
            yield i


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


def add_rule(conn: Connection, tag: str, spec: RuleSpec) -> tuple[dict, ApplyResult]:
    """Store a rule for ``tag`` (which must exist) and apply it to the stored posts."""
    values = check_spec(spec)  # before anything is written
    t = get_tag(conn, tag)
    row = insert_with_new_id(
        conn,
        "tag_rules",
        {"tag_id": t["id"], **values},
    )
    return get_rule(conn, row["id"]), reapply(conn, [t["id"]])


def update_rule(conn: Connection, rule_id: str, spec: RuleSpec) -> tuple[dict, ApplyResult]:
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
    return get_rule(conn, rule_id), reapply(conn, [rule["tag_id"]])


def remove_rule(conn: Connection, rule_id: str) -> ApplyResult:
    rule = get_rule(conn, rule_id)
    conn.execute(text("DELETE FROM tag_rules WHERE id = :i"), {"i": rule_id})
    return reapply(conn, [rule["tag_id"]])


# -- applying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    posts_scanned: int
    added: int
    removed: int
    changed: int


def desired_rows(matcher: RuleMatcher, posts: Iterable[tuple]) -> Iterator[tuple[str, str, str, float]]:
    """(post_id, tag_id, rule_id, confidence) for each post and tag its rules give (the lowest
    rule id per tag) from rows of (post_id, platform, author_username, hashtags, text)."""
    rules = matcher.rules
    for post_id, platform, author, hashtags, text_ in posts:
        best: dict[str, TagRule] = {}
        for i in matcher.match(platform, author, hashtags, text_):
            r = rules[i]
            cur = best.get(r.tag_id)
            if cur is None or r.id < cur.id:
                best[r.tag_id] = r
        for r in best.values():
            yield post_id, r.tag_id, r.id, r.confidence


_POSTS = "SELECT id, platform, author_username, hashtags, text_content FROM posts"
_STAGE = (
    "CREATE TEMP TABLE _rule_tags (post_id text, tag_id text, rule_id text, confidence real) ON COMMIT DROP"
)


def _stage(conn: Connection, rows: Iterable[tuple]) -> int:
    conn.execute(text("DROP TABLE IF EXISTS _rule_tags"))
    conn.execute(text(_STAGE))
    raw = conn.connection.driver_connection
    n = 0
    with (
        raw.cursor() as cur,
        cur.copy("COPY _rule_tags (post_id, tag_id, rule_id, confidence) FROM STDIN") as cp,
    ):
        for row in rows:
            cp.write_row(row)
            n += 1
    conn.execute(text("CREATE INDEX ON _rule_tags (post_id, tag_id)"))
    conn.execute(text("ANALYZE _rule_tags"))
    return n


_MISSING = """
CREATE TEMP TABLE _rule_tags_new ON COMMIT DROP AS
SELECT pp_new_id('ptg') AS id, d.post_id, d.tag_id, d.confidence, d.rule_id
FROM _rule_tags d LEFT JOIN post_tags pt ON pt.post_id = d.post_id AND pt.tag_id = d.tag_id
WHERE pt.id IS NULL"""

_INSERT_NEW = """
INSERT INTO post_tags (id, post_id, tag_id, confidence, applied_by, source)
SELECT id, post_id, tag_id, confidence, 'rule', 'rule:' || rule_id
FROM _rule_tags_new ORDER BY post_id, tag_id"""


def _insert_staged(conn: Connection) -> int:
    """Insert the staged (post, tag) pairs that have no tag row yet, under fresh ids."""
    conn.execute(text("DROP TABLE IF EXISTS _rule_tags_new"))
    conn.execute(text(_MISSING))
    for attempt in range(MAX_ID_ATTEMPTS):
        redraw_colliding_ids(conn, "_rule_tags_new", "ptg", "post_tags", redraw_all=attempt > 0)
        savepoint = conn.begin_nested()
        try:
            n = conn.execute(text(_INSERT_NEW)).rowcount
        except IntegrityError as exc:
            savepoint.rollback()
            if not is_id_collision(exc, "post_tags"):
                raise
            continue  # a concurrent writer took one of the ids meanwhile: draw again
        savepoint.commit()
        return n
    raise RuntimeError("could not insert the rule tags: ids kept colliding")


def _scan(conn: Connection, sql: str, params: dict) -> Iterator[tuple]:
    result = conn.execute(
        text(sql), params, execution_options={"stream_results": True, "yield_per": SCAN_BATCH}
    )
    yield from result.tuples()


def apply_to_run(conn: Connection, run_id: str) -> ApplyResult:
    """Give the posts of one download run the tags all active rules give them (added only:
    a run's posts gain rule tags; removal happens when a rule changes)."""
    rules = load_rules(conn)
    if not rules:
        return ApplyResult(0, 0, 0, 0)
    matcher = RuleMatcher(rules)
    posts = list(
        _scan(
            conn,
            _POSTS + " WHERE id IN (SELECT DISTINCT post_id FROM data_downloads WHERE run_id = :run)",
            {"run": run_id},
        )
    )
    _stage(conn, list(desired_rows(matcher, posts)))
    added = _insert_staged(conn)
    return ApplyResult(len(posts), added, 0, 0)


def reapply(conn: Connection, tag_ids: list[str] | None = None) -> ApplyResult:
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
    scanned = 0

    def counted(rows: Iterator[tuple]) -> Iterator[tuple]:
        nonlocal scanned
        for row in rows:
            scanned += 1
            yield row

    if rules:
        matcher = RuleMatcher(rules)
        # computed in full before the COPY: the scan's cursor and a COPY cannot share the connection
        _stage(conn, list(desired_rows(matcher, counted(_scan(conn, _POSTS, {})))))
    else:
        _stage(conn, ())
    removed = conn.execute(
        text(
            """DELETE FROM post_tags pt WHERE pt.tag_id = ANY(:tags) AND pt.source LIKE 'rule%'
               AND NOT EXISTS (SELECT 1 FROM _rule_tags d
                               WHERE d.post_id = pt.post_id AND d.tag_id = pt.tag_id)"""
        ),
        {"tags": tag_ids},
    ).rowcount
    changed = conn.execute(
        text(
            """UPDATE post_tags pt
               SET source = 'rule:' || d.rule_id, confidence = d.confidence, applied_by = 'rule'
               FROM _rule_tags d
               WHERE d.post_id = pt.post_id AND d.tag_id = pt.tag_id AND pt.source LIKE 'rule%'
                 AND (pt.source <> 'rule:' || d.rule_id OR pt.confidence IS DISTINCT FROM d.confidence)"""
        )
    ).rowcount
    added = _insert_staged(conn)
    return ApplyResult(scanned, added, removed, changed)
