"""YouTube Data API v3 emulation (``/youtube/v3/...``, uploads under ``/upload/youtube/v3/...``)
and Google's OAuth 2.0 endpoints (``/o/oauth2/v2/auth``, ``/token``).

Shapes, parameters, quota costs and error reasons follow the reference:
https://developers.google.com/youtube/v3/docs/videos/list
https://developers.google.com/youtube/v3/docs/channels/list (contentDetails.relatedPlaylists.uploads)
https://developers.google.com/youtube/v3/docs/playlistItems/list
https://developers.google.com/youtube/v3/docs/commentThreads/list
https://developers.google.com/youtube/v3/docs/comments/insert
https://developers.google.com/youtube/v3/docs/videos/insert , .../videos/delete , .../videos/rate
https://developers.google.com/youtube/v3/docs/thumbnails/set
https://developers.google.com/youtube/v3/docs/errors (the error body: error.errors[].reason)
https://developers.google.com/youtube/v3/determine_quota_cost
https://developers.google.com/identity/protocols/oauth2/native-app (loopback redirect, PKCE)

Counts in ``statistics`` are strings, as the API sends them; ``likeCount`` is absent when the
owner hides likes; ``dislikeCount`` is no longer returned (private since December 2021).
Read calls take an API key (``key=``) or a bearer token; writes need OAuth with
``youtube.force-ssl`` (comments, rate, delete) or ``youtube.upload``.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import Injected, json_body, offset_of, page_token
from .oauth import OAuthProvider

SCOPE_READ = "https://www.googleapis.com/auth/youtube.readonly"
SCOPE_SSL = "https://www.googleapis.com/auth/youtube.force-ssl"
SCOPE_UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
CLIENT_ID = "sandbox-youtube.apps.googleusercontent.com"
CLIENT_SECRET = "sandbox-youtube-secret"
API_KEY = "sandbox-youtube-key"
VIDEO_PARTS = {"snippet", "statistics", "contentDetails", "status", "id"}
DAILY_QUOTA = 10_000


def error(status: int, reason: str, message: str, *, domain: str = "youtube.api") -> JSONResponse:
    names = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": names.get(status, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=status)


def token_error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class YouTubeState:
    now: datetime
    channels: dict[str, dict] = field(default_factory=dict)
    videos: dict[str, dict] = field(default_factory=dict)  # id -> video resource (all parts)
    threads: dict[str, list[dict]] = field(default_factory=dict)  # video id -> commentThread list
    ratings: dict[tuple[str, str], str] = field(default_factory=dict)
    quota_used: int = 0
    faults: Injected = field(default_factory=Injected)
    lock: threading.Lock = field(default_factory=threading.Lock)
    oauth: OAuthProvider | None = None

    @classmethod
    def build(cls, seed: int = 7, now: datetime | None = None) -> YouTubeState:
        rng = random.Random(seed)
        st = cls(now=now or datetime(2025, 6, 1, 12, tzinfo=UTC))
        for cid, title, handle, n in (
            ("UCpostpulseDemoChannel01", "postpulse demo", "@postpulsedemo", 6),
            ("UCsomeoneElsesChannel002", "Someone else", "@someoneelse", 4),
        ):
            st.channels[cid] = {
                "id": cid,
                "title": title,
                "customUrl": handle,
                "subscriberCount": str(rng.randint(900, 90_000)),
                "uploads": "UU" + cid[2:],
                "videoCount": str(n),
            }
            for i in range(n):
                vid = "".join(
                    rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789_-")
                    for _ in range(11)
                )
                posted = st.now - timedelta(days=3 * i + 1, hours=rng.randint(0, 20))
                stats = {
                    "viewCount": str(rng.randint(100, 50_000)),
                    "favoriteCount": "0",
                    "commentCount": "0",
                }
                if i != 2:  # the third video hides its likes: likeCount is absent
                    stats["likeCount"] = str(rng.randint(5, 2_000))
                st.videos[vid] = {
                    "kind": "youtube#video",
                    "etag": secrets.token_hex(8),
                    "id": vid,
                    "snippet": {
                        "publishedAt": _iso(posted),
                        "channelId": cid,
                        "title": f"{title} video {i + 1}",
                        "description": f"Episode {i + 1} #sandbox",
                        "channelTitle": title,
                        "thumbnails": {
                            "default": {
                                "url": f"https://i.ytimg.com/vi/{vid}/default.jpg",
                                "width": 120,
                                "height": 90,
                            }
                        },
                        "categoryId": "22",
                        "liveBroadcastContent": "none",
                    },
                    "contentDetails": {
                        "duration": f"PT{rng.randint(1, 20)}M{rng.randint(0, 59)}S",
                        "dimension": "2d",
                        "definition": "hd",
                        "caption": "false",
                    },
                    "status": {"uploadStatus": "processed", "privacyStatus": "public"},
                    "statistics": stats,
                }
                threads = []
                for j in range(rng.randint(1, 3)):
                    tid = "Ug" + secrets.token_hex(10)
                    threads.append(
                        st._thread(
                            vid,
                            tid,
                            f"viewer{rng.randint(1, 99)}",
                            f"Nice one #{j + 1}",
                            posted + timedelta(hours=j + 1),
                        )
                    )
                st.threads[vid] = threads
                stats["commentCount"] = str(len(threads))
        st.oauth = OAuthProvider(
            "youtube",
            CLIENT_ID,
            CLIENT_SECRET,
            users={"UCpostpulseDemoChannel01": "postpulse demo (@postpulsedemo)"},
            known_scopes={SCOPE_READ, SCOPE_SSL, SCOPE_UPLOAD},
            error=token_error,
            ttl_s=3599,
        )
        return st

    def _thread(self, vid: str, tid: str, author: str, text: str, at: datetime) -> dict:
        return {
            "kind": "youtube#commentThread",
            "id": tid,
            "snippet": {
                "channelId": self.videos[vid]["snippet"]["channelId"],
                "videoId": vid,
                "canReply": True,
                "totalReplyCount": 0,
                "isPublic": True,
                "topLevelComment": {
                    "kind": "youtube#comment",
                    "id": tid,
                    "snippet": {
                        "videoId": vid,
                        "textDisplay": text,
                        "textOriginal": text,
                        "authorDisplayName": author,
                        "authorChannelId": {"value": "UC" + author.ljust(22, "x")},
                        "likeCount": 1,
                        "publishedAt": _iso(at),
                        "updatedAt": _iso(at),
                    },
                },
            },
        }


class YouTubeApi:
    def __init__(self, state: YouTubeState) -> None:
        self.st = state

    # ------------------------------------------------------------------ auth
    def _auth(self, request: Request, *, scopes: set[str] | None, endpoint: str, cost: int):
        """``(grant or None, error response or None)``; counts the quota like the API (every call,
        even an invalid one, costs at least one unit)."""
        with self.st.lock:
            if self.st.quota_used + cost > DAILY_QUOTA:
                return None, error(
                    403,
                    "quotaExceeded",
                    "The request cannot be completed because you have exceeded your quota.",
                )
            self.st.quota_used += max(cost, 1)
        status = self.st.faults.take(endpoint)
        if status:
            if status == 429:
                return None, error(429, "rateLimitExceeded", "The request rate is higher than allowed.")
            return None, error(status, "backendError", "Backend Error", domain="global")
        key = request.query_params.get("key")
        if key is not None and scopes is None:
            if key != API_KEY:
                return None, error(
                    400, "badRequest", "API key not valid. Please pass a valid API key.", domain="global"
                )
            return None, None
        grant, problem = self.st.oauth.check(request)
        if grant is None:
            if problem == "missing":
                return None, error(
                    403, "forbidden", "The request is missing a valid API key.", domain="global"
                )
            return None, error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected "
                "OAuth 2 access token, login cookie or other valid authentication credential.",
                domain="global",
            )
        if scopes and not (grant.scopes & scopes):
            return None, error(
                403,
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
                domain="global",
            )
        return grant, None

    @staticmethod
    def _parts(request: Request, allowed: set[str]) -> tuple[set[str] | None, Response | None]:
        raw = request.query_params.get("part")
        if not raw:
            return None, error(400, "required", "Required parameter: part", domain="global")
        parts = {p.strip() for p in raw.split(",") if p.strip()}
        bad = parts - allowed
        if bad:
            return None, error(400, "unknownPart", f"'{sorted(bad)[0]}'")
        return parts, None

    @staticmethod
    def _max_results(request: Request, default: int, hi: int) -> int | Response:
        raw = request.query_params.get("maxResults", str(default))
        if not raw.isdigit() or not 0 <= int(raw) <= hi:
            return error(
                400,
                "invalidParameter",
                f"Invalid value '{raw}'. Values must be within the range: [0, {hi}]",
                domain="global",
            )
        return int(raw)

    # ------------------------------------------------------------------ videos
    async def videos(self, request: Request) -> Response:
        if request.method == "DELETE":
            return await self.delete_video(request)
        _, err = self._auth(request, scopes=None, endpoint="videos.list", cost=1)
        if err:
            return err
        parts, err = self._parts(request, VIDEO_PARTS)
        if err:
            return err
        ids = [i for i in request.query_params.get("id", "").split(",") if i]
        if not ids:
            return error(
                400,
                "missingRequiredParameter",
                "No filter selected. Expected one of: myRated, chart, idParam, id",
                domain="youtube.parameter",
            )
        if len(ids) > 50:
            return error(400, "invalidParameter", "The id parameter may name at most 50 videos")
        items = []
        for vid in ids:
            video = self.st.videos.get(vid)
            if video is None:
                continue  # deleted or private videos are simply absent from items
            items.append({k: v for k, v in video.items() if k in ("kind", "etag", "id") or k in parts})
        return JSONResponse(
            {
                "kind": "youtube#videoListResponse",
                "etag": secrets.token_hex(8),
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            }
        )

    async def delete_video(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_SSL}, endpoint="videos.delete", cost=50)
        if err:
            return err
        vid = request.query_params.get("id", "")
        video = self.st.videos.get(vid)
        if video is None:
            return error(404, "videoNotFound", "The video that you are trying to delete cannot be found.")
        if video["snippet"]["channelId"] != grant.user_id:
            return error(403, "forbidden", "The video that you are trying to delete cannot be deleted.")
        with self.st.lock:
            del self.st.videos[vid]
            self.st.threads.pop(vid, None)
        return Response(status_code=204)

    async def rate(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_SSL}, endpoint="videos.rate", cost=50)
        if err:
            return err
        vid, rating = request.query_params.get("id", ""), request.query_params.get("rating", "")
        if rating not in ("like", "dislike", "none"):
            return error(
                400, "invalidRating", "The request contained an unexpected value for the rating parameter."
            )
        video = self.st.videos.get(vid)
        if video is None:
            return error(404, "videoNotFound", "The video that you are trying to rate cannot be found.")
        with self.st.lock:
            before = self.st.ratings.get((grant.user_id, vid))
            self.st.ratings[(grant.user_id, vid)] = rating
            stats = video["statistics"]
            if "likeCount" in stats and rating == "like" and before != "like":
                stats["likeCount"] = str(int(stats["likeCount"]) + 1)
        return Response(status_code=204)

    async def get_rating(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_SSL, SCOPE_READ}, endpoint="videos.getRating", cost=1)
        if err:
            return err
        ids = [i for i in request.query_params.get("id", "").split(",") if i]
        items = [
            {"videoId": v, "rating": self.st.ratings.get((grant.user_id, v), "none")}
            for v in ids
            if v in self.st.videos
        ]
        return JSONResponse({"kind": "youtube#videoGetRatingResponse", "items": items})

    # ------------------------------------------------------------------ channels and playlists
    async def channels(self, request: Request) -> Response:
        mine = request.query_params.get("mine") == "true"
        grant, err = self._auth(
            request, scopes={SCOPE_READ, SCOPE_SSL} if mine else None, endpoint="channels.list", cost=1
        )
        if err:
            return err
        parts, err = self._parts(request, {"snippet", "contentDetails", "statistics", "id"})
        if err:
            return err
        ids = [grant.user_id] if mine else [i for i in request.query_params.get("id", "").split(",") if i]
        if not ids:
            return error(
                400,
                "missingRequiredParameter",
                "No filter selected. Expected one of: forUsername, managedByMe, id, mine, forHandle",
                domain="youtube.parameter",
            )
        items = []
        for cid in ids:
            ch = self.st.channels.get(cid)
            if ch is None:
                continue
            item = {"kind": "youtube#channel", "etag": secrets.token_hex(8), "id": cid}
            if "snippet" in parts:
                item["snippet"] = {"title": ch["title"], "customUrl": ch["customUrl"], "description": ""}
            if "contentDetails" in parts:
                item["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": ch["uploads"]}}
            if "statistics" in parts:
                item["statistics"] = {
                    "subscriberCount": ch["subscriberCount"],
                    "videoCount": ch["videoCount"],
                    "hiddenSubscriberCount": False,
                    "viewCount": "0",
                }
            items.append(item)
        return JSONResponse(
            {
                "kind": "youtube#channelListResponse",
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
            }
        )

    async def playlist_items(self, request: Request) -> Response:
        _, err = self._auth(request, scopes=None, endpoint="playlistItems.list", cost=1)
        if err:
            return err
        _, err = self._parts(request, {"snippet", "contentDetails", "status", "id"})
        if err:
            return err
        size = self._max_results(request, 5, 50)
        if isinstance(size, Response):
            return size
        pid = request.query_params.get("playlistId", "")
        channel = next((c for c in self.st.channels.values() if c["uploads"] == pid), None)
        if channel is None:
            return error(
                404,
                "playlistNotFound",
                "The playlist identified with the request's playlistId parameter cannot be found.",
            )
        offset = offset_of(request.query_params.get("pageToken"))
        if offset is None:
            return error(400, "invalidPageToken", "The request specifies an invalid page token.")
        uploads = sorted(
            (v for v in self.st.videos.values() if v["snippet"]["channelId"] == channel["id"]),
            key=lambda v: v["snippet"]["publishedAt"],
            reverse=True,
        )
        page = uploads[offset : offset + size]
        items = [
            {
                "kind": "youtube#playlistItem",
                "id": "PI" + v["id"],
                "snippet": {
                    "publishedAt": v["snippet"]["publishedAt"],
                    "channelId": channel["id"],
                    "title": v["snippet"]["title"],
                    "playlistId": pid,
                    "resourceId": {"kind": "youtube#video", "videoId": v["id"]},
                },
                "contentDetails": {"videoId": v["id"], "videoPublishedAt": v["snippet"]["publishedAt"]},
            }
            for v in page
        ]
        body = {
            "kind": "youtube#playlistItemListResponse",
            "items": items,
            "pageInfo": {"totalResults": len(uploads), "resultsPerPage": size},
        }
        if offset + size < len(uploads):
            body["nextPageToken"] = page_token(offset + size)
        return JSONResponse(body)

    # ------------------------------------------------------------------ comments
    async def comment_threads(self, request: Request) -> Response:
        _, err = self._auth(request, scopes=None, endpoint="commentThreads.list", cost=1)
        if err:
            return err
        _, err = self._parts(request, {"snippet", "replies", "id"})
        if err:
            return err
        size = self._max_results(request, 20, 100)
        if isinstance(size, Response):
            return size
        vid = request.query_params.get("videoId", "")
        if vid not in self.st.videos:
            return error(
                404, "videoNotFound", "The video identified by the videoId parameter could not be found."
            )
        offset = offset_of(request.query_params.get("pageToken"))
        if offset is None:
            return error(400, "invalidPageToken", "The request specifies an invalid page token.")
        threads = self.st.threads.get(vid, [])
        body = {
            "kind": "youtube#commentThreadListResponse",
            "items": threads[offset : offset + size],
            "pageInfo": {"totalResults": len(threads), "resultsPerPage": size},
        }
        if offset + size < len(threads):
            body["nextPageToken"] = page_token(offset + size)
        return JSONResponse(body)

    async def comments(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_SSL}, endpoint="comments.insert", cost=50)
        if err:
            return err
        _, err = self._parts(request, {"snippet", "id"})
        if err:
            return err
        body = await json_body(request)
        snippet = (body or {}).get("snippet") or {}
        text = snippet.get("textOriginal")
        if not snippet.get("parentId"):
            return error(400, "parentIdMissing", "The comment must be linked to a parent comment.")
        if not text:
            return error(
                400, "commentTextRequired", "The comment resource must specify snippet.textOriginal."
            )
        if len(text) > 10_000:
            return error(
                400, "commentTextTooLong", "The snippet.textOriginal property contains too many characters."
            )
        for vid, threads in self.st.threads.items():
            for thread in threads:
                if thread["id"] == snippet["parentId"]:
                    cid = f"{thread['id']}.{secrets.token_hex(6)}"
                    at = _iso(datetime.now(UTC))
                    reply = {
                        "kind": "youtube#comment",
                        "etag": secrets.token_hex(8),
                        "id": cid,
                        "snippet": {
                            "videoId": vid,
                            "textDisplay": text,
                            "textOriginal": text,
                            "parentId": thread["id"],
                            "authorDisplayName": self.st.channels[grant.user_id]["title"],
                            "authorChannelId": {"value": grant.user_id},
                            "likeCount": 0,
                            "publishedAt": at,
                            "updatedAt": at,
                        },
                    }
                    with self.st.lock:
                        thread.setdefault("replies", {"comments": []})["comments"].append(reply)
                        thread["snippet"]["totalReplyCount"] += 1
                    return JSONResponse(reply)
        return error(404, "commentNotFound", "The comment identified by snippet.parentId could not be found.")

    # ------------------------------------------------------------------ uploads
    async def upload_video(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_UPLOAD}, endpoint="videos.insert", cost=1)
        if err:
            return err
        if request.query_params.get("uploadType") != "multipart":
            return error(
                400, "badRequest", "uploadType must be multipart (resumable uploads are not emulated)"
            )
        parts, err = self._parts(request, VIDEO_PARTS)
        if err:
            return err
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/related") or "boundary=" in ctype is False:
            return error(400, "mediaBodyRequired", "The request does not include the video content.")
        boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
        chunks = [c for c in (await request.body()).split(b"--" + boundary) if c.strip() not in (b"", b"--")]
        if len(chunks) != 2:
            return error(400, "mediaBodyRequired", "The request does not include the video content.")
        meta_raw = chunks[0].split(b"\r\n\r\n", 1)[-1]
        media = chunks[1].split(b"\r\n\r\n", 1)[-1]
        try:
            meta = json.loads(meta_raw)
        except ValueError:
            return error(400, "invalidVideoMetadata", "The request metadata is invalid.")
        title = ((meta.get("snippet") or {}).get("title") or "").strip()
        if not title:
            return error(
                400, "invalidTitle", "The request metadata specifies an invalid or empty video title."
            )
        if len(media.strip()) == 0:
            return error(400, "mediaBodyRequired", "The request does not include the video content.")
        vid = secrets.token_urlsafe(8)[:11]
        ch = self.st.channels[grant.user_id]
        video = {
            "kind": "youtube#video",
            "etag": secrets.token_hex(8),
            "id": vid,
            "snippet": {
                "publishedAt": _iso(datetime.now(UTC)),
                "channelId": grant.user_id,
                "title": title,
                "description": (meta.get("snippet") or {}).get("description", ""),
                "channelTitle": ch["title"],
                "thumbnails": {},
                "categoryId": "22",
            },
            "status": {
                "uploadStatus": "uploaded",
                "privacyStatus": (meta.get("status") or {}).get("privacyStatus", "private"),
            },
            "statistics": {"viewCount": "0", "likeCount": "0", "favoriteCount": "0", "commentCount": "0"},
            "contentDetails": {"duration": "PT0S", "dimension": "2d", "definition": "sd", "caption": "false"},
        }
        with self.st.lock:
            self.st.videos[vid] = video
            self.st.threads[vid] = []
        return JSONResponse({k: v for k, v in video.items() if k in ("kind", "etag", "id") or k in parts})

    async def set_thumbnail(self, request: Request) -> Response:
        grant, err = self._auth(request, scopes={SCOPE_UPLOAD, SCOPE_SSL}, endpoint="thumbnails.set", cost=50)
        if err:
            return err
        vid = request.query_params.get("videoId", "")
        video = self.st.videos.get(vid)
        if video is None:
            return error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
        ctype = request.headers.get("content-type", "")
        body = await request.body()
        if ctype not in ("image/jpeg", "image/png", "application/octet-stream") or not body:
            return error(400, "mediaBodyRequired", "The request does not include the image content.")
        if len(body) > 2 * 1024 * 1024:
            return error(400, "mediaBodyTooLarge", "The image is larger than 2MB.")
        url = f"https://i.ytimg.com/vi/{vid}/default.jpg"
        video["snippet"]["thumbnails"] = {"default": {"url": url, "width": 120, "height": 90}}
        return JSONResponse({"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": url}}]})

    def routes(self) -> list[Route]:
        st = self.st
        return [
            Route("/o/oauth2/v2/auth", st.oauth.authorize, methods=["GET", "POST"]),
            Route("/token", st.oauth.token, methods=["POST"]),
            Route("/youtube/v3/videos", self.videos, methods=["GET", "DELETE"]),
            Route("/youtube/v3/videos/rate", self.rate, methods=["POST"]),
            Route("/youtube/v3/videos/getRating", self.get_rating),
            Route("/youtube/v3/channels", self.channels),
            Route("/youtube/v3/playlistItems", self.playlist_items),
            Route("/youtube/v3/commentThreads", self.comment_threads),
            Route("/youtube/v3/comments", self.comments, methods=["POST"]),
            Route("/upload/youtube/v3/videos", self.upload_video, methods=["POST"]),
            Route("/upload/youtube/v3/thumbnails/set", self.set_thumbnail, methods=["POST"]),
        ]
