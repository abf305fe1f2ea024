"""A compiled mapping: builds post, comment, author and media records from one raw record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..counts import MAX_COUNT, BadCount
from ..records import CommentRecord, MediaRecord, MetricCounts, PostRecord, ProfileRecord
from ..timeparse import parse_relative
from .errors import BadValue
from .fast_build import (
    POST_CONVERTERS,
    build_author,
    comment_from,
    compile_fast_post,
    const_media_type,
    plan_author_fields,
)
from .fields import MAX_LIST_ITEMS
from .paths import Getter, is_absent
from .specs import BuildContext, CommentSpec, MediaSpec
from .values import to_count, to_float, to_id, to_text, to_time, value_kind


@dataclass
class Mapping:
    name: str
    platform: str
    kind: str
    source: str
    builtin: bool
    description: str = ""
    priority: int = 0
    items: tuple[str, ...] = ()
    detect_all: tuple[tuple[str, Getter], ...] = ()
    detect_any: tuple[tuple[str, Getter], ...] = ()
    detect_none: tuple[tuple[str, Getter], ...] = ()
    meta_captured_at: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    author: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    platform_stats: dict[str, Any] = field(default_factory=dict)
    media: list[MediaSpec] = field(default_factory=list)
    comments: CommentSpec | None = None
    hooks: list[Callable] = field(default_factory=list)
    hook_names: tuple[str, ...] = ()
    expand: Callable | None = None

    @property
    def format_name(self) -> str:
        return self.name if self.builtin else f"mapping:{self.name}"

    # -- detection ---------------------------------------------------------------------------

    def matches(self, obj: Any) -> bool:
        if type(obj) is not dict:
            return False
        for _, g in self.detect_all:
            if g(obj) is None:
                return False
        if self.detect_any and not any(g(obj) is not None for _, g in self.detect_any):
            return False
        for _, g in self.detect_none:
            if g(obj) is not None:
                return False
        return True

    @property
    def specificity(self) -> int:
        return len(self.detect_all) * 2 + len(self.detect_none) + (1 if self.detect_any else 0)

    # -- building ----------------------------------------------------------------------------

    def build(self, obj: dict, ctx: BuildContext) -> list:
        """Records for one raw object (a post, a comment, or an expanded container)."""
        if self.expand is not None:
            return list(self.expand(obj, self, ctx))
        if self.kind == "comment":
            return [self.build_comment(obj, ctx)]
        fast = self.__dict__.get("_fast_post")
        if fast is None:
            fast = self.__dict__["_fast_post"] = compile_fast_post(self)
        return [fast(obj, ctx)]

    def _captured_at(self, obj: dict, ctx: BuildContext) -> datetime | None:
        spec = self.fields.get("captured_at")
        if spec is not None:
            value = spec(obj)
            if value is not None:
                return to_time(value, "captured_at")
        return ctx.file_captured_at

    def _plans(self) -> tuple:
        plans = self.__dict__.get("_plans_cache")
        if plans is None:
            f = self.fields
            post_plan = tuple((name, f[name], conv) for name, conv in POST_CONVERTERS if name in f)
            count_plan = tuple(self.counts.items())
            stats_plan = tuple(self.platform_stats.items())
            author_plan = plan_author_fields(self.author, "author")
            plans = self.__dict__["_plans_cache"] = (post_plan, count_plan, stats_plan, author_plan)
        return plans

    def build_post(self, obj: dict, ctx: BuildContext) -> PostRecord:
        f = self.fields
        pid = to_id(f["platform_post_id"](obj), "platform_post_id")
        if pid is None:
            raise BadValue(
                "platform_post_id", None, f"missing post id (looked at: {f['platform_post_id'].describe})"
            )
        post_plan, count_plan, stats_plan, author_plan = self._plans()
        values: dict[str, Any] = {}
        for name, spec, conv in post_plan:
            v = spec(obj)
            if v is not None:
                values[name] = conv(v, name)
        captured_at = values.pop("captured_at", None) or ctx.file_captured_at
        ago = values.pop("posted_ago", None)
        approximate = False
        if ago is not None and values.get("posted_at") is None:
            resolved = parse_relative(ago, captured_at or ctx.reference_time)
            if resolved is not None:
                values["posted_at"] = resolved
                approximate = True
        counts = MetricCounts()
        for name, spec in count_plan:
            v = spec(obj)
            if v is not None:
                if v.__class__ is not int or not 0 <= v <= MAX_COUNT:
                    try:
                        v = to_count(v, name)
                    except BadCount as exc:
                        raise BadCount(name, exc.value, f"{exc.reason} (source: {spec.describe})") from None
                setattr(counts, name, v)
        stats: dict = {}
        whole = values.pop("platform_stats", None)
        if whole is not None:
            if whole.__class__ is not dict:
                raise BadValue("platform_stats", whole, f"expected an object, got {value_kind(whole)}")
            stats.update(whole)
        for name, spec in stats_plan:
            v = spec(obj)
            if v is not None:
                stats[name] = v
        post = PostRecord(
            self.platform,
            pid,
            author=build_author(self.platform, author_plan, obj) if author_plan else None,
            posted_at_approximate=approximate,
            counts=counts,
            platform_stats=stats,
            captured_at=captured_at,
            media=self._media(obj) if self.media else [],
            raw=obj,
            format=ctx.format,
            **values,
        )
        if self.comments is not None:
            post.comments = self._comments(obj, pid, ctx)
        for hook in self.hooks:
            hook(obj, post)
        return post

    def build_comment(self, obj: dict, ctx: BuildContext) -> CommentRecord:
        f = self.fields
        cid = to_id(f["platform_comment_id"](obj), "platform_comment_id")
        if cid is None:
            raise BadValue(
                "platform_comment_id",
                None,
                f"missing comment id (looked at: {f['platform_comment_id'].describe})",
            )
        rec = comment_from(self.platform, f, self.author, obj, cid, None, "", self)
        if rec.platform_post_id is None:
            raise BadValue(
                "platform_post_id",
                None,
                "missing the id of the post the comment belongs to"
                + (f" (looked at: {f['platform_post_id'].describe})" if "platform_post_id" in f else ""),
            )
        rec.captured_at = self._captured_at(obj, ctx)
        for hook in self.hooks:
            hook(obj, rec)
        return rec

    def _author(self, spec: dict[str, Any], obj: Any, prefix: str) -> ProfileRecord | None:
        if not spec:
            return None
        return build_author(self.platform, plan_author_fields(spec, prefix), obj)

    def _media(self, obj: dict) -> list[MediaRecord]:
        out: list[MediaRecord] = []
        for ms in self.media:
            if ms.skip_if is not None and not is_absent(ms.skip_if(obj)):
                continue
            found = ms.path(obj)
            if found is None:
                continue
            elements = found if type(found) is list else [found]
            for el in elements[:MAX_LIST_ITEMS]:
                fname = f"media[{len(out)}]"
                if type(el) is str:
                    if el:
                        out.append(
                            MediaRecord(
                                url=to_text(el, fname + ".url"),
                                position=len(out),
                                media_type=const_media_type(ms),
                            )
                        )
                    continue
                if type(el) is not dict:
                    continue
                vals: dict[str, Any] = {}
                for name, s in ms.fields.items():
                    v = s(obj if s.uses_root else el)
                    if v is None:
                        continue
                    if name in ("width", "height"):
                        vals[name] = to_count(v, f"{fname}.{name}")
                    elif name == "duration_s":
                        vals[name] = to_float(v, f"{fname}.{name}")
                    else:
                        vals[name] = to_text(v, f"{fname}.{name}")
                if vals.get("url") or vals.get("thumbnail_url"):
                    out.append(MediaRecord(position=len(out), **vals))
        return out

    def _comments(self, obj: dict, pid: str, ctx: BuildContext) -> list[CommentRecord]:
        cs = self.comments
        assert cs is not None
        found = cs.path(obj) if cs.path is not None else None
        if found is None:
            return []
        if type(found) is not list:
            raise BadValue("comments", found, f"expected a list of comments, got {value_kind(found)}")
        out: list[CommentRecord] = []
        self._walk_comments(found, pid, None, "comments", out, 0)
        return out

    def _walk_comments(
        self, items: list, pid: str, parent: str | None, prefix: str, out: list[CommentRecord], depth: int
    ) -> None:
        cs = self.comments
        assert cs is not None
        for i, c in enumerate(items[:MAX_LIST_ITEMS]):
            fname = f"{prefix}[{i}]"
            if type(c) is not dict:
                raise BadValue(fname, c, f"expected a comment object, got {value_kind(c)}")
            cid = to_id(cs.fields["platform_comment_id"](c), fname + ".platform_comment_id")
            if cid is None:
                continue  # embedded comments without an id cannot be keyed; skipped
            rec = comment_from(self.platform, cs.fields, cs.author, c, cid, parent, fname, self)
            if rec.platform_post_id is None:
                rec.platform_post_id = pid
            out.append(rec)
            if cs.replies is not None and depth < 20:
                replies = cs.replies(c)
                if type(replies) is list and replies:
                    self._walk_comments(replies, pid, cid, fname + ".replies", out, depth + 1)
