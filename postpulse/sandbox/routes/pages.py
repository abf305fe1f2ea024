"""The sandbox site: HTML pages and plain forms (POST + 303 redirect); every page but the login
page needs a session (a cookie per platform)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..formats import post_path, profile_path
from ..html import STATIC, avatar_svg, media_svg
from ..state import Sandbox, Session, cookie_name
from ..world import PLATFORM_NAMES, PLATFORMS, USERNAME_RE, WorldError, password_for
from .common import (
    BadRequest,
    bind,
    int_param,
    json_error,
    platform_of,
    read_form,
    safe_next,
)


async def index(request: Request, sb: Sandbox) -> Response:
    return sb.page(
        request,
        "index.html",
        platforms=[(p, PLATFORM_NAMES[p]) for p in PLATFORMS],
        title="postpulse sandbox",
    )


async def favicon(request: Request, sb: Sandbox) -> Response:
    return Response(status_code=204)


async def media(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    name = request.path_params["name"]
    stem, _, ext = name.rpartition(".")
    if ext in ("mp4", "mp3"):
        return json_error(
            f"the sandbox serves no video or audio bytes; use the poster image /media/{platform}/{stem}.svg",
            404,
        )
    if ext != "svg" or not stem or len(stem) > 120:
        return json_error(f"no media named {name!r}", 404)
    if stem.startswith("avatar-"):
        user = stem[len("avatar-") :]
        prof = sb.world.profiles[platform].get(user)
        initials = (prof.first_name[:1] + prof.last_name[:1]) if prof else "?"
        body = avatar_svg(user, initials)
    elif stem.startswith("cover-"):
        body = media_svg(stem, "", 1500, 500)
    else:
        body = media_svg(stem, f"{PLATFORM_NAMES[platform]} sandbox media {stem[:8]}")
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


async def login(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    nxt = safe_next(request.query_params.get("next"), f"/{platform}/")
    if request.method == "GET":
        session, _ = sb.session_for(request, platform)
        if session is not None:
            return RedirectResponse(nxt, status_code=303)
        return sb.page(
            request,
            "login.html",
            platform=platform,
            next=nxt,
            username="",
            error=None,
            expired=request.query_params.get("expired") == "1",
            title="Log in",
        )
    form = await read_form(request)
    nxt = safe_next(form.get("next"), f"/{platform}/")
    username = (form.get("username") or "").strip().lower().lstrip("@")
    password = form.get("password") or ""
    prof = sb.world.profiles[platform].get(username) if USERNAME_RE.match(username or "-") else None
    if prof is None or not secrets.compare_digest(password.encode(), password_for(prof.username).encode()):
        return sb.page(
            request,
            "login.html",
            status=401,
            platform=platform,
            next=nxt,
            username=form.get("username", "")[:100],
            expired=False,
            title="Log in",
            error="Wrong username or password.",
        )
    old = request.cookies.get(cookie_name(platform))
    sb.sessions.drop(old)
    session = sb.sessions.create(platform, prof.username, sb.clock.now(), sb.session_ttl)
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(cookie_name(platform), session.token, httponly=True, samesite="lax", path="/")
    return resp


async def logout(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    session, _ = sb.session_for(request, platform)
    if session is not None:
        form = await read_form(request)
        if not secrets.compare_digest((form.get("csrf_token") or "").encode(), session.csrf.encode()):
            raise BadRequest("the form token is missing or wrong; reload the page and try again", 403)
        sb.sessions.drop(session.token)
    resp = RedirectResponse(f"/{platform}/login", status_code=303)
    resp.delete_cookie(cookie_name(platform), path="/")
    return resp


def require(sb: Sandbox, request: Request, platform: str) -> tuple[Session | None, Response | None]:
    session, expired = sb.session_for(request, platform)
    if session is None:
        return None, sb.login_redirect(request, platform, expired)
    return session, None


async def require_form(
    sb: Sandbox, request: Request, platform: str
) -> tuple[Session | None, dict[str, str], Response | None]:
    session, redirect = require(sb, request, platform)
    if redirect is not None:
        return None, {}, redirect
    form = await read_form(request)
    if not secrets.compare_digest((form.get("csrf_token") or "").encode(), session.csrf.encode()):
        raise BadRequest("the form token is missing or wrong; reload the page and try again", 403)
    return session, form, None


def cards(sb: Sandbox, posts, username: str, now: datetime):
    return [
        (
            p,
            sb.world.profiles[p.platform][p.author],
            sb.world.metrics(p, now),
            sb.world.has_liked(p.platform, username, p.post_id),
        )
        for p in posts
    ]


async def feed(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    session, redirect = require(sb, request, platform)
    if redirect is not None:
        return redirect
    now = sb.clock.now()
    page = int_param(request, "page", 1, 1, 10000)
    tag = (request.query_params.get("tag") or "").strip().lstrip("#")[:100]
    posts = sb.world.visible_posts(platform, now)
    if tag:
        posts = [p for p in posts if tag.lower() in (h.lower() for h in p.hashtags)]
    per = 20
    chunk = posts[(page - 1) * per : page * per]
    return sb.page(
        request,
        "feed.html",
        session=session,
        platform=platform,
        tag=tag,
        page=page,
        more=len(posts) > page * per,
        items=cards(sb, chunk, session.username, now),
        title=f"#{tag}" if tag else "Feed",
    )


async def profile_page(
    sb: Sandbox, request: Request, platform: str, username: str, session: Session
) -> Response:
    prof = sb.world.profile(platform, username)
    now = sb.clock.now()
    posts = sb.world.visible_posts(platform, now, prof.username)
    return sb.page(
        request,
        "profile.html",
        session=session,
        platform=platform,
        profile=prof,
        n_posts=len(posts),
        followers=sb.world.follower_count(prof),
        following=sb.world.following_count(prof),
        is_following=sb.world.is_following(platform, session.username, prof.username),
        items=cards(sb, posts[:30], session.username, now),
        title=f"{prof.display_name} (@{prof.username})",
    )


async def post_page(sb: Sandbox, request: Request, platform: str, ident: str, session: Session) -> Response:
    now = sb.clock.now()
    post = sb.world.post(platform, ident, now)
    comments = sb.world.comments_for(platform, post.post_id, now)
    top = [c for c in comments if c.parent_id is None]
    replies: dict[str, list] = {}
    for c in comments:
        if c.parent_id:
            replies.setdefault(c.parent_id, []).append(c)
    author = sb.world.profiles[platform][post.author]

    def author_path(username: str) -> str:
        prof = sb.world.profiles[platform].get(username)
        return profile_path(prof) if prof else f"/{platform}/"

    return sb.page(
        request,
        "post.html",
        session=session,
        platform=platform,
        post=post,
        author=author,
        m=sb.world.metrics(post, now),
        liked=sb.world.has_liked(platform, session.username, post.post_id),
        top=top,
        replies=replies,
        author_path=author_path,
        title=f"{author.display_name}: {post.text[:40]}",
    )


def resolve(platform: str, parts: list[str]) -> tuple[str, str] | None:
    """Map a site path (after ``/{platform}/``) to ("profile", username) or ("post", id)."""
    if not parts:
        return None
    if parts[0] == "post" and len(parts) == 2:
        return ("post", parts[1])
    if platform == "linkedin":
        if parts[0] == "in" and len(parts) == 2:
            return ("profile", parts[1])
        if parts[0] == "posts" and len(parts) == 2:
            m = re.search(r"activity-(\d+)-", parts[1])
            return ("post", m.group(1)) if m else None
        if parts[0] == "feed" and len(parts) == 3 and parts[1] == "update":
            return ("post", parts[2])
        return None
    if platform == "instagram":
        if parts[0] in ("p", "reel") and len(parts) == 2:
            return ("post", parts[1])
        return ("profile", parts[0]) if len(parts) == 1 else None
    if platform in ("tiktok", "threads"):
        if not parts[0].startswith("@"):
            return None
        if len(parts) == 1:
            return ("profile", parts[0][1:])
        if len(parts) == 3 and parts[1] in ("video", "post"):
            return ("post", parts[2])
        return None
    if platform == "x":
        if len(parts) == 1:
            return ("profile", parts[0].lstrip("@"))
        if len(parts) == 3 and parts[1] == "status":
            return ("post", parts[2])
    if len(parts) == 1 and parts[0].startswith("@"):
        return ("profile", parts[0][1:])
    return None


async def site_path(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    parts = [p for p in request.path_params["rest"].split("/") if p]
    if len(parts) == 1 and parts[0].startswith("@") and platform not in ("tiktok", "threads"):
        target = ("profile", parts[0][1:])  # mention links
    else:
        target = resolve(platform, parts)
    if target is None:
        raise WorldError(f"there is no page at {request.url.path}", 404)
    session, redirect = require(sb, request, platform)
    if redirect is not None:
        return redirect
    kind, value = target
    if kind == "profile":
        return await profile_page(sb, request, platform, value, session)
    return await post_page(sb, request, platform, value, session)


def blocked(sb: Sandbox, session: Session, request: Request, action: str) -> bool:
    if sb.faults.take("action_blocked", request.url.path, action=action) is not None:
        session.flash.append("blocked")
        return True
    return False


async def action(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    verb = request.path_params["verb"]
    if verb not in ("like", "unlike", "comment", "reply", "delete_comment", "follow", "unfollow"):
        raise WorldError(f"unknown action {verb!r}", 404)
    session, form, redirect = await require_form(sb, request, platform)
    if redirect is not None:
        return redirect
    me = session.username  # the acting account is always the session's; form fields cannot change it
    now = sb.clock.now()
    default_next = f"/{platform}/"
    if verb in ("like", "unlike", "comment", "reply"):
        pid = form.get("post_id")
        if not pid:
            raise BadRequest("the form has no post_id")
        post = sb.world.post(platform, pid, now)
        default_next = post_path(post)
    nxt = safe_next(form.get("next"), default_next)
    if blocked(sb, session, request, verb):
        return RedirectResponse(nxt, status_code=303)
    if verb == "like":
        sb.world.like(platform, me, form["post_id"], now)
    elif verb == "unlike":
        sb.world.unlike(platform, me, form["post_id"], now)
    elif verb == "comment":
        sb.world.add_comment(platform, me, form["post_id"], form.get("text"), now)
    elif verb == "reply":
        parent = form.get("parent_id")
        if not parent:
            raise BadRequest("a reply needs the parent_id of the comment it answers")
        sb.world.add_comment(platform, me, form["post_id"], form.get("text"), now, parent_id=parent)
    elif verb == "delete_comment":
        cid = form.get("comment_id")
        if not cid:
            raise BadRequest("the form has no comment_id")
        sb.world.delete_comment(platform, me, cid, now)
    elif verb in ("follow", "unfollow"):
        target = form.get("target")
        if not target:
            raise BadRequest("the form has no target username")
        if verb == "follow":
            sb.world.follow(platform, me, target, now)
        else:
            sb.world.unfollow(platform, me, target, now)
    return RedirectResponse(nxt, status_code=303)


async def messages(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    session, redirect = require(sb, request, platform)
    if redirect is not None:
        return redirect
    rows = []
    for t in sb.world.threads_of(platform, session.username):
        other = sb.world.profiles[platform].get(t.other(session.username))
        if other is not None:
            rows.append((t, other, t.messages[-1] if t.messages else None))
    return sb.page(
        request,
        "messages.html",
        session=session,
        platform=platform,
        threads=rows,
        to=(request.query_params.get("to") or "")[:100],
        title="Messages",
    )


async def message_new(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    if request.method == "GET":
        return await messages(request, sb)
    session, form, redirect = await require_form(sb, request, platform)
    if redirect is not None:
        return redirect
    to = (form.get("to") or "").strip().lstrip("@").lower()
    if not to:
        raise BadRequest("say who the message is for (the To field)")
    if blocked(sb, session, request, "dm"):
        return RedirectResponse(f"/{platform}/messages/", status_code=303)
    thread, _ = sb.world.send_dm(platform, session.username, to, form.get("text"), sb.clock.now())
    return RedirectResponse(f"/{platform}/messages/{thread.thread_id}", status_code=303)


async def message_thread(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    tid = request.path_params["thread_id"]
    if request.method == "GET":
        session, redirect = require(sb, request, platform)
        if redirect is not None:
            return redirect
        thread = sb.world.thread(platform, tid, session.username)
        other = sb.world.profiles[platform][thread.other(session.username)]
        return sb.page(
            request,
            "thread.html",
            session=session,
            platform=platform,
            thread=thread,
            other=other,
            title=f"Messages with {other.display_name}",
        )
    session, form, redirect = await require_form(sb, request, platform)
    if redirect is not None:
        return redirect
    sb.world.thread(platform, tid, session.username)
    if not blocked(sb, session, request, "dm"):
        sb.world.send_dm_in_thread(platform, session.username, tid, form.get("text"), sb.clock.now())
    return RedirectResponse(f"/{platform}/messages/{tid}", status_code=303)


async def compose(request: Request, sb: Sandbox) -> Response:
    platform = platform_of(request)
    if request.method == "GET":
        session, redirect = require(sb, request, platform)
        if redirect is not None:
            return redirect
        return sb.page(request, "compose.html", session=session, platform=platform, title="New post")
    session, form, redirect = await require_form(sb, request, platform)
    if redirect is not None:
        return redirect
    if blocked(sb, session, request, "publish"):
        return RedirectResponse(f"/{platform}/compose", status_code=303)
    post = sb.world.publish(
        platform,
        session.username,
        form.get("text"),
        sb.clock.now(),
        media_kind=form.get("media") or None,
        client_ref=form.get("client_ref") or None,
    )
    return RedirectResponse(post_path(post), status_code=303)


def general_routes(sb: Sandbox) -> list[BaseRoute]:
    """The platform list, the favicon, static files and generated media."""
    return [
        Route("/", bind(sb, index)),
        Route("/favicon.ico", bind(sb, favicon)),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
        Route("/media/{platform}/{name}", bind(sb, media)),
    ]


def site_routes(sb: Sandbox) -> list[BaseRoute]:
    """The platforms' sites (login, feed, profiles, posts, actions, messages, compose). Last in
    the app: ``/{platform}/{rest:path}`` would catch every other path."""
    return [
        Route("/{platform}/login", bind(sb, login), methods=["GET", "POST"]),
        Route("/{platform}/logout", bind(sb, logout), methods=["POST"]),
        Route("/{platform}/action/{verb}", bind(sb, action), methods=["POST"]),
        Route("/{platform}/messages/", bind(sb, messages)),
        Route("/{platform}/messages", bind(sb, messages)),
        Route("/{platform}/messages/new", bind(sb, message_new), methods=["GET", "POST"]),
        Route("/{platform}/messages/{thread_id}", bind(sb, message_thread), methods=["GET", "POST"]),
        Route("/{platform}/compose", bind(sb, compose), methods=["GET", "POST"]),
        Route("/{platform}/", bind(sb, feed)),
        Route("/{platform}", bind(sb, feed)),
        Route("/{platform}/{rest:path}", bind(sb, site_path)),
    ]
