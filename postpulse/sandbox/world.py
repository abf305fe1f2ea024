"""The sandbox world: a deterministic, seeded social network with five platforms.

``build_world(seed, profiles, posts_per_profile, now)`` returns a :class:`World` holding, per
platform (``linkedin``, ``instagram``, ``tiktok``, ``x``, ``threads``):

* ``profiles`` other users (synthetic names, no real people) plus two of *our accounts*,
  ``demo_<platform>`` and ``demo2_<platform>`` (e.g. ``demo_instagram``), the accounts the
  engagement executor logs in with;
* ``posts_per_profile`` posts per profile (ours included), posted at times spread over the 14 days
  before ``now``, with text, hashtags, mentions and media; and further *scheduled* posts (about
  one per profile every 1-2 days for ``future_days`` after ``now``) that become visible when the
  sandbox clock passes their posting time, so a running demo sees fresh posts;
* comments with replies (visible once the clock passes their time), DM threads between our
  accounts and other users, and follows.

**Login rule**: every user's password is ``sandbox-<username>`` (see :func:`password_for`), e.g.
``demo_x`` / ``sandbox-demo_x``.

**Metrics that move**: each post has a final size per metric and a time constant ``tau``; the
count at sandbox time ``t`` is ``floor(final * (1 - exp(-age / tau)))`` (views use ``1.4 * tau``),
so counts grow fast after posting and then flatten, and never decrease. Likes, comments and
replies made through the site add on top (an unlike or a comment deletion removes what it added);
:meth:`World.adjust_metrics` lets a test make a count drop on purpose.

Everything is derived from ``random.Random`` seeded with ``(seed, ...)`` strings, so the same
``(seed, profiles, posts_per_profile, now)`` gives an identical world and identical JSON.
``now=None`` means the current UTC time truncated to the whole hour (so two builds within the
same hour agree); pass ``now`` explicitly for full determinism.

State changes (likes, comments, follows, DMs, publishing, deletions) go through the ``World``
methods, which are thread-safe.
"""

from __future__ import annotations

import base64
import math
import random
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from postpulse.timeutil import as_utc

PLATFORMS: tuple[str, ...] = ("linkedin", "instagram", "tiktok", "x", "threads")

PLATFORM_NAMES = {
    "linkedin": "LinkedIn",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "x": "X",
    "threads": "Threads",
}

#: metric names per platform, in the order pages show them
METRICS: dict[str, tuple[str, ...]] = {
    "linkedin": ("like", "celebrate", "support", "love", "insight", "funny", "comments", "reposts"),
    "instagram": ("likes", "comments", "views", "plays"),
    "tiktok": ("plays", "likes", "comments", "shares", "saves"),
    "x": ("views", "likes", "reposts", "replies", "quotes", "bookmarks"),
    "threads": ("likes", "replies", "reposts", "quotes"),
}
#: the metric a site "like" adds to, and the one a site comment adds to
LIKE_METRIC = {p: ("like" if p == "linkedin" else "likes") for p in PLATFORMS}
COMMENT_METRIC = {p: ("replies" if p in ("x", "threads") else "comments") for p in PLATFORMS}
LINKEDIN_REACTIONS = ("like", "celebrate", "support", "love", "insight", "funny")

OUR_ACCOUNT_PREFIXES = ("demo", "demo2")
PASSWORD_PREFIX = "sandbox-"
MAX_TEXT = 5000
USERNAME_RE = re.compile(r"^[a-z0-9._-]{1,40}$")
HASHTAG_RE = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]+[A-Za-z0-9_])")

# X's / Twitter's snowflake epoch (ms)
_X_EPOCH_MS = 1288834974657
_IG_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def password_for(username: str) -> str:
    """The sandbox login rule: the password of ``username`` is ``sandbox-<username>``."""
    return PASSWORD_PREFIX + username


def our_accounts(platform: str) -> list[str]:
    """Usernames of *our* accounts on ``platform``: ``demo_<platform>``, ``demo2_<platform>``."""
    return [f"{prefix}_{platform}" for prefix in OUR_ACCOUNT_PREFIXES]


