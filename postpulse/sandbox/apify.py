"""The sandbox's Apify-style API: actors, runs and datasets, in Apify's v2 shapes.

Actors (ids as Apify writes them in URLs, ``username~actor-name``):

===================================  ==========  ===========================================
actor id                             platform    input keys read (lists of names or URLs)
===================================  ==========  ===========================================
``apimaestro~linkedin-profile-posts``  linkedin  ``username``, ``usernames``, ``profiles``,
                                                 ``profileUrls``, ``postUrls``, ``startUrls``
``apify~instagram-scraper``          instagram   ``directUrls``, ``usernames``, ``profiles``
``clockworks~tiktok-scraper``        tiktok      ``profiles``, ``postURLs``, ``postUrls``
``clockworks~tiktok-comments-scraper``  tiktok   ``postURLs``, ``postUrls`` (comment items)
``apidojo~tweet-scraper``            x           ``twitterHandles``, ``handles``, ``startUrls``
``postpulse~threads-posts``          threads     ``usernames``, ``profiles``, ``startUrls``
===================================  ==========  ===========================================

Every actor also accepts the generic keys ``profiles``, ``usernames``, ``username``,
``postUrls``, ``urls``, ``startUrls`` (strings or ``{"url": ...}``) and a limit in
``resultsLimit`` / ``resultsPerPage`` / ``maxItems`` / ``limit`` / ``maxPosts`` (per profile).
An empty input scrapes every visible post of the platform.

A run starts ``RUNNING``; each ``GET /v2/actor-runs/{id}`` counts as one poll and the run is
``SUCCEEDED`` from the ``polls_to_finish``-th poll on (default 2) or once ``seconds_to_finish``
real seconds passed (default: not used). ``?waitForFinish=N`` (N > 0) finishes it at once. The
dataset is written when the run succeeds, with the counts at that sandbox time.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from .formats import item_for, tiktok_comment_item
from .world import World, WorldError

ACTORS: dict[str, dict[str, str]] = {
    "apimaestro~linkedin-profile-posts": {
        "platform": "linkedin",
        "kind": "posts",
        "title": "LinkedIn Profile Posts Scraper",
    },
    "apify~instagram-scraper": {"platform": "instagram", "kind": "posts", "title": "Instagram Scraper"},
    "clockworks~tiktok-scraper": {"platform": "tiktok", "kind": "posts", "title": "TikTok Scraper"},
    "clockworks~tiktok-comments-scraper": {
        "platform": "tiktok",
        "kind": "comments",
        "title": "TikTok Comments Scraper",
    },
    "apidojo~tweet-scraper": {"platform": "x", "kind": "posts", "title": "Tweet Scraper V2"},
    "postpulse~threads-posts": {"platform": "threads", "kind": "posts", "title": "Threads posts (sandbox)"},
}

_NAME_KEYS = ("profiles", "usernames", "username", "twitterHandles", "handles", "profile")
_URL_KEYS = ("directUrls", "startUrls", "postUrls", "postURLs", "profileUrls", "urls", "url")
_LIMIT_KEYS = ("resultsLimit", "resultsPerPage", "maxItems", "limit", "maxPosts", "max_posts")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def apify_id() -> str:
    """A 17-character id like Apify's (``HG7ML7M8z78YcAPEB``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def normalize_actor_id(actor_id: str) -> str:
    return unquote(actor_id).replace("/", "~").strip()


class InputError(ValueError):
    """An actor input that cannot be used; the message says which field and why."""


@dataclass
class Dataset:
    id: str
    created_at: datetime
    items: list[dict[str, Any]] = field(default_factory=list)
    modified_at: datetime | None = None

    def info(self) -> dict[str, Any]:
        from .formats import iso_z

        return {
            "id": self.id,
            "name": None,
            "userId": "sandboxUser0000001",
            "createdAt": iso_z(self.created_at),
            "modifiedAt": iso_z(self.modified_at or self.created_at),
            "accessedAt": iso_z(self.modified_at or self.created_at),
            "itemCount": len(self.items),
            "cleanItemCount": len(self.items),
        }


