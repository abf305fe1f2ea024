"""YouTube Data API v3: our channel's uploads with statistics and comments, comment replies,
video uploads (with a thumbnail image), likes, deletes; ``videos.list`` with an API key only for
check-backs of any public video.

Reference: https://developers.google.com/youtube/v3/docs (videos.list, channels.list,
playlistItems.list, commentThreads.list, comments.insert, videos.insert, thumbnails.set,
videos.rate, videos.delete) and https://developers.google.com/youtube/v3/determine_quota_cost.

Quota: the API has no rate-limit headers; it counts units per day (10,000 by default). Each
call records its units; ``quota_left`` (from ``POSTPULSE_YOUTUBE_DAILY_QUOTA`` minus today's
units in ``api_usage``) stops a collection *before* a call would pass the day's quota.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from pathlib import Path
from typing import Any

import httpx

from .base import Connector, OAuthSpec, comment_record, post_record
from .errors import (
    ApiError,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    TokenRevoked,
)
from .http import error_body

SCOPES = (
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/youtube.force-ssl",
    "https://www.googleapis.com/auth/youtube.upload",
)
#: units per call (determine_quota_cost); videos.insert has its own bucket of 100 calls a day
COST = {
    "videos.list": 1,
    "channels.list": 1,
    "playlistItems.list": 1,
    "commentThreads.list": 1,
    "comments.insert": 50,
    "videos.insert": 1,
    "thumbnails.set": 50,
    "videos.delete": 50,
    "videos.rate": 50,
}
DAILY_QUOTA = 10_000


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class YouTubeConnector(Connector):
    platform = "youtube"
    default_api_url = "https://www.googleapis.com"
    api_prefix = "/youtube/v3"
    oauth = OAuthSpec(
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        scopes=SCOPES,
        extra={"access_type": "offline", "prompt": "consent"},
    )
    actions = ("publish", "reply", "like", "delete_post")
    daily_quota = DAILY_QUOTA

    def __init__(self, *args, quota_left: int | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.quota_left = quota_left

    # ------------------------------------------------------------------ errors
    def classify(self, resp: httpx.Response) -> ApiError:
        body = error_body(resp)
        err = body.get("error")
        if isinstance(err, str):  # the token endpoint: {"error": "invalid_grant", ...}
            msg = f"{err}: {body.get('error_description', '')}".strip(": ")
            return TokenRevoked(f"Google refused the token: {msg}", status=resp.status_code)
        err = err or {}
        reason = ((err.get("errors") or [{}])[0]).get("reason", "")
        message = err.get("message") or resp.reason_phrase
        status = resp.status_code
        where = f"YouTube {resp.request.url.path.rsplit('/', 1)[-1]}"
        if status == 401:
            return TokenExpired(f"{where}: the access token expired or is invalid", status=status)
        if reason == "insufficientPermissions":
            return TokenRevoked(
                f"{where}: a permission postpulse needs was revoked ({message})",
                fix="run `postpulse accounts connect youtube` and allow every requested permission",
                status=status,
            )
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            return RateLimited(
                f"{where}: the day's YouTube quota is used up",
                retry_after=None,
                fix="nothing was lost; quotas reset at midnight Pacific Time",
                status=status,
            )
        if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
            retry = _int(resp.headers.get("retry-after")) or 30
            return RateLimited(
                f"{where}: too many requests, retry in {retry} s", retry_after=retry, status=status
            )
        if status >= 500:
            return ServerError(
                f"{where}: Google answered {status} ({message})",
                fix="a temporary error: run it again later",
                status=status,
            )
        if status == 404:
            return NotFound(f"{where}: {message} ({reason}); it was deleted or made private", status=status)
        return InvalidRequest(f"{where}: {message} ({reason or status})", status=status)

    def call(self, method: str, path: str, *, endpoint: str, **kw) -> Any:
        units = COST.get(endpoint, 1)
        if self.quota_left is not None:
            if units > self.quota_left:
                raise RateLimited(
                    f"YouTube {endpoint} would pass the day's quota "
                    f"({self.quota_left} units left, it costs {units})",
                    fix="nothing was lost; the quota resets at midnight Pacific Time "
                    "(or raise POSTPULSE_YOUTUBE_DAILY_QUOTA after Google granted more)",
                    retry_after=None,
                )
            self.quota_left -= units
        return self.session.request(method, path, endpoint=endpoint, quota_units=units, **kw)

    # ------------------------------------------------------------------ reads
    def me(self) -> dict:
        body = self.call(
            "GET",
            "/channels",
            endpoint="channels.list",
            params={"part": "snippet,contentDetails,statistics", "mine": "true"},
        )
        items = body.get("items") or []
        if not items:
            raise InvalidRequest(
                "this Google account has no YouTube channel",
                fix="create a channel on youtube.com, then connect again",
            )
        ch = items[0]
        handle = (ch.get("snippet", {}).get("customUrl") or ch["id"]).lstrip("@")
        return {
            "id": ch["id"],
            "username": handle,
            "display_name": ch.get("snippet", {}).get("title"),
            "followers": _int(ch.get("statistics", {}).get("subscriberCount")),
            "meta": {
                "uploads_playlist": ch.get("contentDetails", {}).get("relatedPlaylists", {}).get("uploads")
            },
        }

    def uploads(self, limit: int) -> list[str]:
        playlist = self.meta.get("uploads_playlist") or self.me()["meta"]["uploads_playlist"]
        ids: list[str] = []
        token = None
        while len(ids) < limit:
            params = {
                "part": "contentDetails",
                "playlistId": playlist,
                "maxResults": min(50, limit - len(ids)),
            }
            if token:
                params["pageToken"] = token
            body = self.call(
                "GET",
                "/playlistItems",
                endpoint="playlistItems.list",
                params=params,
                count=lambda b: len(b.get("items") or []),
            )
            ids += [it["contentDetails"]["videoId"] for it in body.get("items") or []]
            token = body.get("nextPageToken")
            if not token:
                break
        return ids

    def videos(self, ids: list[str], *, auth: str = "bearer") -> list[dict]:
        """``videos.list`` in batches of 50; deleted or private videos are simply absent."""
        out: list[dict] = []
        for i in range(0, len(ids), 50):
            body = self.call(
                "GET",
                "/videos",
                endpoint="videos.list",
                auth=auth,
                params={"part": "snippet,statistics,contentDetails", "id": ",".join(ids[i : i + 50])},
                count=lambda b: len(b.get("items") or []),
            )
            out += body.get("items") or []
        return out

    def comments(self, post_id: str, pages: int = 3) -> list[dict]:
        out: list[dict] = []
        token = None
        for _ in range(pages):
            params = {
                "part": "snippet,replies",
                "videoId": post_id,
                "maxResults": 100,
                "textFormat": "plainText",
            }
            if token:
                params["pageToken"] = token
            try:
                body = self.call(
                    "GET",
                    "/commentThreads",
                    endpoint="commentThreads.list",
                    params=params,
                    count=lambda b: len(b.get("items") or []),
                )
            except InvalidRequest as exc:
                if "commentsDisabled" in exc.message:
                    return out
                raise
            for thread in body.get("items") or []:
                out.append(
                    self._comment(
                        thread["snippet"]["topLevelComment"],
                        replies=[
                            self._comment(r, parent=thread["id"])
                            for r in (thread.get("replies") or {}).get("comments", [])
                        ],
                    )
                )
            token = body.get("nextPageToken")
            if not token:
                break
        return out

    @staticmethod
    def _comment(c: dict, *, parent: str | None = None, replies: list | None = None) -> dict:
        s = c.get("snippet") or {}
        return comment_record(
            comment_id=c["id"],
            text=s.get("textOriginal") or s.get("textDisplay"),
            posted_at=s.get("publishedAt"),
            author={
                "id": (s.get("authorChannelId") or {}).get("value"),
                "username": s.get("authorDisplayName"),
                "display_name": s.get("authorDisplayName"),
            },
            likes=_int(s.get("likeCount")),
            parent_id=parent or s.get("parentId"),
            replies=replies,
        )

    def to_record(self, video: dict, comments: list[dict] | None = None) -> dict:
        s, st = video.get("snippet") or {}, video.get("statistics") or {}
        return post_record(
            "youtube",
            post_id=video["id"],
            url=f"https://www.youtube.com/watch?v={video['id']}",
            text=s.get("title"),
            posted_at=s.get("publishedAt"),
            author={
                "id": s.get("channelId"),
                "username": self.meta.get("username"),
                "display_name": s.get("channelTitle"),
                "url": f"https://www.youtube.com/channel/{s.get('channelId')}",
            },
            # likeCount is absent when the owner hides likes: unknown, not zero
            metrics={
                "views": _int(st.get("viewCount")),
                "likes": _int(st.get("likeCount")),
                "comments": _int(st.get("commentCount")),
            },
            post_type="video",
            media=[
                {
                    "type": "video",
                    "url": f"https://www.youtube.com/watch?v={video['id']}",
                    "thumbnail_url": ((s.get("thumbnails") or {}).get("default") or {}).get("url"),
                }
            ],
            comments=comments,
            insights={
                "duration": (video.get("contentDetails") or {}).get("duration"),
                "description": s.get("description"),
            },
        )

    def collect_posts(self, limit: int = 50) -> list[dict]:
        videos = self.videos(self.uploads(limit))
        return [
            self.to_record(
                v, self.comments(v["id"]) if _int(v.get("statistics", {}).get("commentCount")) else []
            )
            for v in videos
        ]

    # ------------------------------------------------------------------ writes
    def reply(self, target_id: str, text: str, *, post_id: str | None = None) -> dict:  # noqa: ARG002
        body = self.call(
            "POST",
            "/comments",
            endpoint="comments.insert",
            params={"part": "snippet"},
            json={"snippet": {"parentId": target_id, "textOriginal": text}},
        )
        return {"id": body["id"], "parent_id": target_id}

    def like(self, post_id: str) -> dict:
        self.call("POST", "/videos/rate", endpoint="videos.rate", params={"id": post_id, "rating": "like"})
        return {"id": post_id, "liked": True}

    def delete(self, post_id: str) -> dict:
        self.call("DELETE", "/videos", endpoint="videos.delete", params={"id": post_id})
        return {"id": post_id, "deleted": True}

    def publish(self, text: str, media: list[str] | None = None, **opts) -> dict:
        """Upload a video (``media[0]``) titled with the first line of ``text``; an image in
        ``media`` becomes its thumbnail. ``opts``: ``privacy`` (private, unlisted, public)."""
        files = [Path(m) for m in media or []]
        video = next((f for f in files if (mimetypes.guess_type(f.name)[0] or "").startswith("video/")), None)
        image = next((f for f in files if (mimetypes.guess_type(f.name)[0] or "").startswith("image/")), None)
        if video is None:
            raise InvalidRequest(
                "a YouTube post is a video: give a video file (.mp4, .mov, .webm) in the media",
                fix="add the video file; an image alone can only be its thumbnail",
            )
        title, _, description = (text or video.stem).partition("\n")
        meta = {
            "snippet": {"title": title[:100], "description": description.strip(), "categoryId": "22"},
            "status": {"privacyStatus": opts.get("privacy", "private")},
        }
        boundary = "pp" + secrets.token_hex(12)
        mime = mimetypes.guess_type(video.name)[0] or "video/mp4"
        body = (
            (
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps(meta)}\r\n"
                f"--{boundary}\r\nContent-Type: {mime}\r\n\r\n"
            ).encode()
            + video.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        upload = self.api_url + "/upload/youtube/v3"
        created = self.call(
            "POST",
            upload + "/videos",
            endpoint="videos.insert",
            params={"uploadType": "multipart", "part": "snippet,status"},
            content=body,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )
        out = {"id": created["id"], "url": f"https://www.youtube.com/watch?v={created['id']}"}
        if image is not None:
            self.call(
                "POST",
                upload + "/thumbnails/set",
                endpoint="thumbnails.set",
                params={"videoId": created["id"]},
                content=image.read_bytes(),
                headers={"Content-Type": mimetypes.guess_type(image.name)[0] or "image/jpeg"},
            )
            out["thumbnail"] = True
        return out