class WorldError(Exception):
    """A request the world refuses (unknown post, not allowed...). ``status`` is an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --------------------------------------------------------------------------------------------
# entities


@dataclass
class Profile:
    platform: str
    username: str
    user_id: str
    first_name: str
    last_name: str
    headline: str
    bio: str
    location: str
    topic: str
    base_followers: int
    base_following: int
    verified: bool
    created_at: datetime
    is_ours: bool = False

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def password(self) -> str:
        return password_for(self.username)

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.username)


@dataclass
class Media:
    media_id: str
    kind: str  # "image" | "video"
    width: int
    height: int
    duration: float | None = None
    alt: str = ""
    hue: int = 200


@dataclass
class Post:
    platform: str
    post_id: str  # the platform post id (LinkedIn: the full URN)
    author: str
    text: str
    posted_at: datetime
    media: list[Media]
    finals: dict[str, int]
    tau_hours: float
    ids: dict[str, Any] = field(default_factory=dict)  # per-platform extra ids (urns, shortcode...)
    post_type: str = "regular"
    published_live: bool = False  # created through the site's compose form
    client_ref: str | None = None  # the publisher's own reference, sent with the compose form
    deleted: bool = False
    adjustments: dict[str, int] = field(default_factory=dict)

    @property
    def hashtags(self) -> list[str]:
        return extract_hashtags(self.text)

    @property
    def mentions(self) -> list[str]:
        return extract_mentions(self.text)

    def curve(self, now: datetime) -> dict[str, int]:
        """The organic counts at ``now`` (before site likes/comments and adjustments)."""
        age_h = (now - self.posted_at).total_seconds() / 3600.0
        out: dict[str, int] = {}
        for name, final in self.finals.items():
            if age_h <= 0:
                out[name] = 0
                continue
            tau = self.tau_hours * (1.4 if name in ("views", "plays") else 1.0)
            out[name] = int(math.floor(final * (1.0 - math.exp(-age_h / tau))))
        return out


@dataclass
class Comment:
    platform: str
    comment_id: str
    post_id: str
    author: str
    text: str
    created_at: datetime
    parent_id: str | None = None
    likes: int = 0
    live: bool = False  # written through the site
    deleted: bool = False


@dataclass
class DMMessage:
    message_id: str
    sender: str
    text: str
    sent_at: datetime
    live: bool = False


@dataclass
class DMThread:
    platform: str
    thread_id: str
    participants: tuple[str, str]
    messages: list[DMMessage] = field(default_factory=list)

    def other(self, username: str) -> str:
        a, b = self.participants
        return b if username == a else a


# --------------------------------------------------------------------------------------------
# helpers


def extract_hashtags(text: str) -> list[str]:
    seen: list[str] = []
    for tag in HASHTAG_RE.findall(text or ""):
        if tag not in seen:
            seen.append(tag)
    return seen


def extract_mentions(text: str) -> list[str]:
    seen: list[str] = []
    for m in MENTION_RE.findall(text or ""):
        if m not in seen:
            seen.append(m)
    return seen


def ig_shortcode(media_id: int) -> str:
    """Instagram's shortcode: the media id in Instagram's base-64 alphabet."""
    chars = []
    n = media_id
    while n > 0:
        n, r = divmod(n, 64)
        chars.append(_IG_ALPHABET[r])
    return "".join(reversed(chars)) or "A"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _snowflake_x(dt: datetime, rng: random.Random) -> str:
    return str(((_ms(dt) - _X_EPOCH_MS) << 22) | rng.getrandbits(22))


def _snowflake_tiktok(dt: datetime, rng: random.Random) -> str:
    return str((int(dt.timestamp()) << 32) | rng.getrandbits(32))


def _snowflake_linkedin(dt: datetime, rng: random.Random) -> int:
    return (_ms(dt) << 22) | rng.getrandbits(22)


def _ig_media_id(dt: datetime, rng: random.Random) -> int:
    # Instagram media ids are ~ (ms since 2011-08-24) << 23 | shard | seq
    return ((_ms(dt) - 1314220021721) << 23) | rng.getrandbits(23)


def _hour_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------------------------
# synthetic vocabulary (invented; no real people)

FIRST_NAMES = [
    "Maya",
    "Jonas",
    "Aiko",
    "Tomas",
    "Leila",
    "Ravi",
    "Ines",
    "Oskar",
    "Nora",
    "Kwame",
    "Sofia",
    "Mateo",
    "Hana",
    "Elif",
    "Lucas",
    "Zara",
    "Ivo",
    "Amara",
    "Felix",
    "Yuki",
    "Priya",
    "Emil",
    "Noor",
    "Theo",
    "Lena",
    "Sami",
    "Clara",
    "Idris",
    "Mila",
    "Arjun",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Novak",
    "Haddad",
    "Iyer",
    "Moreau",
    "Berg",
    "Castillo",
    "Mensah",
    "Rossi",
    "Vargas",
    "Kim",
    "Demir",
    "Almeida",
    "Farah",
    "Petrov",
    "Nwosu",
    "Keller",
    "Sato",
    "Raman",
    "Hansen",
    "Aziz",
    "Dubois",
    "Weber",
    "Kareem",
    "Fontaine",
    "Osei",
    "Horvat",
]
TOPICS = {
    "coffee": (["coffee", "specialtycoffee", "barista", "latteart"], "Coffee roaster"),
    "running": (["running", "marathon", "trailrunning", "runnersofinstagram"], "Running coach"),
    "design": (["design", "uxdesign", "typography", "productdesign"], "Product designer"),
    "data": (["data", "analytics", "python", "dataviz"], "Data engineer"),
    "travel": (["travel", "wanderlust", "slowtravel", "citybreak"], "Travel writer"),
    "cooking": (["cooking", "homecooking", "recipes", "foodie"], "Home cook & recipe developer"),
    "gardening": (["gardening", "urbangarden", "plants", "growyourown"], "Urban gardener"),
    "photography": (["photography", "filmphotography", "streetphotography", "35mm"], "Photographer"),
    "climbing": (["climbing", "bouldering", "outdoors", "mountains"], "Climbing instructor"),
    "books": (["books", "bookclub", "amreading", "booktok"], "Bookseller"),
}
CITIES = ["Lisbon", "Nairobi", "Osaka", "Oslo", "Montréal", "Porto", "Leeds", "Bogotá", "Ghent", "Accra"]
OPENERS = [
    "Three things I learned this week about {t}:",
    "Small win today:",
    "Unpopular opinion:",
    "Behind the scenes of our {t} work.",
    "We tried something new with {t}.",
    "A quick note on {t} for anyone starting out.",
    "Weekend project:",
    "Question for the {t} crowd:",
]
BODIES = [
    "Consistency beats intensity, every single time.",
    "Most of the progress came from the boring parts nobody films.",
    "The first version was rough, the fifth one finally felt right.",
    "Asked twenty people what they struggle with; the answers surprised me.",
    "It took longer than planned, and that was the interesting part.",
    "Sharing the checklist we use, in case it helps someone.",
    "Turns out the simple setup was the one that lasted.",
    "Still iterating, but the numbers are heading the right way.",
]
CLOSERS = [
    "What would you add?",
    "Curious how others handle this.",
    "More soon.",
    "Thanks to everyone who helped.",
    "Would love your feedback.",
    "",
]
COMMENT_TEXTS = [
    "Love this!",
    "Great point, thanks for sharing.",
    "This is so useful 🙌",
    "Saving this for later.",
    "Totally agree.",
    "How long did it take?",
    "Congrats, well deserved!",
    "Interesting take.",
    "Wow 🔥",
    "Can you share more details?",
    "Same experience here.",
    "Beautiful work.",
]
REPLY_TEXTS = [
    "Thank you!",
    "About two weeks, give or take.",
    "Glad it helps!",
    "Will post a follow-up soon.",
    "Appreciate it 🙏",
    "Yes, happy to share more.",
]
DM_TEXTS = [
    "Hi! Loved your last post.",
    "Would you be up for a collaboration?",
    "Thanks for the follow!",
    "Quick question about your setup.",
    "Sure, let's talk next week.",
    "Sounds great, thank you!",
    "Sending the details by email.",
    "Haha, exactly.",
]
EMOJI = ["✨", "🚀", "☕", "🌿", "📸", "🏃", "📚", "🍳", "🧗", "📊"]


# --------------------------------------------------------------------------------------------
# the world


class World:
    """The sandbox's whole state. Read freely; change only through the methods (thread-safe)."""

    def __init__(
        self, seed: int, profiles_per_platform: int, posts_per_profile: int, now: datetime, future_days: int
    ) -> None:
        self.seed = seed
        self.profiles_per_platform = profiles_per_platform
        self.posts_per_profile = posts_per_profile
        self.now = now
        self.future_days = future_days
        self.profiles: dict[str, dict[str, Profile]] = {p: {} for p in PLATFORMS}
        self.posts: dict[str, dict[str, Post]] = {p: {} for p in PLATFORMS}
        self.comments: dict[str, dict[str, Comment]] = {p: {} for p in PLATFORMS}
        self.threads: dict[str, dict[str, DMThread]] = {p: {} for p in PLATFORMS}
        self.follows: set[tuple[str, str, str]] = set()  # (platform, follower, followee)
        self.likes: set[tuple[str, str, str]] = set()  # (platform, username, post_id) via the site
        self.events: list[dict[str, Any]] = []  # site actions, in order
        self._post_aliases: dict[str, dict[str, str]] = {p: {} for p in PLATFORMS}
        self.lock = threading.RLock()
        self._live_rng = random.Random(f"{seed}:live")

    # ---------------------------------------------------------------- lookups
    def check_platform(self, platform: str) -> str:
        if platform not in PLATFORMS:
            raise WorldError(f"unknown platform {platform!r}; the sandbox has {', '.join(PLATFORMS)}", 404)
        return platform

    def profile(self, platform: str, username: str) -> Profile:
        self.check_platform(platform)
        prof = self.profiles[platform].get((username or "").lower().lstrip("@"))
        if prof is None:
            raise WorldError(f"no {platform} profile named {username!r}", 404)
        return prof

    def find_post(self, platform: str, ident: str) -> Post | None:
        """The post for any of its ids (post id, URN, activity id, shortcode...), deleted or not."""
        self.check_platform(platform)
        ident = (ident or "").strip()
        post = self.posts[platform].get(ident)
        if post is None:
            key = self._post_aliases[platform].get(ident)
            post = self.posts[platform].get(key) if key else None
        return post

    def post(self, platform: str, ident: str, now: datetime | None = None) -> Post:
        """A visible post (posted by ``now`` and not deleted), else ``WorldError`` 404."""
        post = self.find_post(platform, ident)
        if post is None or post.deleted or (now is not None and post.posted_at > now):
            state = "was deleted" if post is not None and post.deleted else "does not exist"
            raise WorldError(f"{platform} post {ident!r} {state}", 404)
        return post

    def visible_posts(self, platform: str, now: datetime, author: str | None = None) -> list[Post]:
        """Visible posts, newest first."""
        self.check_platform(platform)
        with self.lock:
            posts = [
                p
                for p in self.posts[platform].values()
                if not p.deleted and p.posted_at <= now and (author is None or p.author == author)
            ]
        posts.sort(key=lambda p: (p.posted_at, p.post_id), reverse=True)
        return posts

    def comments_for(self, platform: str, post_id: str, now: datetime) -> list[Comment]:
        """Visible comments (top level and replies) of a post, oldest first."""
        with self.lock:
            out = [
                c
                for c in self.comments[platform].values()
                if c.post_id == post_id and not c.deleted and c.created_at <= now
            ]
        out.sort(key=lambda c: (c.created_at, c.comment_id))
        return out

    def followers_of(self, platform: str, username: str) -> list[str]:
        return sorted(a for (p, a, b) in self.follows if p == platform and b == username)

    def following_of(self, platform: str, username: str) -> list[str]:
        return sorted(b for (p, a, b) in self.follows if p == platform and a == username)

    def follower_count(self, prof: Profile) -> int:
        return prof.base_followers + len(self.followers_of(prof.platform, prof.username))

    def following_count(self, prof: Profile) -> int:
        return prof.base_following + len(self.following_of(prof.platform, prof.username))

    def is_following(self, platform: str, follower: str, followee: str) -> bool:
        return (platform, follower, followee) in self.follows

    def has_liked(self, platform: str, username: str, post_id: str) -> bool:
        return (platform, username, post_id) in self.likes

    def threads_of(self, platform: str, username: str) -> list[DMThread]:
        with self.lock:
            out = [t for t in self.threads[platform].values() if username in t.participants]
        out.sort(
            key=lambda t: (t.messages[-1].sent_at if t.messages else self.now, t.thread_id), reverse=True
        )
        return out

    def thread(self, platform: str, thread_id: str, username: str) -> DMThread:
        t = self.threads[self.check_platform(platform)].get(thread_id)
        if t is None or username not in t.participants:
            raise WorldError(f"no message thread {thread_id!r} for {username}", 404)
        return t

    # ---------------------------------------------------------------- metrics
    def metrics(self, post: Post, now: datetime) -> dict[str, int]:
        """Current counts of ``post`` at sandbox time ``now`` (see the module docstring)."""
        with self.lock:
            counts = post.curve(now)
            comments = self.comments_for(post.platform, post.post_id, now)
            seeded = sum(1 for c in comments if not c.live)
            live = sum(1 for c in comments if c.live)
            cm = COMMENT_METRIC[post.platform]
            counts[cm] = max(counts.get(cm, 0), seeded) + live
            likes = sum(1 for (p, _u, pid) in self.likes if p == post.platform and pid == post.post_id)
            lm = LIKE_METRIC[post.platform]
            counts[lm] = counts.get(lm, 0) + likes
            for name, delta in post.adjustments.items():
                counts[name] = max(0, counts.get(name, 0) + delta)
        if post.platform == "linkedin":
            counts["total_reactions"] = sum(counts.get(r, 0) for r in LINKEDIN_REACTIONS)
        return counts

    # ---------------------------------------------------------------- actions
    def _log(self, now: datetime, **event: Any) -> None:
        event["at"] = now.isoformat()
        self.events.append(event)

    def _live_id(self, digits: int = 19) -> str:
        return str(self._live_rng.randrange(10 ** (digits - 1), 10**digits))

    def like(self, platform: str, username: str, post_id: str, now: datetime) -> bool:
        """``username`` likes the post; False if it already did (idempotent)."""
        with self.lock:
            post = self.post(platform, post_id, now)
            key = (platform, username, post.post_id)
            if key in self.likes:
                return False
            self.likes.add(key)
            self._log(now, platform=platform, account=username, action="like", post_id=post.post_id)
            return True

    def unlike(self, platform: str, username: str, post_id: str, now: datetime) -> bool:
        with self.lock:
            post = self.post(platform, post_id, now)
            key = (platform, username, post.post_id)
            if key not in self.likes:
                return False
            self.likes.discard(key)
            self._log(now, platform=platform, account=username, action="unlike", post_id=post.post_id)
            return True

    def add_comment(
        self,
        platform: str,
        username: str,
        post_id: str,
        text: str,
        now: datetime,
        parent_id: str | None = None,
    ) -> Comment:
        text = _clean_text(text, "comment")
        with self.lock:
            post = self.post(platform, post_id, now)
            if parent_id:
                parent = self.comments[platform].get(parent_id)
                if parent is None or parent.deleted or parent.post_id != post.post_id:
                    raise WorldError(f"comment {parent_id!r} to reply to is not on this post", 404)
                if parent.parent_id:  # replies to a reply go to the top-level comment
                    parent_id = parent.parent_id
            cid = self._live_id()
            c = Comment(platform, cid, post.post_id, username, text, now, parent_id, 0, live=True)
            self.comments[platform][cid] = c
            self._log(
                now,
                platform=platform,
                account=username,
                action="reply" if parent_id else "comment",
                post_id=post.post_id,
                comment_id=cid,
                parent_id=parent_id,
            )
            return c

    def delete_comment(self, platform: str, username: str, comment_id: str, now: datetime) -> Comment:
        with self.lock:
            c = self.comments[self.check_platform(platform)].get(comment_id)
            if c is None or c.deleted:
                raise WorldError(f"comment {comment_id!r} does not exist", 404)
            if c.author != username:
                raise WorldError("you can only delete your own comments", 403)
            c.deleted = True
            for r in self.comments[platform].values():
                if r.parent_id == c.comment_id:
                    r.deleted = True
            self._log(
                now,
                platform=platform,
                account=username,
                action="delete_comment",
                post_id=c.post_id,
                comment_id=comment_id,
            )
            return c

    def follow(self, platform: str, username: str, target: str, now: datetime) -> bool:
        with self.lock:
            prof = self.profile(platform, target)
            if prof.username == username:
                raise WorldError("you cannot follow yourself", 400)
            key = (platform, username, prof.username)
            if key in self.follows:
                return False
            self.follows.add(key)
            self._log(now, platform=platform, account=username, action="follow", target=prof.username)
            return True

    def unfollow(self, platform: str, username: str, target: str, now: datetime) -> bool:
        with self.lock:
            prof = self.profile(platform, target)
            key = (platform, username, prof.username)
            if key not in self.follows:
                return False
            self.follows.discard(key)
            self._log(now, platform=platform, account=username, action="unfollow", target=prof.username)
            return True

    def send_dm(
        self, platform: str, sender: str, recipient: str, text: str, now: datetime
    ) -> tuple[DMThread, DMMessage]:
        text = _clean_text(text, "message")
        with self.lock:
            self.profile(platform, sender)
            to = self.profile(platform, recipient)
            if to.username == sender:
                raise WorldError("you cannot message yourself", 400)
            thread = next(
                (t for t in self.threads[platform].values() if set(t.participants) == {sender, to.username}),
                None,
            )
            if thread is None:
                tid = "t" + self._live_id(12)
                thread = DMThread(platform, tid, (sender, to.username))
                self.threads[platform][tid] = thread
            msg = DMMessage("m" + self._live_id(15), sender, text, now, live=True)
            thread.messages.append(msg)
            self._log(
                now,
                platform=platform,
                account=sender,
                action="dm",
                target=to.username,
                thread_id=thread.thread_id,
                message_id=msg.message_id,
            )
            return thread, msg

    def send_dm_in_thread(
        self, platform: str, sender: str, thread_id: str, text: str, now: datetime
    ) -> tuple[DMThread, DMMessage]:
        thread = self.thread(platform, thread_id, sender)
        return self.send_dm(platform, sender, thread.other(sender), text, now)

    def publish(
        self,
        platform: str,
        username: str,
        text: str,
        now: datetime,
        media_kind: str | None = None,
        client_ref: str | None = None,
    ) -> Post:
        text = _clean_text(text, "post")
        if client_ref is not None and not re.fullmatch(r"[A-Za-z0-9:._-]{1,80}", client_ref):
            raise WorldError("client_ref must be 1-80 letters, digits or : . _ -", 400)
        if media_kind not in (None, "", "none", "image", "video"):
            raise WorldError(f"media must be none, image or video, not {media_kind!r}", 400)
        with self.lock:
            prof = self.profile(platform, username)
            rng = random.Random(f"{self.seed}:publish:{len(self.events)}:{username}")
            media: list[Media] = []
            if media_kind in ("image", "video"):
                media.append(_make_media(rng, media_kind, prof))
            elif platform in ("instagram", "tiktok"):
                media.append(_make_media(rng, "video" if platform == "tiktok" else "image", prof))
            finals = _finals(platform, rng, prof, has_video=any(m.kind == "video" for m in media))
            post = _make_post(platform, prof, text, now, media, finals, rng.uniform(3, 18), rng)
            post.published_live = True
            post.client_ref = client_ref
            self._add_post(post)
            self._log(now, platform=platform, account=username, action="publish", post_id=post.post_id)
            return post

    # ---------------------------------------------------------------- test controls
    def delete_post(self, platform: str, post_id: str) -> Post:
        with self.lock:
            post = self.find_post(platform, post_id)
            if post is None:
                raise WorldError(f"{platform} post {post_id!r} does not exist", 404)
            post.deleted = True
            return post

    def restore_post(self, platform: str, post_id: str) -> Post:
        with self.lock:
            post = self.find_post(platform, post_id)
            if post is None:
                raise WorldError(f"{platform} post {post_id!r} does not exist", 404)
            post.deleted = False
            return post

    def adjust_metrics(self, platform: str, post_id: str, **deltas: int) -> Post:
        """Add (possibly negative) offsets to a post's counts, e.g. ``likes=-5``."""
        with self.lock:
            post = self.find_post(platform, post_id)
            if post is None:
                raise WorldError(f"{platform} post {post_id!r} does not exist", 404)
            known = set(METRICS[platform]) | ({"total_reactions"} if platform == "linkedin" else set())
            for name, delta in deltas.items():
                if name not in known or name == "total_reactions":
                    raise WorldError(
                        f"unknown {platform} metric {name!r}; use one of {', '.join(METRICS[platform])}", 400
                    )
                post.adjustments[name] = post.adjustments.get(name, 0) + int(delta)
            return post

    def _add_post(self, post: Post) -> None:
        self.posts[post.platform][post.post_id] = post
        aliases = self._post_aliases[post.platform]
        for v in post.ids.values():
            if isinstance(v, str) and v:
                aliases.setdefault(v, post.post_id)

    # ---------------------------------------------------------------- summaries
    def state(self, now: datetime | None = None) -> dict[str, Any]:
        """What site users did, by account: likes, follows, comments, DMs sent, posts published."""
        with self.lock:
            accounts: dict[str, dict[str, Any]] = {}

            def acc(platform: str, username: str) -> dict[str, Any]:
                return accounts.setdefault(
                    f"{platform}:{username}",
                    {
                        "platform": platform,
                        "username": username,
                        "likes": [],
                        "following": [],
                        "comments": [],
                        "dms_sent": [],
                        "dms_received": [],
                        "published": [],
                    },
                )

            for p in PLATFORMS:
                for u in our_accounts(p):
                    acc(p, u)
            for p, u, pid in sorted(self.likes):
                acc(p, u)["likes"].append(pid)
            for p, a, b in sorted(self.follows):
                if (p, a) in {(p2, u2) for p2 in PLATFORMS for u2 in our_accounts(p2)} or any(
                    e["platform"] == p and e["account"] == a and e["action"] in ("follow", "unfollow")
                    for e in self.events
                ):
                    acc(p, a)["following"].append(b)
            for p in PLATFORMS:
                for c in self.comments[p].values():
                    if c.live:
                        acc(p, c.author)["comments"].append(
                            {
                                "comment_id": c.comment_id,
                                "post_id": c.post_id,
                                "parent_id": c.parent_id,
                                "text": c.text,
                                "created_at": c.created_at.isoformat(),
                                "deleted": c.deleted,
                            }
                        )
                for t in self.threads[p].values():
                    for m in t.messages:
                        if not m.live:
                            continue
                        to = t.other(m.sender)
                        item = {
                            "thread_id": t.thread_id,
                            "message_id": m.message_id,
                            "from": m.sender,
                            "to": to,
                            "text": m.text,
                            "sent_at": m.sent_at.isoformat(),
                        }
                        acc(p, m.sender)["dms_sent"].append(item)
                        if (p, to) in [(p, u) for u in our_accounts(p)] or f"{p}:{to}" in accounts:
                            acc(p, to)["dms_received"].append(item)
                for post in self.posts[p].values():
                    if post.published_live:
                        acc(p, post.author)["published"].append(post.post_id)
            deleted = [
                {"platform": p, "post_id": post.post_id}
                for p in PLATFORMS
                for post in self.posts[p].values()
                if post.deleted
            ]
            return {"accounts": accounts, "deleted_posts": deleted, "events": list(self.events)}

    def summary(self) -> dict[str, Any]:
        """A JSON-able overview: parameters, and per platform the accounts and post counts."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "profiles": self.profiles_per_platform,
            "posts_per_profile": self.posts_per_profile,
            "now": self.now.isoformat(),
            "future_days": self.future_days,
            "password_rule": "sandbox-<username>",
            "platforms": {},
        }
        for p in PLATFORMS:
            posts = list(self.posts[p].values())
            out["platforms"][p] = {
                "our_accounts": our_accounts(p),
                "profiles": [u for u, prof in self.profiles[p].items() if not prof.is_ours],
                "posts_visible_at_now": sum(1 for x in posts if x.posted_at <= self.now),
                "posts_scheduled_after_now": sum(1 for x in posts if x.posted_at > self.now),
                "comments": len(self.comments[p]),
                "dm_threads": len(self.threads[p]),
                "follows": sum(1 for f in self.follows if f[0] == p),
            }
        return out


def _clean_text(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise WorldError(f"the {what} text is missing", 400)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise WorldError(f"the {what} text is empty; write something first", 400)
    if len(text) > MAX_TEXT:
        raise WorldError(f"the {what} text is {len(text)} characters; the limit is {MAX_TEXT}", 400)
    if "\x00" in text:
        raise WorldError(f"the {what} text contains a NUL character", 400)
    return text


# --------------------------------------------------------------------------------------------
# building


def _username(platform: str, first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    fn, ln = _ascii(first), _ascii(last)
    styles = {
        "linkedin": [f"{fn}-{ln}", f"{fn}{ln}", f"{fn}-{ln}-{rng.randrange(10, 99)}"],
        "instagram": [f"{fn}.{ln}", f"{fn}{ln}_", f"{fn}.{ln}.studio"],
        "threads": [f"{fn}.{ln}", f"{fn}_{ln}", f"{fn}{ln}"],
        "tiktok": [f"{fn}{ln}", f"{fn}.{ln}", f"{fn}_{ln}{rng.randrange(1, 99)}"],
        "x": [f"{fn}_{ln}", f"{fn}{ln}", f"{fn}{ln[:3]}{rng.randrange(1, 999)}"],
    }[platform]
    for cand in styles + [f"{fn}{ln}{i}" for i in range(2, 1000)]:
        if cand not in taken:
            return cand
    raise RuntimeError("could not allocate a username")  # pragma: no cover


def _ascii(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _make_media(rng: random.Random, kind: str, prof: Profile) -> Media:
    if kind == "video":
        w, h = rng.choice([(1080, 1920), (720, 1280), (1080, 1350)])
        return Media(
            f"{rng.getrandbits(48):012x}",
            "video",
            w,
            h,
            round(rng.uniform(6, 95), 3),
            f"Video by {prof.display_name}",
            rng.randrange(360),
        )
    w, h = rng.choice([(1080, 1080), (1080, 1350), (1200, 675), (1280, 1700)])
    return Media(
        f"{rng.getrandbits(48):012x}",
        "image",
        w,
        h,
        None,
        f"Photo by {prof.display_name} about {prof.topic}",
        rng.randrange(360),
    )


def _finals(platform: str, rng: random.Random, prof: Profile, has_video: bool) -> dict[str, int]:
    aud = max(50, prof.base_followers)
    v = rng.lognormvariate(0.0, 0.8)  # this post's virality
    if platform == "linkedin":
        total = aud * 0.03 * v + rng.uniform(3, 12)
        weights = [
            rng.uniform(0.5, 0.75),
            rng.uniform(0.05, 0.2),
            rng.uniform(0.0, 0.08),
            rng.uniform(0.02, 0.1),
            rng.uniform(0.02, 0.1),
            rng.uniform(0.0, 0.04),
        ]
        s = sum(weights)
        out = {name: int(total * w / s) for name, w in zip(LINKEDIN_REACTIONS, weights, strict=True)}
        out["comments"] = int(total * rng.uniform(0.04, 0.15))
        out["reposts"] = int(total * rng.uniform(0.01, 0.06))
        return out
    if platform == "instagram":
        likes = aud * 0.05 * v + rng.uniform(5, 20)
        out = {"likes": int(likes), "comments": int(likes * rng.uniform(0.01, 0.05))}
        if has_video:
            out["views"] = int(likes * rng.uniform(6, 15))
            out["plays"] = int(out["views"] * rng.uniform(1.5, 4))
        return out
    if platform == "tiktok":
        plays = aud * 0.9 * v + rng.uniform(200, 900)
        likes = plays * rng.uniform(0.04, 0.12)
        return {
            "plays": int(plays),
            "likes": int(likes),
            "comments": int(likes * rng.uniform(0.005, 0.02)),
            "shares": int(likes * rng.uniform(0.01, 0.04)),
            "saves": int(likes * rng.uniform(0.02, 0.08)),
        }
    if platform == "x":
        views = aud * 0.4 * v + rng.uniform(80, 300)
        likes = views * rng.uniform(0.01, 0.04)
        return {
            "views": int(views),
            "likes": int(likes),
            "reposts": int(likes * rng.uniform(0.08, 0.2)),
            "replies": int(likes * rng.uniform(0.04, 0.12)),
            "quotes": int(likes * rng.uniform(0.0, 0.04)),
            "bookmarks": int(likes * rng.uniform(0.02, 0.08)),
        }
    likes = aud * 0.03 * v + rng.uniform(2, 10)  # threads
    return {
        "likes": int(likes),
        "replies": int(likes * rng.uniform(0.05, 0.15)),
        "reposts": int(likes * rng.uniform(0.01, 0.05)),
        "quotes": int(likes * rng.uniform(0.0, 0.02)),
    }


def _make_post(
    platform: str,
    prof: Profile,
    text: str,
    posted_at: datetime,
    media: list[Media],
    finals: dict[str, int],
    tau: float,
    rng: random.Random,
) -> Post:
    ids: dict[str, Any] = {}
    if platform == "linkedin":
        activity = _snowflake_linkedin(posted_at, rng)
        inner = activity - rng.randrange(1, 2**20)
        if rng.random() < 0.5:
            ids.update(activity_urn=str(activity), share_urn=None, ugcPost_urn=str(inner))
            full = f"urn:li:ugcPost:{inner}"
        else:
            ids.update(activity_urn=str(activity), share_urn=str(inner), ugcPost_urn=None)
            full = f"urn:li:activity:{activity}"
        ids["full_urn"] = full
        ids["activity"] = f"urn:li:activity:{activity}"
        ids["slug_suffix"] = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_") for _ in range(4))
        post_id = full
    elif platform == "instagram":
        mid = _ig_media_id(posted_at, rng)
        post_id = str(mid)
        ids["shortcode"] = ig_shortcode(mid)[:11]
    elif platform == "tiktok":
        post_id = _snowflake_tiktok(posted_at, rng)
    elif platform == "x":
        post_id = _snowflake_x(posted_at, rng)
    else:  # threads
        pk = str(_ig_media_id(posted_at, rng))
        ids["pk"] = pk
        ids["code"] = ig_shortcode(int(pk))[:11]
        post_id = f"{pk}_{prof.user_id}"
    return Post(platform, post_id, prof.username, text, posted_at, media, finals, tau, ids)


def _post_text(platform: str, prof: Profile, rng: random.Random, others: list[Profile]) -> str:
    tags, _ = TOPICS[prof.topic]
    opener = rng.choice(OPENERS).format(t=prof.topic)
    body = rng.choice(BODIES)
    closer = rng.choice(CLOSERS)
    chosen = rng.sample(tags, k=rng.randint(1, 3))
    mention = ""
    if others and rng.random() < 0.4:
        mention = f" Thanks @{rng.choice(others).username}!"
    emoji = rng.choice(EMOJI)
    hashtags = " ".join(f"#{t}" for t in chosen)
    if platform == "linkedin":
        text = f"{opener}\n\n{body}{mention}\n\n{closer}\n\n{hashtags}".replace("\n\n\n\n", "\n\n")
    elif platform == "x":
        text = f"{opener} {body}{mention} {hashtags}"
    elif platform == "tiktok":
        text = f"{body} {emoji}{mention} {hashtags} #fyp"
    elif platform == "instagram":
        text = f"{opener} {emoji}\n{body}{mention}\n.\n{hashtags}"
    else:
        text = f"{body}{mention} {emoji}" + (f" #{chosen[0]}" if rng.random() < 0.5 else "")
    return re.sub(r"[ \t]+", " ", text).strip()


def build_world(
    seed: int = 7,
    profiles: int = 8,
    posts_per_profile: int = 6,
    now: datetime | None = None,
    *,
    future_days: int = 14,
) -> World:
    """Build the deterministic sandbox world (see the module docstring).

    ``profiles`` other users per platform (plus our two accounts), ``posts_per_profile`` posts
    each before ``now``; ``future_days`` of scheduled posts after ``now`` (0 for none).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= profiles <= 500:
        raise ValueError(f"profiles must be between 0 and 500, got {profiles}")
    if not 0 <= posts_per_profile <= 500:
        raise ValueError(f"posts_per_profile must be between 0 and 500, got {posts_per_profile}")
    if not 0 <= future_days <= 365:
        raise ValueError(f"future_days must be between 0 and 365, got {future_days}")
    now = as_utc(now) if now is not None else _hour_now()
    world = World(seed, profiles, posts_per_profile, now, future_days)
    for platform in PLATFORMS:
        _build_platform(world, platform)
    return world


