"""X API v2: our posts with public and non-public metrics, replies (comments) from the
conversation, posts with images, replies, quotes, likes, deletes.

Reference: https://docs.x.com/x-api/posts/get-posts-by-user, https://docs.x.com/x-api/fundamentals/metrics,
https://docs.x.com/x-api/posts/create-post, https://docs.x.com/x-api/media/media-upload,
https://docs.x.com/x-api/users/like-post, https://docs.x.com/x-api/posts/search-recent-posts,
https://docs.x.com/x-api/fundamentals/rate-limits.

``non_public_metrics`` (impressions, link and profile clicks) exist only for our own posts of the
last 30 days; for older posts X answers the post without them plus a field-authorization error,
and their impressions stay unknown (the public ``impression_count`` is used where present).
Recent search covers the last 7 days, so replies are read for the posts of the last week.
Every answer carries ``x-rate-limit-limit/-remaining/-reset``: calls slow down before a window
is used up.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from postpulse.api_usage import header_int

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
from .http import Window, epoch_to_dt, error_body, seconds_until

SCOPES = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "like.read",
    "like.write",
    "media.write",
    "offline.access",
)
TWEET_FIELDS = "created_at,public_metrics,non_public_metrics,conversation_id,attachments,referenced_tweets"
SEARCH_DAYS = 7


def _dt(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


class XConnector(Connector):
    platform = "x"
    default_api_url = "https://api.x.com"
    oauth = OAuthSpec(
        authorize_url="https://x.com/i/oauth2/authorize",
        token_url="https://api.x.com/2/oauth2/token",
        scopes=SCOPES,
        token_auth="basic",
    )
    actions = ("publish", "reply", "like", "delete_post")
    page_size = 100

    def read_limits(self, resp: httpx.Response) -> Window | None:
        limit = header_int(resp.headers, "x-rate-limit-limit")
        if limit is None:
            return None
        return Window(
            limit,
            header_int(resp.headers, "x-rate-limit-remaining"),
            epoch_to_dt(resp.headers.get("x-rate-limit-reset")),
        )

    def classify(self, resp: httpx.Response) -> ApiError:
        body = error_body(resp)
        status = resp.status_code
        if isinstance(body.get("error"), str):  # the token endpoint
            return TokenRevoked(
                f"X refused the token: {body['error']} ({body.get('error_description', '')})", status=status
            )
        detail = body.get("detail") or ((body.get("errors") or [{}])[0]).get("message") or resp.reason_phrase
        where = f"X {resp.request.method} {resp.request.url.path}"
        if status == 401:
            return TokenExpired(f"{where}: the access token expired or was revoked", status=status)
        if status == 429:
            window = self.read_limits(resp)
            wait = seconds_until(window.reset_at if window else None, 60.0)
            return RateLimited(
                f"{where}: rate limit reached; the window resets in {wait:.0f} s",
                retry_after=wait,
                fix="nothing was lost; it continues after the reset",
                status=status,
            )
        if status >= 500:
            return ServerError(
                f"{where}: X answered {status} ({detail})",
                fix="a temporary error: try again later",
                status=status,
            )
        if status == 403 and ("client-forbidden" in str(body.get("type")) or "scope" in detail.lower()):
            return TokenRevoked(
                f"{where}: a permission postpulse needs is missing ({detail})",
                fix="run `postpulse accounts connect x` and allow every requested permission",
                status=status,
            )
        if "deleted or not visible" in detail or status == 404:
            return NotFound(f"{where}: {detail}", status=status)
        return InvalidRequest(f"{where}: {detail}", status=status)

    # ------------------------------------------------------------------ reads
    def me(self) -> dict:
        data = self.call("GET", "/2/users/me", endpoint="users.me", params={"user.fields": "public_metrics"})[
            "data"
        ]
        return {
            "id": data["id"],
            "username": data["username"],
            "display_name": data.get("name"),
            "followers": (data.get("public_metrics") or {}).get("followers_count"),
        }

    def author_of(self, target_id: str) -> str | None:
        body = self.call(
            "GET",
            f"/2/tweets/{target_id}",
            endpoint="tweets.lookup",
            params={"expansions": "author_id", "user.fields": "username"},
        )
        users = (body.get("includes") or {}).get("users") or []
        return users[0].get("username") if body.get("data") and users else None

    def _user_id(self) -> str:
        return self.meta.get("user_id") or self.me()["id"]

    def collect_posts(self, limit: int = 50) -> list[dict]:
        uid = self._user_id()
        tweets: list[dict] = []
        token = None
        while len(tweets) < limit:
            params = {
                "max_results": max(5, min(self.page_size, limit - len(tweets))),
                "tweet.fields": TWEET_FIELDS,
                "exclude": "replies",
            }
            if token:
                params["pagination_token"] = token
            body = self.call(
                "GET",
                f"/2/users/{uid}/tweets",
                endpoint="users.tweets",
                params=params,
                count=lambda b: (b.get("meta") or {}).get("result_count"),
            )
            for err in body.get("errors") or []:
                if "not-found" in str(err.get("type")):
                    raise NotFound(f"X: the user {uid} no longer exists ({err.get('detail')})")
            tweets += body.get("data") or []
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        tweets = tweets[:limit]
        week_ago = datetime.now(UTC) - timedelta(days=SEARCH_DAYS)
        out = []
        for t in tweets:
            replies = (t.get("public_metrics") or {}).get("reply_count") or 0
            recent = (_dt(t.get("created_at")) or week_ago) > week_ago
            out.append(self.to_record(t, self.comments(t["id"]) if replies and recent else []))
        return out

    def comments(self, post_id: str) -> list[dict]:
        body = self.call(
            "GET",
            "/2/tweets/search/recent",
            endpoint="search.recent",
            params={
                "query": f"conversation_id:{post_id}",
                "max_results": 100,
                "tweet.fields": "created_at,public_metrics,author_id,referenced_tweets",
            },
            count=lambda b: (b.get("meta") or {}).get("result_count"),
        )
        users = {u["id"]: u for u in (body.get("includes") or {}).get("users", [])}
        out = []
        for t in body.get("data") or []:
            parent = next(
                (r["id"] for r in t.get("referenced_tweets") or [] if r["type"] == "replied_to"), None
            )
            u = users.get(t.get("author_id"), {})
            out.append(
                comment_record(
                    comment_id=t["id"],
                    text=t.get("text"),
                    posted_at=t.get("created_at"),
                    author={
                        "id": t.get("author_id"),
                        "username": u.get("username"),
                        "display_name": u.get("name"),
                    },
                    likes=(t.get("public_metrics") or {}).get("like_count"),
                    parent_id=parent if parent != post_id else None,
                )
            )
        return out

    def to_record(self, t: dict, comments: list[dict]) -> dict:
        pm, npm = t.get("public_metrics") or {}, t.get("non_public_metrics")
        username = self.meta.get("username")
        return post_record(
            "x",
            post_id=t["id"],
            url=f"https://x.com/{username or 'i'}/status/{t['id']}",
            text=t.get("text"),
            posted_at=t.get("created_at"),
            author={"id": self.meta.get("user_id"), "username": username, "url": f"https://x.com/{username}"},
            metrics={
                "likes": pm.get("like_count"),
                "comments": pm.get("reply_count"),
                "shares": pm.get("retweet_count"),
                "quotes": pm.get("quote_count"),
                "saves": pm.get("bookmark_count"),
                "impressions": (npm or {}).get("impression_count", pm.get("impression_count")),
                "clicks": (npm or {}).get("url_link_clicks"),
            },
            post_type="post",
            comments=comments,
            insights={
                "non_public_metrics": npm,
                "user_profile_clicks": (npm or {}).get("user_profile_clicks"),
            }
            if npm
            else {"non_public_metrics": None},
        )

    # ------------------------------------------------------------------ writes
    def _post(self, payload: dict) -> dict:
        data = self.call("POST", "/2/tweets", endpoint="tweets.create", json=payload)["data"]
        return {
            "id": data["id"],
            "url": f"https://x.com/{self.meta.get('username') or 'i'}/status/{data['id']}",
        }

    def upload_image(self, path: Path) -> str:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not mime.startswith("image/"):
            raise InvalidRequest(f"{path.name}: only images are uploaded to X by postpulse (got {mime})")
        body = self.call(
            "POST",
            "/2/media/upload",
            endpoint="media.upload",
            files={"media": (path.name, path.read_bytes(), mime)},
            data={"media_category": "tweet_image"},
        )
        return body["data"]["id"]

    def publish(self, text: str, media: list[str] | None = None, **opts) -> dict:
        """A post with up to 4 images; ``opts``: ``reply_to`` (post id), ``quote`` (post id)."""
        files = [Path(m) for m in media or []]
        if len(files) > 4:
            raise InvalidRequest(
                "X takes at most 4 images per post", fix="split the images over several posts"
            )
        payload: dict[str, Any] = {"text": text}
        if files:
            payload["media"] = {"media_ids": [self.upload_image(f) for f in files]}
        if opts.get("reply_to"):
            payload["reply"] = {"in_reply_to_tweet_id": str(opts["reply_to"])}
        if opts.get("quote"):
            payload["quote_tweet_id"] = str(opts["quote"])
        return self._post(payload)

    def reply(self, target_id: str, text: str, *, post_id: str | None = None) -> dict:  # noqa: ARG002
        return self._post({"text": text, "reply": {"in_reply_to_tweet_id": target_id}})

    def quote(self, target_id: str, text: str) -> dict:
        return self._post({"text": text, "quote_tweet_id": target_id})

    def like(self, post_id: str) -> dict:
        body = self.call(
            "POST", f"/2/users/{self._user_id()}/likes", endpoint="users.likes", json={"tweet_id": post_id}
        )
        return {"id": post_id, "liked": bool(body["data"]["liked"])}

    def delete(self, post_id: str) -> dict:
        body = self.call("DELETE", f"/2/tweets/{post_id}", endpoint="tweets.delete")
        if not body.get("data") and body.get("errors"):
            raise NotFound(f"X: {body['errors'][0].get('detail')}")
        return {"id": post_id, "deleted": True}