@dataclass
class Run:
    id: str
    act_id: str
    input: dict[str, Any]
    started_at: datetime
    dataset_id: str
    status: str = "RUNNING"
    finished_at: datetime | None = None
    polls: int = 0
    started_mono: float = field(default_factory=time.monotonic)
    status_message: str | None = None

    def info(self) -> dict[str, Any]:
        from .formats import iso_z

        return {
            "id": self.id,
            "actId": self.act_id,
            "userId": "sandboxUser0000001",
            "actorTaskId": None,
            "startedAt": iso_z(self.started_at),
            "finishedAt": iso_z(self.finished_at) if self.finished_at else None,
            "status": self.status,
            "statusMessage": self.status_message,
            "isStatusMessageTerminal": None,
            "meta": {"origin": "API", "userAgent": "postpulse-sandbox"},
            "stats": {
                "inputBodyLen": len(str(self.input)),
                "restartCount": 0,
                "resurrectCount": 0,
                "computeUnits": 0.0,
            },
            "options": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024, "diskMbytes": 2048},
            "buildId": "sandboxBuild00001",
            "buildNumber": "0.0.1",
            "exitCode": (0 if self.status == "SUCCEEDED" else 1) if self.finished_at else None,
            "defaultKeyValueStoreId": self.id[::-1],
            "defaultDatasetId": self.dataset_id,
            "defaultRequestQueueId": self.id[1:] + "Q",
            "containerUrl": f"https://{self.id.lower()}.runs.sandbox.invalid",
        }


class ApifyState:
    """Runs and datasets of one sandbox server."""

    def __init__(
        self, world: World, polls_to_finish: int = 2, seconds_to_finish: float | None = None
    ) -> None:
        self.world = world
        self.polls_to_finish = polls_to_finish
        self.seconds_to_finish = seconds_to_finish
        self.runs: dict[str, Run] = {}
        self.datasets: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def start(self, actor_id: str, run_input: dict[str, Any], now: datetime) -> Run:
        actor_id = normalize_actor_id(actor_id)
        if actor_id not in ACTORS:
            raise KeyError(actor_id)
        _parse_input(self.world, ACTORS[actor_id]["platform"], run_input, now)  # validate early
        run = Run(apify_id(), actor_id, run_input, now, apify_id())
        with self._lock:
            self.runs[run.id] = run
            self.datasets[run.dataset_id] = Dataset(run.dataset_id, now)
        return run

    def poll(self, run: Run, now: datetime, base: str, faults, wait: bool = False) -> Run:
        """Count one poll and finish the run when it is due."""
        with self._lock:
            if run.status != "RUNNING":
                return run
            run.polls += 1
            due = run.polls >= self.polls_to_finish or wait
            if self.seconds_to_finish is not None:
                due = due or (time.monotonic() - run.started_mono) >= self.seconds_to_finish
            if not due:
                return run
        self.finish(run, now, base, faults)
        return run

    def finish(self, run: Run, now: datetime, base: str, faults) -> None:
        failed = faults.take("actor_failed", "/v2/actor-runs") if faults is not None else None
        with self._lock:
            if run.status != "RUNNING":
                return
            ds = self.datasets[run.dataset_id]
            if failed is not None:
                run.status = "FAILED"
                run.status_message = "The actor failed (sandbox fault 'actor_failed')."
            else:
                ds.items = build_items(self.world, run.act_id, run.input, now, base)
                ds.modified_at = now
                run.status = "SUCCEEDED"
                run.status_message = f"Finished! Total {len(ds.items)} results."
            run.finished_at = now

    def abort(self, run: Run, now: datetime) -> Run:
        with self._lock:
            if run.status == "RUNNING":
                run.status = "ABORTED"
                run.finished_at = now
        return run