def _build_platform(world: World, platform: str) -> None:
    seed, now = world.seed, world.now
    rng = random.Random(f"{seed}:{platform}:profiles")
    taken: set[str] = set()
    profs: list[Profile] = []
    topics = list(TOPICS)
    for _ in range(world.profiles_per_platform):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        username = _username(platform, first, last, rng, taken)
        taken.add(username)
        topic = rng.choice(topics)
        role = TOPICS[topic][1]
        followers = int(rng.lognormvariate(7.3, 1.3))
        prof = Profile(
            platform,
            username,
            str(rng.randrange(10**9, 10**11)),
            first,
            last,
            f"{role} · {rng.choice(CITIES)}",
            f"{role}. Notes on {topic}, mostly.",
            rng.choice(CITIES),
            topic,
            followers,
            int(rng.uniform(80, 900)),
            rng.random() < 0.15,
            now - timedelta(days=rng.randrange(200, 4000)),
        )
        profs.append(prof)
    for j, username in enumerate(our_accounts(platform)):
        prof = Profile(
            platform,
            username,
            str(rng.randrange(10**9, 10**11)),
            "Demo" if j == 0 else "Second",
            "Brand" if j == 0 else "Brand",
            "Our account · postpulse sandbox",
            "One of our own accounts, for the postpulse demo.",
            "Lisbon",
            topics[j % len(topics)],
            int(rng.uniform(800, 4000)),
            int(rng.uniform(100, 300)),
            False,
            now - timedelta(days=900),
            is_ours=True,
        )
        profs.append(prof)
    for prof in profs:
        world.profiles[platform][prof.username] = prof
    others_all = [p for p in profs if not p.is_ours]

    # posts (past, then scheduled) -- one rng per profile so adding profiles keeps old ones stable
    window_h = 14 * 24
    for prof in profs:
        prng = random.Random(f"{seed}:{platform}:posts:{prof.username}")
        others = [p for p in profs if p.username != prof.username]
        times = sorted(
            now - timedelta(hours=prng.uniform(0.3, window_h)) for _ in range(world.posts_per_profile)
        )
        if world.future_days and not prof.is_ours:
            t = now
            horizon = now + timedelta(days=world.future_days)
            while True:
                t = t + timedelta(hours=prng.uniform(12, 40))
                if t > horizon:
                    break
                times.append(t)
        for posted_at in times:
            posted_at = posted_at.replace(microsecond=0)
            kind = _media_kind(platform, prng)
            media = [_make_media(prng, kind, prof)] if kind else []
            if platform == "instagram" and kind == "image" and prng.random() < 0.3:
                media += [_make_media(prng, "image", prof) for _ in range(prng.randint(1, 3))]
            if platform == "linkedin" and kind == "image" and prng.random() < 0.3:
                media += [_make_media(prng, "image", prof)]
            text = _post_text(platform, prof, prng, others_all if not prof.is_ours else others)
            finals = _finals(platform, prng, prof, has_video=any(m.kind == "video" for m in media))
            tau = min(72.0, max(1.5, prng.lognormvariate(math.log(8.0), 0.6)))
            post = _make_post(platform, prof, text, posted_at, media, finals, tau, prng)
            world._add_post(post)
            _seed_comments(world, post, profs, prng)

    # follows: each profile follows 2-4 others; our accounts follow 2 profiles
    frng = random.Random(f"{seed}:{platform}:follows")
    for prof in profs:
        pool = [p for p in (others_all if prof.is_ours else profs) if p.username != prof.username]
        for target in frng.sample(pool, k=min(len(pool), 2 if prof.is_ours else frng.randint(2, 4))):
            world.follows.add((platform, prof.username, target.username))

    # DM threads: each of our accounts has 2-3 conversations with other users
    drng = random.Random(f"{seed}:{platform}:dms")
    for ours in our_accounts(platform):
        partners = drng.sample(others_all, k=min(len(others_all), drng.randint(2, 3)))
        for partner in partners:
            tid = f"t{drng.randrange(10**11, 10**12)}"
            thread = DMThread(platform, tid, (ours, partner.username))
            t = now - timedelta(hours=drng.uniform(10, 200))
            speakers = [partner.username, ours]
            for k in range(drng.randint(2, 5)):
                t = t + timedelta(minutes=drng.uniform(2, 300))
                if t > now:
                    break
                thread.messages.append(
                    DMMessage(
                        f"m{drng.randrange(10**14, 10**15)}",
                        speakers[k % 2],
                        drng.choice(DM_TEXTS),
                        t.replace(microsecond=0),
                    )
                )
            world.threads[platform][tid] = thread


