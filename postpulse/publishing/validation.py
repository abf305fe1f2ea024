"""Checks a variant against its platform's rules before it is scheduled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .rules import rules_for

URL_RE = re.compile(r"https?://[^\s<>\"]+")


@dataclass
class VariantDraft:
    """What one variant would publish: the item's text and media unless the variant overrides."""

    variant_id: str
    platform: str  # whose rules apply
    username: str
    text: str
    media: list[dict] = field(default_factory=list)  # media_assets rows + alt_text
    links: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"variant {self.variant_id} ({self.platform} @{self.username})"


def check_variant(v: VariantDraft) -> list[str]:
    """Every broken rule, one line each naming the variant and the rule."""
    r = rules_for(v.platform)
    out: list[str] = []
    n = r.counter(v.text)
    if n > r.max_length:
        out.append(f"{v.label}: the text is {n} {r.unit}; {r.name} allows {r.max_length}")
    if not v.text.strip() and not v.media:
        out.append(f"{v.label}: nothing to publish (no text and no media)")
    images = [m for m in v.media if m["media_type"] == "image"]
    videos = [m for m in v.media if m["media_type"] == "video"]
    if r.needs_media and not v.media:
        out.append(f"{v.label}: {r.name} posts need an image or a video")
    if len(images) > r.max_images:
        out.append(f"{v.label}: {len(images)} images; {r.name} allows {r.max_images}")
    if len(videos) > r.max_videos:
        out.append(f"{v.label}: {len(videos)} videos; {r.name} allows {r.max_videos}")
    if images and videos and not r.mix_images_and_video:
        out.append(f"{v.label}: {r.name} does not mix images and a video in one post")
    for i, m in enumerate(v.media, 1):
        what = f"{v.label}: media {i} ({m['sha256'][:12]})"
        if not Path(m["stored_path"]).is_file():
            out.append(f"{what}: the stored file is missing; add it again with `postpulse content edit`")
            continue
        if m["media_type"] == "image":
            if m["mime_type"] not in r.image_types:
                allowed = ", ".join(sorted(t.split("/")[1] for t in r.image_types))
                out.append(f"{what}: {m['mime_type']} is not accepted by {r.name} (use {allowed})")
            if m["file_size"] > r.max_image_bytes:
                out.append(
                    f"{what}: {m['file_size']:,} bytes; {r.name} allows {r.max_image_bytes:,} per image"
                )
            alt = (m.get("alt_text") or "").strip()
            if not alt:
                out.append(f"{what}: the image has no alt text (--alt); every image needs one")
            elif len(alt) > r.max_alt_length:
                out.append(f"{what}: alt text is {len(alt)} characters; {r.name} allows {r.max_alt_length}")
        elif m["file_size"] > r.max_video_bytes:
            out.append(f"{what}: {m['file_size']:,} bytes; {r.name} allows {r.max_video_bytes:,} per video")
    for link in [*v.links, *URL_RE.findall(v.text)]:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
            out.append(f"{v.label}: link {link!r} is not a full http(s) address")
    for handle in r.mention_re.findall(v.text):
        handle = handle[0] if isinstance(handle, tuple) else handle
        if not r.handle_re.match(handle.rstrip(".")):
            out.append(f"{v.label}: mention @{handle} is not a valid {r.name} handle")
    return out
