"""HTML rendering for the sandbox site: Jinja2 templates, rich text, SVG placeholders, and the
``changed_markup`` rewrite that renames test ids, labels and elements so selectors break."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from .formats import post_path, profile_path, relative
from .world import HASHTAG_RE, MENTION_RE, Post

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

_env: Environment | None = None


def env() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.globals.update(post_path=post_path, profile_path=profile_path, fmt=fmt_count)
    return _env


def fmt_count(n: int) -> str:
    return f"{n:,}"


def rich_text(post: Post) -> Markup:
    """Post text, escaped, with hashtags and mentions as links."""
    text = post.text
    out: list[str] = []
    pos = 0
    tokens = sorted(
        [(m.start(), m.end(), "tag", m.group(1)) for m in HASHTAG_RE.finditer(text)]
        + [(m.start(), m.end(), "mention", m.group(1)) for m in MENTION_RE.finditer(text)]
    )
    for start, end, kind, value in tokens:
        if start < pos:
            continue
        out.append(escape(text[pos:start]))
        if kind == "tag":
            out.append(
                f'<a class="hashtag" href="/{post.platform}/?tag={escape(value)}" '
                f'data-testid="hashtag" data-tag="{escape(value)}">#{escape(value)}</a>'
            )
        else:
            out.append(
                f'<a class="mention" href="/{post.platform}/@{escape(value.lower())}" '
                f'data-testid="mention" data-username="{escape(value.lower())}">@{escape(value)}</a>'
            )
        pos = end
    out.append(escape(text[pos:]))
    return Markup("".join(out))


def reltime_factory(now: datetime):
    return lambda dt: relative(dt, now)


# ---------------------------------------------------------------------------- SVG placeholders


def _hue(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) % 360


def media_svg(key: str, label: str, width: int = 1080, height: int = 1080) -> str:
    h = _hue(key)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({h},70%,62%)"/><stop offset="1" '
        f'stop-color="hsl({(h + 60) % 360},70%,42%)"/>'
        f'</linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>'
        f'<circle cx="{width * 0.7:.0f}" cy="{height * 0.3:.0f}" r="{min(width, height) * 0.12:.0f}" '
        'fill="rgba(255,255,255,.35)"/>'
        f'<path d="M0 {height * 0.8:.0f} L{width * 0.35:.0f} {height * 0.5:.0f} L{width * 0.6:.0f} '
        f"{height * 0.72:.0f} "
        f'L{width * 0.8:.0f} {height * 0.58:.0f} L{width} {height * 0.8:.0f} V{height} H0Z" '
        'fill="rgba(0,0,0,.18)"/>'
        f'<text x="50%" y="92%" font-family="sans-serif" font-size="{max(18, width // 30)}" fill="#fff" '
        f'text-anchor="middle">{escape(label)}</text></svg>'
    )


def avatar_svg(username: str, initials: str) -> str:
    h = _hue(username)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128" role="img" '
        f'aria-label="avatar of {escape(username)}"><circle cx="64" cy="64" r="64" fill="hsl({h},55%,50%)"/>'
        f'<text x="64" y="78" font-family="sans-serif" font-size="44" fill="#fff" text-anchor="middle">'
        f"{escape(initials)}</text></svg>"
    )


# ---------------------------------------------------------------------------- changed markup

_TEXT_SWAPS = {
    ">Like<": ">Appreciate<",
    " Like <": " Appreciate <",
    ">Follow<": ">Subscribe<",
    ">Following<": ">Subscribed<",
    ">Post comment<": ">Respond<",
    ">Reply<": ">Answer<",
    ">Send<": ">Deliver<",
    ">Log in<": ">Sign in<",
    ">Delete<": ">Remove<",
    ">Publish<": ">Share now<",
    ">Log out<": ">Sign out<",
    ">Username<": ">Handle<",
    ">Password<": ">Passphrase<",
    ">Message<": ">Write<",
    ">Add a comment<": ">Your response<",
    ">Messages<": ">Inbox<",
    ">Feed<": ">Home<",
    ">New post<": ">Create<",
    "Action blocked": "Temporarily restricted",
}
_LABEL_SWAPS = {
    "Like": "Appreciate this",
    "Delete comment": "Remove response",
    "Log in": "Sign in",
    "Main": "Primary",
    "Feed": "Stream",
    "Comments": "Responses",
    "Post metrics": "Insights",
}
_TAG_SWAPS = (
    "article",
    "section",
    "nav",
    "main",
    "header",
    "footer",
    "figure",
    "figcaption",
    "ol",
    "ul",
    "li",
    "time",
)


def changed_markup(html: str) -> str:
    """The same page with other test ids, ids, labels, element names and button texts."""
    html = re.sub(r'data-testid="([^"]*)"', lambda m: f'data-qa="{m.group(1).replace("-", "_")}_v2"', html)
    html = re.sub(r'\b(id|for)="([^"]*)"', lambda m: f'{m.group(1)}="v2-{m.group(2)}"', html)
    html = re.sub(r' role="[^"]*"', "", html)

    def label(m: re.Match) -> str:
        value = m.group(1)
        if value in _LABEL_SWAPS:
            return f'aria-label="{_LABEL_SWAPS[value]}"'
        for old, new in (
            ("Follow ", "Subscribe to "),
            ("Reply to ", "Answer "),
            ("Post by ", "Update from "),
            ("Conversation with ", "Chat with "),
        ):
            if value.startswith(old):
                return f'aria-label="{new}{value[len(old) :]}"'
        return f'aria-label="{value} (v2)"'

    html = re.sub(r'aria-label="([^"]*)"', label, html)
    html = html.replace("#comments", "#v2-comments")
    for old, new in _TEXT_SWAPS.items():
        html = html.replace(old, new)
    for tag in _TAG_SWAPS:
        html = re.sub(rf"<{tag}(?=[\s>])", f'<div data-was="{tag}"' if tag != "time" else "<span", html)
        html = html.replace(f"</{tag}>", "</div>" if tag != "time" else "</span>")
    return html