def _media_kind(platform: str, rng: random.Random) -> str | None:
    r = rng.random()
    if platform == "tiktok":
        return "video"
    if platform == "instagram":
        return "video" if r < 0.55 else "image"
    if platform == "linkedin":
        return None if r < 0.45 else ("image" if r < 0.9 else "video")
    if platform == "x":
        return None if r < 0.6 else ("image" if r < 0.9 else "video")
    return None if r < 0.7 else "image"


def _seed_comments(world: World, post: Post, profs: list[Profile], rng: random.Random) -> None:
    platform = post.platform
    others = [p for p in profs if p.username != post.author]
    if not others:
        return
    for _ in range(rng.randint(0, 4)):
        author = rng.choice(others)
        created = post.posted_at + timedelta(minutes=rng.uniform(3, 60 * 30))
        cid = str(rng.randrange(10**17, 10**18))
        world.comments[platform][cid] = Comment(
            platform,
            cid,
            post.post_id,
            author.username,
            rng.choice(COMMENT_TEXTS),
            created.replace(microsecond=0),
            None,
            rng.randint(0, 12),
        )
        if rng.random() < 0.4:
            rid = str(rng.randrange(10**17, 10**18))
            rcreated = created + timedelta(minutes=rng.uniform(5, 600))
            world.comments[platform][rid] = Comment(
                platform,
                rid,
                post.post_id,
                post.author,
                rng.choice(REPLY_TEXTS),
                rcreated.replace(microsecond=0),
                cid,
                rng.randint(0, 3),
            )


