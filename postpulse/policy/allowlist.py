"""Allowlist mode: an account that acts only on chosen users or tags.

Set in the account's settings::

    {"allowlist": {"users": ["ana", "@bo"], "tags": ["customers", "press"]}}

With at least one user or tag, the account acts only when someone the action touches (the
followed user, the DM recipient, the author of the targeted post or of the comment replied to)
is one of ``users``, or when the targeted post or its author's profile carries one of ``tags``.
Everything else is rejected with the reason code ``not_allowlisted``. An empty allowlist (the
default) allows everyone; the blocklist and opt-outs apply in both modes and win over it.

For a post or comment, the name given with ``--to`` does not count: only the author resolved from
the store (or read from the page before acting) can admit the action, so a hand-written name
cannot open the allowlist to a stranger's post.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .blocklist import normalize_user


def normalize_tag(value: str) -> str:
    return value.strip().lstrip("#").casefold()


@dataclass(frozen=True, slots=True)
class Allowlist:
    users: frozenset[str] = field(default_factory=frozenset)
    tags: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, users: Iterable[str] = (), tags: Iterable[str] = ()) -> Allowlist:
        return cls(
            frozenset(normalize_user(u) for u in users if normalize_user(u)),
            frozenset(normalize_tag(t) for t in tags if normalize_tag(t)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.tags)

    def admits(self, people: Iterable[str], tags: Iterable[str]) -> bool:
        if not self.enabled:
            return True
        if any(normalize_user(p) in self.users for p in people if p):
            return True
        return any(normalize_tag(t) in self.tags for t in tags if t)

    def describe(self) -> str:
        parts = []
        if self.users:
            parts.append("users " + ", ".join("@" + u for u in sorted(self.users)))
        if self.tags:
            parts.append("tags " + ", ".join(sorted(self.tags)))
        return " and ".join(parts) or "everyone"

    def to_dict(self) -> dict[str, list[str]]:
        return {"users": sorted(self.users), "tags": sorted(self.tags)}
