"""Blocklist: users, posts, keywords and domains we never engage with.

Entries (``blocklist_entries``): ``entry_type`` user/post/keyword/domain,
``platform`` (None = every platform), ``value``, ``match_type`` exact/contains/regex,
``reason``, ``added_by`` user/system/opt_out, ``expires_at`` (None = permanent).

``Blocklist(entries)`` builds an index once; matching a request is then independent of the
number of entries for exact values (dict/set lookups per (type, platform)) and one linear-time
pass per (type, platform) for contains/regex entries, which are compiled together into RE2 sets
(``re2.Set``). RE2 guarantees time linear in the input: a "regex bomb" such as ``(a+)+$`` that
would make Python's backtracking ``re`` run for ages on ``"a" * 30 + "b"`` is evaluated by RE2
in microseconds. RE2 rejects backreferences and lookaround; such entries are refused on load
with an error naming the entry.

What is matched against what (``match_request``):

- user entries: ``target_username`` and every name in ``target_authors`` (the author of the
  targeted post or of the comment replied to); case-insensitive, a leading ``@`` ignored.
- post entries: ``target_id``, ``params["platform_post_id"]`` and ``target_url``; case-sensitive
  (platform post ids such as Instagram shortcodes are case-sensitive).
- domain entries: the host of ``target_url`` and every domain or URL found in ``target_text``;
  case-insensitive; an exact domain also matches its subdomains (``spam.com`` blocks
  ``www.spam.com`` and ``a.b.spam.com`` but not ``notspam.com``). Contains/regex domain entries
  are matched against each host.
- keyword entries: ``target_text``, NFKC-normalised, case-folded, whitespace collapsed.
  ``exact`` means the whole word or phrase (``"ad"`` matches "an ad here" and "#ad", not
  "adult"); ``contains`` any substring; ``regex`` a case-insensitive RE2 search.

Expired entries stay in the index and are skipped at match time (``now``), so an index can be
reused until the entry set changes; ``next_expiry(now)`` tells when the result may change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import re2

from .decision import ReasonCode

EntryType = Literal["user", "post", "keyword", "domain"]
MatchType = Literal["exact", "contains", "regex"]
ENTRY_TYPES: tuple[str, ...] = ("user", "post", "keyword", "domain")
MATCH_TYPES: tuple[str, ...] = ("exact", "contains", "regex")
ADDED_BY: tuple[str, ...] = ("user", "system", "opt_out")

#: longest accepted value / pattern, in characters
MAX_PATTERN_LENGTH = 512
#: patterns per compiled RE2 set (a set that does not compile within MAX_MEM is split)
SET_CHUNK_SIZE = 2048
#: memory budget per RE2 set / regex (bytes)
MAX_MEM = 64 << 20

_WORD = re.compile(r"\w+")
_BOUNDARY_L = r"(?:^|[^\pL\pN_])"
_BOUNDARY_R = r"(?:$|[^\pL\pN_])"
# hosts in free text: bare domains, URLs, e-mail domains (RE2: linear time on any input)
_HOST_OPTIONS = re2.Options()
_HOST_OPTIONS.log_errors = False
_HOST_OPTIONS.max_mem = MAX_MEM


class BlocklistError(ValueError):
    """An entry that cannot be used; the message names the entry."""

    def __init__(self, entry: BlocklistEntry | None, problem: str) -> None:
        self.entry = entry
        label = entry.label if entry is not None else "blocklist entry"
        super().__init__(f"{label}: {problem}")


@dataclass(frozen=True, slots=True)
class BlocklistEntry:
    entry_type: str
    value: str
    match_type: str = "exact"
    platform: str | None = None
    reason: str = ""
    added_by: str = "user"
    expires_at: datetime | None = None
    id: str | None = None
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        ident = self.id or "new entry"
        shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        where = self.platform or "all platforms"
        return f"blocklist entry {ident} ({self.entry_type} {self.match_type} {shown!r}, {where})"

    def is_active(self, now: datetime | None) -> bool:
        return self.expires_at is None or now is None or self.expires_at > now

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BlocklistEntry:
        """From a ``blocklist_entries`` row mapping (snake_case or camelCase keys)."""

        def get(*names: str, default: Any = None) -> Any:
            for n in names:
                if n in row:
                    return row[n]
            return default

        return cls(
            entry_type=get("entry_type", "entryType"),
            value=get("value"),
            match_type=get("match_type", "matchType", default="exact") or "exact",
            platform=get("platform"),
            reason=get("reason", default="") or "",
            added_by=get("added_by", "addedBy", default="user") or "user",
            expires_at=get("expires_at", "expiresAt"),
            id=get("id"),
            created_at=get("created_at", "createdAt"),
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entry_type": self.entry_type,
            "platform": self.platform,
            "value": self.value,
            "match_type": self.match_type,
            "reason": self.reason,
            "added_by": self.added_by,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class BlocklistMatch:
    entry: BlocklistEntry
    field: str  # which request field matched: target_username, target_id, target_url, ...

    @property
    def reason_code(self) -> str:
        if self.entry.added_by == "opt_out":
            return ReasonCode.OPTED_OUT
        return {
            "user": ReasonCode.BLOCKLISTED_USER,
            "post": ReasonCode.BLOCKLISTED_POST,
            "keyword": ReasonCode.BLOCKLISTED_KEYWORD,
            "domain": ReasonCode.BLOCKLISTED_DOMAIN,
        }[self.entry.entry_type]


# -- normalisation -----------------------------------------------------------------------


def normalize_user(value: str) -> str:
    return value.strip().lstrip("@").casefold()


def normalize_keyword_text(value: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed to one space (same as idempotency)."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return " ".join(value.casefold().split())


_ASCII_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})


def _word_set(norm: str) -> set[str]:
    """The set of ``\\w+`` tokens (fast path for ASCII text)."""
    if norm.isascii():
        return set(norm.translate(_ASCII_NON_WORD).split())
    return set(_WORD.findall(norm))


def _idna(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def normalize_domain(value: str) -> str:
    """``'https://WWW.Spam.com:8080/x'`` -> ``'spam.com'``; ``'*.spam.com'`` -> ``'spam.com'``."""
    v = value.strip().casefold()
    if "://" in v:
        v = urlsplit(v).hostname or ""
    else:
        v = v.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    v = v.strip(".")
    if v.startswith("*."):
        v = v[2:]
    if v.startswith("www."):
        v = v[4:]
    return _idna(v)


_URL_HOST = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//([^/?#@\[\]:]+)(?::\d*)?(?:[/?#]|$)")


def _host_of_url(url: str) -> str | None:
    u = url.strip()
    m = _URL_HOST.match(u)
    if m:  # the common case, without urlsplit's overhead
        host = m.group(1).casefold().strip(".")
        return _idna(host) if host else None
    try:
        host = urlsplit(u if "://" in u else "//" + u).hostname
    except ValueError:
        return None
    return _idna(host.strip(".")) if host else None


_TOKEN_STRIP = "()[]<>{}\"'.,;!?*|`\u00ab\u00bb\u201c\u201d\u2018\u2019"
# a host name: labels of letters/digits/hyphens, a top-level label of 2+ letters
_HOST_NAME = re2.compile(r"(?:[\pL\pN](?:[\pL\pN-]*[\pL\pN])?\.)+\pL\pL+", _HOST_OPTIONS)


def _hosts_in_token(tok: str) -> Iterator[str]:
    tok = tok.strip(_TOKEN_STRIP)
    if "://" in tok:
        h = _host_of_url(tok)
        if h:
            yield h
        return
    # bare domains, e-mail addresses, "link:spam.com", "spam.com:8080/x"
    for piece in tok.replace("@", ":").split(":"):
        if "." not in piece:
            continue
        cand = piece.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].strip(_TOKEN_STRIP)
        if cand:
            for h in _HOST_NAME.findall(cand):  # also "shop.spam.com🔥"
                yield _idna(h)


def hosts_in(url: str | None, text: str | None) -> list[str]:
    """Hosts named by a URL and found in free text, normalised, deduplicated, in order."""
    seen: dict[str, None] = {}
    if url:
        h = _host_of_url(url)
        if h:
            seen[h] = None
    if text and "." in text:
        for tok in text.casefold().split():
            if "." in tok:
                for h in _hosts_in_token(tok):
                    seen[h] = None
    return list(seen)


def _suffixes(host: str) -> Iterator[str]:
    parts = host.split(".")
    for i in range(len(parts)):
        yield ".".join(parts[i:])


# -- validation ----------------------------------------------------------------------------


def _options(case_sensitive: bool) -> re2.Options:
    o = re2.Options()
    o.case_sensitive = case_sensitive
    o.log_errors = False
    o.max_mem = MAX_MEM
    return o


def validate_entry(entry: BlocklistEntry) -> BlocklistEntry:
    """Check an entry (call before inserting it) and return it with its value normalised.

    Raises ``BlocklistError`` naming the entry: unknown type/match type/added_by, empty or too
    long value, a regex RE2 cannot compile (backreferences, lookaround, syntax errors).
    """
    if entry.entry_type not in ENTRY_TYPES:
        raise BlocklistError(entry, f"entry_type must be one of {', '.join(ENTRY_TYPES)}")
    if entry.match_type not in MATCH_TYPES:
        raise BlocklistError(entry, f"match_type must be one of {', '.join(MATCH_TYPES)}")
    if entry.added_by not in ADDED_BY:
        raise BlocklistError(entry, f"added_by must be one of {', '.join(ADDED_BY)}")
    if not isinstance(entry.value, str) or not entry.value.strip():
        raise BlocklistError(entry, "value is empty")
    if len(entry.value) > MAX_PATTERN_LENGTH:
        raise BlocklistError(
            entry, f"value is {len(entry.value)} characters long; the limit is {MAX_PATTERN_LENGTH}"
        )
    if entry.expires_at is not None and (
        not isinstance(entry.expires_at, datetime) or entry.expires_at.tzinfo is None
    ):
        raise BlocklistError(entry, "expires_at must be an aware datetime (with a time zone)")
    platform = entry.platform.strip().casefold() if entry.platform else None
    if entry.match_type == "regex":
        try:
            re2.compile(entry.value, _options(entry.entry_type == "post"))
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise BlocklistError(
                entry,
                f"regex is not accepted by RE2 ({detail}). Backreferences (\\1) and lookaround "
                "((?=...), (?!...), (?<=...)) are not supported; rewrite the pattern without them.",
            ) from None
        value = entry.value
    elif entry.entry_type == "user":
        value = normalize_user(entry.value)
    elif entry.entry_type == "post":
        value = entry.value.strip()
    elif entry.entry_type == "keyword":
        value = normalize_keyword_text(entry.value)
    else:
        value = (
            normalize_domain(entry.value) if entry.match_type == "exact" else entry.value.strip().casefold()
        )
    if not value:
        raise BlocklistError(entry, "value is empty after normalisation")
    if value == entry.value and platform == entry.platform:
        return entry
    return replace(entry, value=value, platform=platform)


# -- the index -------------------------------------------------------------------------------


class _PatternChunk:
    """One compiled RE2 set over some patterns, with index 0 an always-matching canary.

    If RE2's DFA ever gives up (memory budget), ``Set.Match`` returns no match at all; the
    missing canary reveals that, and the chunk falls back to one RE2 regex per pattern (still
    linear time) rather than failing open.
    """

    __slots__ = ("_set", "patterns", "entry_ids", "_options", "_singles")

    def __init__(self, patterns: list[str], entry_ids: list[int], options: re2.Options) -> None:
        s = re2.Set.SearchSet(options)
        s.Add("")  # canary: matches every input
        for p in patterns:
            s.Add(p)
        s.Compile()
        self._set = s
        self.patterns = patterns
        self.entry_ids = entry_ids
        self._options = options
        self._singles: list[Any] | None = None

    def match(self, text: str) -> list[int]:
        hits = self._set.Match(text)
        if hits and 0 in hits:
            return [self.entry_ids[i - 1] for i in hits if i != 0]
        return self._match_one_by_one(text)

    def _match_one_by_one(self, text: str) -> list[int]:
        if self._singles is None:
            self._singles = [re2.compile(p, self._options) for p in self.patterns]
        return [self.entry_ids[i] for i, r in enumerate(self._singles) if r.search(text)]


def _compile_chunks(
    patterns: list[str], ids: list[int], options: re2.Options, entries: Sequence[BlocklistEntry]
) -> list[_PatternChunk]:
    out: list[_PatternChunk] = []
    for start in range(0, len(patterns), SET_CHUNK_SIZE):
        stack = [(patterns[start : start + SET_CHUNK_SIZE], ids[start : start + SET_CHUNK_SIZE])]
        while stack:
            ps, es = stack.pop()
            try:
                out.append(_PatternChunk(ps, es, options))
            except re2.error:
                if len(ps) == 1:
                    raise BlocklistError(
                        entries[es[0]], "pattern is too large for RE2; simplify it"
                    ) from None
                mid = len(ps) // 2
                stack.append((ps[mid:], es[mid:]))
                stack.append((ps[:mid], es[:mid]))
    return out


class _TypeIndex:
    __slots__ = ("exact", "chunks")

    def __init__(self) -> None:
        self.exact: dict[str, list[int]] = {}
        self.chunks: list[_PatternChunk] = []

    def match_patterns(self, text: str) -> list[int]:
        out: list[int] = []
        for c in self.chunks:
            out.extend(c.match(text))
        return out


class Blocklist:
    """An immutable, indexed set of blocklist entries. Build once, match many times.

    One index per (entry type, platform): a platform's index holds its own entries and the
    all-platform ones, so a lookup is one dict probe plus at most one RE2 pass per chunk.
    """

    def __init__(self, entries: Iterable[BlocklistEntry] = ()) -> None:
        self._entries: list[BlocklistEntry] = [validate_entry(e) for e in entries]
        platforms = {e.platform for e in self._entries if e.platform}
        # (entry_type, platform or None) -> (exact values, patterns, pattern entry ids)
        groups: dict[tuple[str, str | None], tuple[dict[str, list[int]], list[str], list[int]]] = {}
        for i, e in enumerate(self._entries):
            targets = [e.platform] if e.platform else [None, *platforms]
            if e.match_type == "exact" and not (e.entry_type == "keyword" and not _WORD.fullmatch(e.value)):
                for t in targets:
                    groups.setdefault((e.entry_type, t), ({}, [], []))[0].setdefault(e.value, []).append(i)
                continue
            if e.match_type == "regex":
                pattern = e.value
            elif e.match_type == "contains":
                pattern = re2.escape(e.value)
            else:  # exact keyword phrase: whole words only
                pattern = _BOUNDARY_L + re2.escape(e.value) + _BOUNDARY_R
            if e.entry_type == "domain":
                # hosts are matched together, one per line: ^ and $ anchor to each host
                pattern = "(?m)" + pattern
            for t in targets:
                _, ps, ids = groups.setdefault((e.entry_type, t), ({}, [], []))
                ps.append(pattern)
                ids.append(i)
        self._index: dict[tuple[str, str | None], _TypeIndex] = {}
        compiled: dict[tuple[str, tuple[int, ...]], list[_PatternChunk]] = {}
        for key, (exact, ps, ids) in groups.items():
            idx = _TypeIndex()
            idx.exact = exact
            if ps:
                sig = (key[0], tuple(ids))  # platforms with only global patterns share chunks
                if sig not in compiled:
                    compiled[sig] = _compile_chunks(ps, ids, _options(key[0] == "post"), self._entries)
                idx.chunks = compiled[sig]
            self._index[key] = idx
        self._expiries = sorted(e.expires_at for e in self._entries if e.expires_at is not None)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Blocklist({len(self._entries)} entries)"

    @property
    def entries(self) -> tuple[BlocklistEntry, ...]:
        return tuple(self._entries)

    def next_expiry(self, now: datetime) -> datetime | None:
        """The next time an entry expires (after which match results may change)."""
        for t in self._expiries:
            if t > now:
                return t
        return None

    # -- matching --------------------------------------------------------------------------

    def _lookup(self, entry_type: str, platform: str | None) -> _TypeIndex | None:
        if platform:
            idx = self._index.get((entry_type, platform)) or self._index.get(
                (entry_type, platform.casefold())
            )
            if idx is not None:
                return idx
        return self._index.get((entry_type, None))

    def _first_active(self, ids: Iterable[int], now: datetime | None) -> BlocklistEntry | None:
        best: BlocklistEntry | None = None
        for i in ids:
            e = self._entries[i]
            if e.is_active(now):
                if e.added_by == "opt_out":
                    return e
                if best is None:
                    best = e
        return best

    def has_user_entries(self, platform: str | None) -> bool:
        """Whether any user entry (blocklist or opt-out) applies on ``platform``."""
        return self._lookup("user", platform) is not None

    def match_user(
        self, platform: str | None, username: str | None, now: datetime | None = None
    ) -> BlocklistEntry | None:
        if not username:
            return None
        idx = self._lookup("user", platform)
        if idx is None:
            return None
        u = normalize_user(username)
        ids = idx.exact.get(u, [])
        if idx.chunks:
            ids = ids + idx.match_patterns(u)
        return self._first_active(ids, now) if ids else None

    def match_post(
        self, platform: str | None, values: Iterable[str | None], now: datetime | None = None
    ) -> BlocklistEntry | None:
        idx = self._lookup("post", platform)
        if idx is None:
            return None
        ids: list[int] = []
        for v in values:
            if not v or not (v := v.strip()):
                continue
            ids.extend(idx.exact.get(v, ()))
            if idx.chunks:
                ids.extend(idx.match_patterns(v))
        return self._first_active(ids, now) if ids else None

    def match_domain(
        self, platform: str | None, url: str | None, text: str | None, now: datetime | None = None
    ) -> BlocklistEntry | None:
        idx = self._lookup("domain", platform)
        if idx is None:
            return None
        hosts = hosts_in(url, text)
        if not hosts:
            return None
        ids: list[int] = []
        if idx.exact:
            exact = idx.exact
            for h in hosts:
                for suffix in _suffixes(h[4:] if h.startswith("www.") else h):
                    if suffix in exact:
                        ids.extend(exact[suffix])
        if idx.chunks:
            ids.extend(idx.match_patterns("\n".join(hosts)))
        return self._first_active(ids, now) if ids else None

    def match_keyword(
        self, platform: str | None, text: str | None, now: datetime | None = None
    ) -> BlocklistEntry | None:
        if not text:
            return None
        idx = self._lookup("keyword", platform)
        if idx is None:
            return None
        norm = normalize_keyword_text(text)
        ids: list[int] = []
        if idx.exact:
            exact = idx.exact
            for t in _word_set(norm):
                if t in exact:
                    ids.extend(exact[t])
        if idx.chunks:
            ids.extend(idx.match_patterns(norm))
        return self._first_active(ids, now) if ids else None

    def match(
        self,
        *,
        platform: str | None,
        username: str | None = None,
        authors: Sequence[str | None] = (),
        post_ids: Sequence[str | None] = (),
        url: str | None = None,
        text: str | None = None,
        now: datetime | None = None,
    ) -> BlocklistMatch | None:
        """The first active entry matching, checked user, post, domain, keyword (cheap first)."""
        if (e := self.match_user(platform, username, now)) is not None:
            return BlocklistMatch(e, "target_username")
        for author in authors:
            if (e := self.match_user(platform, author, now)) is not None:
                return BlocklistMatch(e, "target_author")
        if (e := self.match_post(platform, [*post_ids, url], now)) is not None:
            return BlocklistMatch(e, "target_id")
        if (e := self.match_domain(platform, url, text, now)) is not None:
            return BlocklistMatch(e, "target_url/target_text")
        if (e := self.match_keyword(platform, text, now)) is not None:
            return BlocklistMatch(e, "target_text")
        return None

    def match_request(self, request: Any, now: datetime | None = None) -> BlocklistMatch | None:
        """Match an ``ActionRequest`` (see the module docstring for the fields used)."""
        params = request.params or {}
        post_ids = [request.target_id] if request.target_type in (None, "post") else []
        ppid = params.get("platform_post_id")
        if isinstance(ppid, str):
            post_ids.append(ppid)
        return self.match(
            platform=request.platform,
            username=request.target_username,
            authors=tuple(getattr(request, "target_authors", ()) or ()),
            post_ids=post_ids,
            url=request.target_url,
            text=request.target_text,
            now=now,
        )