def pagination_token(post: Post) -> str:
    """LinkedIn-scraper style page token (base64 of an activity URN and a timestamp)."""
    raw = f"{post.ids.get('activity', post.post_id)}-{_ms(post.posted_at)}"
    return base64.b64encode(raw.encode()).decode()


def iter_all_posts(world: World) -> Iterable[Post]:
    for p in PLATFORMS:
        yield from world.posts[p].values()


def account_daily_stats(world: World, platform: str, username: str, days: int = 30) -> list[dict[str, Any]]:
    """The account's daily totals for the ``days`` days before ``world.now`` (oldest first), as a
    platform's analytics dashboard exports them: followers grow towards today's count, views
    vary by day. Deterministic for the world's seed."""
    prof = world.profile(platform, username)
    rng = random.Random(f"{world.seed}:{platform}:{username}:daily")
    followers = world.follower_count(prof)
    rows: list[dict[str, Any]] = []
    for back in range(1, days + 1):
        day = (world.now - timedelta(days=back)).date()
        rows.append(
            {
                "date": day.isoformat(),
                "followers": max(0, followers),
                "following": world.following_count(prof),
                "views": int(followers * rng.uniform(0.2, 0.9)),
            }
        )
        followers -= int(rng.uniform(0.002, 0.012) * followers) + rng.randint(0, 3)
    return rows[::-1]
