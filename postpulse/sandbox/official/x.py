"""X API v2 emulation (``/2/...``) and X's OAuth 2.0 endpoints (``/i/oauth2/authorize``,
``/2/oauth2/token``).

Shapes, parameters, limits and errors follow the reference:
https://docs.x.com/x-api/posts/get-posts-by-user (GET /2/users/:id/tweets: max_results 5-100,
pagination_token, tweet.fields; meta.result_count/newest_id/oldest_id/next_token)
https://docs.x.com/x-api/fundamentals/metrics (public_metrics; non_public_metrics and
organic_metrics only for the authenticated user's own posts of the last 30 days)
https://docs.x.com/x-api/posts/create-post (POST /2/tweets: text, reply.in_reply_to_tweet_id,
quote_tweet_id, media.media_ids; 201 {"data": {"id", "text"}})
https://docs.x.com/x-api/posts/delete-post , https://docs.x.com/x-api/users/like-post
https://docs.x.com/x-api/media/media-upload (POST /2/media/upload, media_category)
https://docs.x.com/x-api/posts/search-recent-posts (query conversation_id:ID)
https://docs.x.com/x-api/fundamentals/rate-limits (x-rate-limit-limit/-remaining/-reset)
https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code (PKCE, basic auth
for confidential clients, refresh tokens with offline.access)
https://docs.x.com/x-api/fundamentals/response-codes-and-errors (problem JSON: title, detail, type)
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import Injected, json_body
from .oauth import OAuthProvider
from .youtube import token_error

CLIENT_ID = "sandbox-x-client"
CLIENT_SECRET = "sandbox-x-secret"
SCOPES = {
    "tweet.read",
    "tweet.write",
    "users.read",
    "like.read",
    "like.write",
    "offline.access",
    "media.write",
}
TWEET_FIELDS = {
    "id",
    "text",
    "created_at",
    "author_id",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "public_metrics",
    "non_public_metrics",
    "organic_metrics",
    "attachments",
    "entities",
    "lang",
    "edit_history_tweet_ids",
}
#: endpoint -> (requests per window, window seconds) for a user token (rate-limits page)
LIMITS = {
    "users.tweets": (900, 900),
    "tweets.lookup": (900, 900),
    "tweets.create": (100, 900),
    "tweets.delete": (50, 900),
    "users.likes": (200, 900),
    "users.me": (75, 900),
    "search.recent": (300, 900),
    "media.upload": (500, 900),
}


def problem(status: int, title: str, detail: str, kind: str = "about:blank", **extra) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "type": kind, "status": status, **extra}, status_code=status
    )


def invalid(message: str, parameter: str, value: str) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status_code=400,
    )


def _bad_id(value: str) -> JSONResponse | None:
    """The reference's answer to a path id that is not a numeric id (None for a good one)."""
    if re.fullmatch(r"\d{1,19}", value):
        return None
    return invalid(f"The `id` query parameter value [{value}] does not match ^[0-9]{{1,19}}$", "id", value)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class XState:
    now: datetime
    users: dict[str, dict] = field(default_factory=dict)
    tweets: dict[str, dict] = field(default_factory=dict)
    likes: set[tuple[str, str]] = field(default_factory=set)
    media: dict[str, dict] = field(default_factory=dict)
    limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(LIMITS))
    windows: dict[tuple[str, str], list[float]] = field(
        default_factory=dict
    )  # (endpoint, user) -> [reset, used]
    faults: Injected = field(default_factory=Injected)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1860000000000000000
    oauth: OAuthProvider | None = None

    @classmethod
    def build(cls, seed: int = 7, now: datetime | None = None) -> XState:
        rng = random.Random(seed)
        st = cls(now=datetime.now(UTC))
        st.users = {
            "1500000000000000001": {
                "id": "1500000000000000001",
                "username": "postpulse_demo",
                "name": "postpulse demo",
                "followers_count": 1234,
            },
            "1500000000000000002": {
                "id": "1500000000000000002",
                "username": "a_follower",
                "name": "A follower",
                "followers_count": 56,
            },
        }
        ours = "1500000000000000001"
        for i in range(12):
            created = st.now - timedelta(
                days=4 * i + 1, hours=rng.randint(0, 12)
            )  # the last ones: > 30 days old
            tid = st._new_id()
            impressions = rng.randint(500, 20_000)
            st.tweets[tid] = {
                "id": tid,
                "text": f"Post {i + 1} from the demo account #sandbox",
                "author_id": ours,
                "conversation_id": tid,
                "created_at": created,
                "public_metrics": {
                    "retweet_count": rng.randint(0, 40),
                    "reply_count": 0,
                    "like_count": rng.randint(0, 400),
                    "quote_count": rng.randint(0, 9),
                    "bookmark_count": rng.randint(0, 30),
                    "impression_count": impressions,
                },
                "non_public_metrics": {
                    "impression_count": impressions,
                    "url_link_clicks": rng.randint(0, 50),
                    "user_profile_clicks": rng.randint(0, 30),
                },
            }
            for j in range(rng.randint(0, 2)):
                rid = st._new_id()
                st.tweets[rid] = {
                    "id": rid,
                    "text": f"@postpulse_demo reply {j + 1}",
                    "author_id": "1500000000000000002",
                    "conversation_id": tid,
                    "in_reply_to_user_id": ours,
                    "created_at": created + timedelta(hours=j + 1),
                    "referenced_tweets": [{"type": "replied_to", "id": tid}],
                    "public_metrics": {
                        "retweet_count": 0,
                        "reply_count": 0,
                        "like_count": j,
                        "quote_count": 0,
                        "bookmark_count": 0,
                        "impression_count": 10,
                    },
                }
                st.tweets[tid]["public_metrics"]["reply_count"] += 1
        st.oauth = OAuthProvider(
            "x",
            CLIENT_ID,
            CLIENT_SECRET,
            users={ours: "@postpulse_demo"},
            known_scopes=SCOPES,
            error=token_error,
            ttl_s=7200,
            rotate_refresh=True,
        )
        return st

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)