def _as_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise InputError(f"input field {key!r} must be a string or a list, not {type(value).__name__}")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, dict) and isinstance(v.get("url"), str):
            out.append(v["url"])
        elif isinstance(v, str):
            out.append(v)
        else:
            raise InputError(f'input field {key!r} item {i} must be a string or {{"url": ...}}')
    return out


def _parse_input(world: World, platform: str, run_input: Any, now: datetime):
    if not isinstance(run_input, dict):
        raise InputError('the actor input must be a JSON object, e.g. {"profiles": ["name"]}')
    names: list[str] = []
    for k in _NAME_KEYS:
        names += _as_list(run_input.get(k), k)
    urls: list[str] = []
    for k in _URL_KEYS:
        urls += _as_list(run_input.get(k), k)
    limit = None
    for k in _LIMIT_KEYS:
        if k in run_input and run_input[k] is not None:
            v = run_input[k]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"input field {k!r} must be a non-negative integer, not {v!r}")
            limit = v
            break
    posts = []
    for url in urls:
        kind, value = _resolve_url(platform, url)
        if kind == "profile":
            names.append(value)
        else:
            post = world.find_post(platform, value)
            if post is not None and not post.deleted and post.posted_at <= now:
                posts.append(post)
    profiles = []
    for n in names:
        n = n.strip().lstrip("@").lower()
        if n.startswith("http"):
            _kind, n = _resolve_url(platform, n)
        if n in world.profiles[platform]:
            profiles.append(n)
    return profiles, posts, limit, bool(names or urls)


def _resolve_url(platform: str, url: str) -> tuple[str, str]:
    """(``"profile"``, username) or (``"post"``, post id) for a sandbox or real-site URL."""
    path = urlsplit(url).path if "://" in url else url
    parts = [unquote(p) for p in path.split("/") if p]
    if parts and parts[0] == platform:
        parts = parts[1:]
    if not parts:
        return ("profile", "")
    if platform == "linkedin":
        if parts[0] == "in" and len(parts) > 1:
            return ("profile", parts[1])
        if parts[0] == "posts" and len(parts) > 1:
            import re

            m = re.search(r"activity-(\d+)", parts[1])
            return ("post", m.group(1) if m else parts[1])
        if parts[0] == "feed" and len(parts) > 2:
            return ("post", parts[2].rsplit(":", 1)[-1])
        return ("post", parts[-1])
    if platform == "instagram":
        if parts[0] in ("p", "reel", "reels") and len(parts) > 1:
            return ("post", parts[1])
        return ("profile", parts[0])
    if platform in ("tiktok", "threads"):
        if len(parts) >= 3 and parts[1] in ("video", "post", "photo"):
            return ("post", parts[2])
        return ("profile", parts[0].lstrip("@"))
    if platform == "x":
        if len(parts) >= 3 and parts[1] == "status":
            return ("post", parts[2])
        return ("profile", parts[0])
    return ("profile", parts[0])  # pragma: no cover


def build_items(
    world: World, actor_id: str, run_input: dict[str, Any], now: datetime, base: str
) -> list[dict[str, Any]]:
    spec = ACTORS[actor_id]
    platform = spec["platform"]
    try:
        profiles, posts, limit, filtered = _parse_input(world, platform, run_input, now)
    except (InputError, WorldError):
        return []
    selected = list(posts)
    if profiles:
        for name in profiles:
            mine = world.visible_posts(platform, now, name)
            selected += mine[:limit] if limit is not None else mine
    elif not filtered:
        allp = world.visible_posts(platform, now)
        selected = allp[:limit] if limit is not None else allp
    seen: set[str] = set()
    unique = []
    for p in selected:
        if p.post_id not in seen:
            seen.add(p.post_id)
            unique.append(p)
    if spec["kind"] == "comments":
        out = []
        for p in unique:
            for c in world.comments_for(platform, p.post_id, now):
                out.append(tiktok_comment_item(world, c, p, base))
        return out
    return [item_for(world, p, now, base) for p in unique]
