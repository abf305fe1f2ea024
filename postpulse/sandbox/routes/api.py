"""The JSON API (``/api/...``): platforms, posts, comments and profiles as the scrapers' exports
show them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import apify as apify_mod
from ..formats import item_for, profile_path, tiktok_comment_item
from ..world import PLATFORMS
from .common import (
    BadRequest,
    api_not_found,
    base_of,
    bind,
    int_param,
    platform_of,
)

if TYPE_CHECKING:
    from ..state import Sandbox


async def api_platforms(request: Request, sb: Sandbox) -> Response:
    return JSONResponse({"platforms": list(PLATFORMS), "actors": apify_mod.ACTORS})


async def api_posts(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    limit = int_param(request, "limit", None, 0, 10000)
    offset = int_param(request, "offset", 0, 0, 10**6)
    profile = request.query_params.get("profile")
    now = sb.clock.now()
    author = None
    if profile is not None:
        author = sb.world.profile(platform, profile).username
    posts = sb.world.visible_posts(platform, now, author)
    posts = posts[offset:] if limit is None else posts[offset : offset + limit]
    base = base_of(request)
    return JSONResponse([item_for(sb.world, p, now, base) for p in posts])


async def api_post(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    now = sb.clock.now()
    post = sb.world.post(platform, request.path_params["post_id"], now)
    return JSONResponse(item_for(sb.world, post, now, base_of(request)))


async def api_comments(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    ident = request.query_params.get("post")
    if not ident:
        raise BadRequest("give the post: /api/<platform>/comments?post=<post_id>")
    now = sb.clock.now()
    post = sb.world.post(platform, ident, now)
    base = base_of(request)
    if platform == "tiktok":
        return JSONResponse(
            [
                tiktok_comment_item(sb.world, c, post, base)
                for c in sb.world.comments_for(platform, post.post_id, now)
            ]
        )
    return JSONResponse(
        [
            {
                "id": c.comment_id,
                "post_id": c.post_id,
                "parent_id": c.parent_id,
                "author": c.author,
                "text": c.text,
                "likes": c.likes,
                "created_at": c.created_at.isoformat(),
            }
            for c in sb.world.comments_for(platform, post.post_id, now)
        ]
    )


async def api_profile(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    prof = sb.world.profile(platform, request.path_params["username"])
    now = sb.clock.now()
    return JSONResponse(
        {
            "platform": platform,
            "username": prof.username,
            "user_id": prof.user_id,
            "display_name": prof.display_name,
            "headline": prof.headline,
            "bio": prof.bio,
            "followers": sb.world.follower_count(prof),
            "following": sb.world.following_count(prof),
            "posts": len(sb.world.visible_posts(platform, now, prof.username)),
            "url": base_of(request) + profile_path(prof),
            "is_ours": prof.is_ours,
        }
    )


def routes(sb: Sandbox) -> list[BaseRoute]:
    return [
        Route("/api/platforms", bind(sb, api_platforms)),
        Route("/api/{platform}/posts", bind(sb, api_posts)),
        Route("/api/{platform}/posts/{post_id:path}", bind(sb, api_post)),
        Route("/api/{platform}/comments", bind(sb, api_comments)),
        Route("/api/{platform}/profiles/{username}", bind(sb, api_profile)),
        Route("/api/{rest:path}", bind(sb, api_not_found), methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