class XApi:
    def __init__(self, state: XState) -> None:
        self.st = state

    def _auth(self, request: Request, endpoint: str, scopes: set[str]):
        """``(grant, None, headers)`` or ``(None, error, headers)``; counts the rate-limit window."""
        grant, problem_kind = self.st.oauth.check(request)
        headers: dict[str, str] = {}
        if grant is None:
            return None, problem(401, "Unauthorized", "Unauthorized"), headers
        limit, window = self.st.limits[endpoint]
        with self.st.lock:
            slot = self.st.windows.get((endpoint, grant.user_id))
            now = time.time()
            if slot is None or slot[0] <= now:
                slot = [now + window, 0]
                self.st.windows[(endpoint, grant.user_id)] = slot
            slot[1] += 1
            remaining = max(0, limit - int(slot[1]))
            headers = {
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": str(remaining),
                "x-rate-limit-reset": str(int(slot[0]) + (0 if slot[0] == int(slot[0]) else 1)),
            }
            over = slot[1] > limit
        if over:
            return None, problem(429, "Too Many Requests", "Too Many Requests"), headers
        status = self.st.faults.take(endpoint)
        if status:
            return (
                None,
                problem(status, "Service Unavailable" if status >= 500 else "Error", "Service Unavailable"),
                headers,
            )
        missing = scopes - grant.scopes
        if missing:
            return (
                None,
                problem(
                    403,
                    "Forbidden",
                    f"Missing scopes: {' '.join(sorted(missing))}",
                    "https://api.twitter.com/2/problems/client-forbidden",
                    reason="client-not-enrolled",
                ),
                headers,
            )
        return grant, None, headers

    @staticmethod
    def _with(resp: Response, headers: dict[str, str]) -> Response:
        resp.headers.update(headers)
        return resp

    def _render(self, t: dict, fields: set[str], viewer: str | None) -> tuple[dict, dict | None]:
        out = {"id": t["id"], "text": t["text"], "edit_history_tweet_ids": [t["id"]]}
        error = None
        for f in fields:
            if f == "created_at":
                out[f] = _iso(t["created_at"])
            elif f in ("non_public_metrics", "organic_metrics"):
                own = viewer == t["author_id"] and "non_public_metrics" in t
                fresh = datetime.now(UTC) - t["created_at"] <= timedelta(days=30)
                if own and fresh:
                    npm = t["non_public_metrics"]
                    out[f] = (
                        npm
                        if f == "non_public_metrics"
                        else {
                            "impression_count": npm["impression_count"],
                            "like_count": t["public_metrics"]["like_count"],
                            "reply_count": t["public_metrics"]["reply_count"],
                            "retweet_count": t["public_metrics"]["retweet_count"],
                            "user_profile_clicks": npm["user_profile_clicks"],
                            "url_link_clicks": npm["url_link_clicks"],
                        }
                    )
                elif error is None:
                    error = {
                        "value": t["id"],
                        "detail": f"Sorry, you are not authorized to access '{f}' on the Tweet "
                        f"with ids: [{t['id']}] (only the author's posts of the last 30 days).",
                        "title": "Field Authorization Error",
                        "resource_type": "tweet",
                        "parameter": f,
                        "resource_id": t["id"],
                        "field": f,
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                    }
            elif f in t:
                out[f] = t[f]
        return out, error

    def _fields(self, request: Request) -> set[str] | JSONResponse:
        raw = request.query_params.get("tweet.fields", "")
        fields = {f for f in raw.split(",") if f}
        bad = fields - TWEET_FIELDS
        if bad:
            return invalid(
                f"The `tweet.fields` query parameter value [{sorted(bad)[0]}] is not one of "
                f"[{','.join(sorted(TWEET_FIELDS))}]",
                "tweet.fields",
                sorted(bad)[0],
            )
        return fields

    async def me(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "users.me", {"users.read"})
        if err:
            return self._with(err, headers)
        u = self.st.users[grant.user_id]
        data = {"id": u["id"], "name": u["name"], "username": u["username"]}
        if "public_metrics" in request.query_params.get("user.fields", ""):
            data["public_metrics"] = {
                "followers_count": u["followers_count"],
                "following_count": 10,
                "tweet_count": sum(t["author_id"] == u["id"] for t in self.st.tweets.values()),
                "listed_count": 0,
            }
        return self._with(JSONResponse({"data": data}), headers)

    async def user_tweets(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "users.tweets", {"tweet.read", "users.read"})
        if err:
            return self._with(err, headers)
        uid = request.path_params["id"]
        if bad := _bad_id(uid):
            return self._with(bad, headers)
        raw = request.query_params.get("max_results", "10")
        if not raw.isdigit() or not 5 <= int(raw) <= 100:
            return self._with(
                invalid(
                    f"The `max_results` query parameter value [{raw}] is not between 5 and 100",
                    "max_results",
                    raw,
                ),
                headers,
            )
        fields = self._fields(request)
        if isinstance(fields, Response):
            return self._with(fields, headers)
        if uid not in self.st.users:
            return self._with(
                JSONResponse(
                    {
                        "errors": [
                            {
                                "value": uid,
                                "detail": f"Could not find user with id: [{uid}].",
                                "title": "Not Found Error",
                                "resource_type": "user",
                                "parameter": "id",
                                "resource_id": uid,
                                "type": "https://api.twitter.com/2/problems/resource-not-found",
                            }
                        ]
                    }
                ),
                headers,
            )
        exclude = request.query_params.get("exclude", "")
        timeline = sorted(
            (
                t
                for t in self.st.tweets.values()
                if t["author_id"] == uid and not ("replies" in exclude and t.get("in_reply_to_user_id"))
            ),
            key=lambda t: int(t["id"]),
            reverse=True,
        )
        token = request.query_params.get("pagination_token")
        start = 0
        if token:
            idx = [i for i, t in enumerate(timeline) if f"pt{t['id']}" == token]
            if not idx:
                return self._with(
                    invalid(
                        f"The `pagination_token` query parameter value [{token}] is not valid",
                        "pagination_token",
                        token,
                    ),
                    headers,
                )
            start = idx[0]
        size = int(raw)
        page = timeline[start : start + size]
        data, errors = [], []
        for t in page:
            item, error = self._render(t, fields, grant.user_id)
            data.append(item)
            if error:
                errors.append(error)
        meta = {"result_count": len(data)}
        if data:
            meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
        if start + size < len(timeline):
            meta["next_token"] = f"pt{timeline[start + size]['id']}"
        body = {"data": data, "meta": meta} if data else {"meta": meta}
        if errors:
            body["errors"] = errors
        return self._with(JSONResponse(body), headers)

    async def lookup(self, request: Request) -> Response:
        """GET /2/tweets/:id, with ``expansions=author_id`` the author in ``includes.users``; an
        unknown id is a 200 with a "Not Found Error", as the reference answers."""
        grant, err, headers = self._auth(request, "tweets.lookup", {"tweet.read", "users.read"})
        if err:
            return self._with(err, headers)
        tid = request.path_params["id"]
        if bad := _bad_id(tid):
            return self._with(bad, headers)
        fields = self._fields(request)
        if isinstance(fields, JSONResponse):
            return self._with(fields, headers)
        tweet = self.st.tweets.get(tid)
        if tweet is None:
            missing = {
                "value": tid,
                "detail": f"Could not find tweet with id: [{tid}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": tid,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
            return self._with(JSONResponse({"errors": [missing]}), headers)
        data, _ = self._render(tweet, fields | {"author_id"}, grant.user_id)
        body: dict = {"data": data}
        if "author_id" in request.query_params.get("expansions", "").split(","):
            u = self.st.users.get(tweet["author_id"], {})
            user = {"id": u.get("id"), "name": u.get("name"), "username": u.get("username")}
            body["includes"] = {"users": [user]}
        return self._with(JSONResponse(body), headers)

    async def search_recent(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "search.recent", {"tweet.read", "users.read"})
        if err:
            return self._with(err, headers)
        query = request.query_params.get("query", "")
        m = re.fullmatch(r"conversation_id:(\d+)", query.strip())
        if not m:
            return self._with(
                invalid("The sandbox answers conversation_id:ID queries only", "query", query), headers
            )
        fields = self._fields(request)
        if isinstance(fields, Response):
            return self._with(fields, headers)
        found = sorted(
            (
                t
                for t in self.st.tweets.values()
                if t["conversation_id"] == m.group(1) and t["id"] != m.group(1)
            ),
            key=lambda t: int(t["id"]),
            reverse=True,
        )
        data = [self._render(t, fields | {"author_id"}, grant.user_id)[0] for t in found]
        users = [
            {"id": u["id"], "username": u["username"], "name": u["name"]}
            for u in self.st.users.values()
            if any(t["author_id"] == u["id"] for t in found)
        ]
        body = {"meta": {"result_count": len(data)}}
        if data:
            body.update(data=data, includes={"users": users})
        return self._with(JSONResponse(body), headers)

    async def create(self, request: Request) -> Response:
        grant, err, headers = self._auth(
            request, "tweets.create", {"tweet.read", "tweet.write", "users.read"}
        )
        if err:
            return self._with(err, headers)
        body = await json_body(request)
        if body is None:
            return self._with(problem(400, "Invalid Request", "The request body is not valid JSON."), headers)
        text = body.get("text")
        media_ids = (body.get("media") or {}).get("media_ids") or []
        if not text and not media_ids:
            return self._with(invalid("$.text: one of text or media is required", "text", ""), headers)
        if text and len(text) > 280:
            return self._with(
                problem(
                    403,
                    "Forbidden",
                    "You are not permitted to create a Tweet longer than 280 characters.",
                    "about:blank",
                ),
                headers,
            )
        for mid in media_ids:
            if mid not in self.st.media or self.st.media[mid]["owner"] != grant.user_id:
                return self._with(
                    invalid(f"Your media IDs are invalid: [{mid}]", "media.media_ids", mid), headers
                )
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        quote = body.get("quote_tweet_id")
        for ref in (reply_to, quote):
            if ref and ref not in self.st.tweets:
                return self._with(
                    problem(
                        403,
                        "Forbidden",
                        "You attempted to reply to a Tweet that is deleted or not visible to you.",
                        "about:blank",
                    ),
                    headers,
                )
        if text and any(
            t["author_id"] == grant.user_id and t["text"] == text and not reply_to
            for t in self.st.tweets.values()
        ):
            return self._with(
                problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."),
                headers,
            )
        with self.st.lock:
            tid = self.st._new_id()
            parent = self.st.tweets.get(reply_to) if reply_to else None
            tweet = {
                "id": tid,
                "text": text or "",
                "author_id": grant.user_id,
                "conversation_id": parent["conversation_id"] if parent else tid,
                "created_at": datetime.now(UTC),
                "public_metrics": {
                    "retweet_count": 0,
                    "reply_count": 0,
                    "like_count": 0,
                    "quote_count": 0,
                    "bookmark_count": 0,
                    "impression_count": 0,
                },
                "non_public_metrics": {"impression_count": 0, "url_link_clicks": 0, "user_profile_clicks": 0},
            }
            refs = []
            if parent:
                tweet["in_reply_to_user_id"] = parent["author_id"]
                refs.append({"type": "replied_to", "id": reply_to})
                parent["public_metrics"]["reply_count"] += 1
            if quote:
                refs.append({"type": "quoted", "id": quote})
                self.st.tweets[quote]["public_metrics"]["quote_count"] += 1
            if refs:
                tweet["referenced_tweets"] = refs
            if media_ids:
                tweet["attachments"] = {"media_keys": [self.st.media[m]["media_key"] for m in media_ids]}
            self.st.tweets[tid] = tweet
        return self._with(
            JSONResponse(
                {"data": {"id": tid, "text": tweet["text"], "edit_history_tweet_ids": [tid]}}, status_code=201
            ),
            headers,
        )

    async def delete(self, request: Request) -> Response:
        grant, err, headers = self._auth(
            request, "tweets.delete", {"tweet.read", "tweet.write", "users.read"}
        )
        if err:
            return self._with(err, headers)
        tid = request.path_params["id"]
        tweet = self.st.tweets.get(tid)
        if tweet is None:
            return self._with(
                JSONResponse(
                    {
                        "errors": [
                            {
                                "value": tid,
                                "detail": f"Could not find tweet with id: [{tid}].",
                                "title": "Not Found Error",
                                "resource_type": "tweet",
                                "parameter": "id",
                                "resource_id": tid,
                                "type": "https://api.twitter.com/2/problems/resource-not-found",
                            }
                        ]
                    }
                ),
                headers,
            )
        if tweet["author_id"] != grant.user_id:
            return self._with(
                problem(403, "Forbidden", "You are not authorized to delete this Tweet."), headers
            )
        with self.st.lock:
            del self.st.tweets[tid]
        return self._with(JSONResponse({"data": {"deleted": True}}), headers)

    async def like(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "users.likes", {"tweet.read", "users.read", "like.write"})
        if err:
            return self._with(err, headers)
        if request.path_params["id"] != grant.user_id:
            return self._with(
                problem(403, "Forbidden", "You are not permitted to perform this action."), headers
            )
        body = await json_body(request) or {}
        tid = body.get("tweet_id")
        if not tid:
            return self._with(invalid("$.tweet_id: is missing but it is required", "tweet_id", ""), headers)
        tweet = self.st.tweets.get(tid)
        if tweet is None:
            return self._with(
                problem(400, "Invalid Request", f"The tweet_id {tid} does not exist (deleted)."), headers
            )
        with self.st.lock:
            if (grant.user_id, tid) not in self.st.likes:
                self.st.likes.add((grant.user_id, tid))
                tweet["public_metrics"]["like_count"] += 1
        return self._with(JSONResponse({"data": {"liked": True}}), headers)

    async def media_upload(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "media.upload", {"media.write"})
        if err:
            return self._with(err, headers)
        form = await request.form()
        upload = form.get("media")
        category = form.get("media_category")
        if upload is None or not hasattr(upload, "read"):
            return self._with(invalid("media is required (multipart file)", "media", ""), headers)
        if category not in ("tweet_image", "tweet_gif", "tweet_video", "dm_image", "subtitles"):
            return self._with(
                invalid(f"media_category [{category}] is not valid", "media_category", str(category)), headers
            )
        data = await upload.read()
        if not data:
            return self._with(invalid("media is empty", "media", ""), headers)
        if category == "tweet_image" and len(data) > 5 * 1024 * 1024:
            return self._with(invalid("Images must be at most 5 MB", "media", str(len(data))), headers)
        mid = self.st._new_id()
        self.st.media[mid] = {"owner": grant.user_id, "media_key": f"3_{mid}", "size": len(data)}
        return self._with(
            JSONResponse(
                {
                    "data": {
                        "id": mid,
                        "media_key": f"3_{mid}",
                        "size": len(data),
                        "expires_after_secs": 86400,
                        "image": {"image_type": upload.content_type or "image/png"},
                    }
                }
            ),
            headers,
        )

    def routes(self) -> list[Route]:
        st = self.st
        return [
            Route("/i/oauth2/authorize", st.oauth.authorize, methods=["GET", "POST"]),
            Route("/2/oauth2/token", st.oauth.token, methods=["POST"]),
            Route("/2/users/me", self.me),
            Route("/2/users/{id}/tweets", self.user_tweets),
            Route("/2/users/{id}/likes", self.like, methods=["POST"]),
            Route("/2/tweets/search/recent", self.search_recent),
            Route("/2/tweets", self.create, methods=["POST"]),
            Route("/2/tweets/{id}", self.delete, methods=["DELETE"]),
            Route("/2/tweets/{id}", self.lookup, methods=["GET"]),
            Route("/2/media/upload", self.media_upload, methods=["POST"]),
        ]
