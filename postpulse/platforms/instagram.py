"""Instagram Graph API (professional accounts, through Facebook Login): our media with insights
(reach, saves, shares, views; impressions for older media) and comments, publishing through
media containers (single images and carousels, with status polling), comment replies.

Reference: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media,
.../ig-media/insights, .../ig-user/media_publish, .../ig-container (status_code),
.../ig-comment/replies, https://developers.facebook.com/docs/graph-api/overview/rate-limiting and
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived.

Meta issues no refresh tokens: the short-lived token of the consent is exchanged for a
long-lived one (60 days), which is exchanged again a week before it expires. A token that did
expire cannot be renewed: the account is marked for reconnection. Instagram fetches images from
public URLs, so ``publish`` takes image URLs. Usage is reported in percent
(``X-Business-Use-Case-Usage``); calls pause from 90 % on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .base import Connector, OAuthSpec, comment_record, post_record
from .errors import (
    ApiError,
    InvalidRequest,
    NotFound,
    PublishFailed,
    RateLimited,
    ServerError,
    TokenExpired,
    TokenRevoked,
)
from .http import ApiSettings, Window

VERSION = "v21.0"
SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",
    "pages_show_list",
    "pages_read_engagement",
)
MEDIA_FIELDS = (
    "id,caption,media_type,media_product_type,timestamp,permalink,like_count,comments_count,media_url"
)
METRICS = ("reach", "saved", "likes", "comments", "shares", "views", "total_interactions")
IMPRESSIONS_UNTIL = datetime(2024, 7, 2, tzinfo=UTC)  # no impressions for media created later
THROTTLE_CODES = {4, 17, 32, 613, 80001, 80002}
POLLS = 10
POLL_INTERVAL_S = 2.0


def _dt(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z") if value else None
    except ValueError:
        return None


class InstagramConnector(Connector):
    platform = "instagram"
    default_api_url = "https://graph.facebook.com"
    api_prefix = f"/{VERSION}"
    oauth = OAuthSpec(
        authorize_url=f"https://www.facebook.com/{VERSION}/dialog/oauth",
        token_url=f"https://graph.facebook.com/{VERSION}/oauth/access_token",
        scopes=SCOPES,
        scope_sep=",",
    )
    actions = ("publish", "reply")
    poll_interval_s = POLL_INTERVAL_S

    def tune(self, settings: ApiSettings) -> None:
        settings.refresh_margin_s = 7 * 24 * 3600  # exchange the 60-day token a week before it ends
        settings.reserve = 10  # percent of the hourly usage kept in hand

    def refresher(self):
        def exchange(session) -> dict:
            s = session.settings
            resp = session.send(  # recorded like any call
                "GET",
                s.token_url,
                endpoint="oauth.exchange",
                params={
                    "grant_type": "fb_exchange_token",
                    "client_id": s.client_id,
                    "client_secret": s.client_secret,
                    "fb_exchange_token": session.tokens.access_token,
                },
            )
            if resp.status_code >= 400:
                err = self.classify(resp)
                raise TokenRevoked(
                    f"Instagram could not renew the token ({err.message})",
                    fix="run `postpulse accounts connect instagram` (expired Meta tokens cannot be renewed)",
                    status=resp.status_code,
                )
            return resp.json()

        return exchange

    def exchange_code(self, code: str, verifier: str, redirect_uri: str):
        super().exchange_code(code, verifier, redirect_uri)
        return self.session.refresh()  # the short-lived token -> a long-lived one

    def read_limits(self, resp: httpx.Response) -> Window | None:
        raw = resp.headers.get("x-business-use-case-usage")
        if not raw:
            return None
        try:
            entries = [e for v in json.loads(raw).values() for e in v]
        except (ValueError, AttributeError, TypeError):
            return None
        if not entries:
            return None
        pct = max(
            max(e.get("call_count", 0), e.get("total_cputime", 0), e.get("total_time", 0)) for e in entries
        )
        regain = max(e.get("estimated_time_to_regain_access", 0) for e in entries)
        reset = datetime.now(UTC) + timedelta(minutes=max(regain, 1)) if pct >= 90 else None
        return Window(100, max(0, 100 - pct), reset)

    def classify(self, resp: httpx.Response) -> ApiError:
        try:
            err = resp.json().get("error") or {}
        except (ValueError, AttributeError):
            err = {}
        if isinstance(err, str):
            err = {"message": err}
        code, sub, msg = err.get("code"), err.get("error_subcode"), err.get("message") or resp.reason_phrase
        status = resp.status_code
        where = f"Instagram {resp.request.url.path.rsplit('/', 1)[-1]}"
        if code == 190:
            if sub == 463:
                return TokenExpired(f"{where}: the access token expired", status=status)
            return TokenRevoked(
                f"{where}: access was revoked ({msg})",
                fix="run `postpulse accounts connect instagram`",
                status=status,
            )
        if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
            return TokenRevoked(
                f"{where}: a permission postpulse needs is missing ({msg})",
                fix="run `postpulse accounts connect instagram` and allow every permission",
                status=status,
            )
        if code in THROTTLE_CODES or status == 429:
            return RateLimited(
                f"{where}: Instagram's rate limit is reached ({msg})",
                retry_after=None,
                fix="nothing was lost; run it again in an hour",
                status=status,
            )
        if code in (1, 2) or status >= 500:
            return ServerError(f"{where}: Instagram had a temporary error ({msg})", status=status)
        if code == 100 and sub == 33:
            return NotFound(f"{where}: {msg}", status=status)
        if code == 9007:
            return PublishFailed(f"{where}: the media container is not ready ({msg})", status=status)
        return InvalidRequest(f"{where}: {msg}", status=status)

    # ------------------------------------------------------------------ reads
    def me(self) -> dict:
        body = self.call(
            "GET",
            "/me/accounts",
            endpoint="me.accounts",
            params={"fields": "name,instagram_business_account{id,username,followers_count}"},
        )
        for page in body.get("data") or []:
            ig = page.get("instagram_business_account")
            if ig:
                return {
                    "id": ig["id"],
                    "username": ig["username"],
                    "display_name": page.get("name"),
                    "followers": ig.get("followers_count"),
                    "meta": {"page_id": page["id"]},
                }
        raise InvalidRequest(
            "none of the Facebook Pages you allowed has an Instagram professional account",
            fix="link the Instagram business or creator account to a Page, then connect again",
        )

    def _ig(self) -> str:
        return self.meta.get("user_id") or self.me()["id"]

    def media(self, limit: int) -> list[dict]:
        out: list[dict] = []
        after = None
        while len(out) < limit:
            params = {"fields": MEDIA_FIELDS, "limit": min(100, limit - len(out))}
            if after:
                params["after"] = after
            body = self.call(
                "GET",
                f"/{self._ig()}/media",
                endpoint="ig_user.media",
                params=params,
                count=lambda b: len(b.get("data") or []),
            )
            out += body.get("data") or []
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
        return out[:limit]

    def insights(self, media: dict) -> tuple[dict[str, Any], list[str]]:
        metrics = list(METRICS)
        posted = _dt(media.get("timestamp"))
        if posted and posted < IMPRESSIONS_UNTIL:
            metrics.append("impressions")
        notes: list[str] = []
        for _ in range(2):
            try:
                body = self.call(
                    "GET",
                    f"/{media['id']}/insights",
                    endpoint="ig_media.insights",
                    params={"metric": ",".join(metrics)},
                )
                break
            except InvalidRequest as exc:
                # the metric the answer names first (it may name a replacement after it)
                named = sorted((exc.message.find(m), m) for m in metrics if m in exc.message)
                if not named:
                    raise
                dropped = [named[0][1]]
                # a metric this API version or media does not have: collect the others, say which
                metrics = [m for m in metrics if m not in dropped]
                notes.append(f"{media['id']}: {', '.join(dropped)} not available ({exc.message})")
        values = {d["name"]: (d.get("values") or [{}])[0].get("value") for d in body.get("data") or []}
        return values, notes

    def comments(self, post_id: str) -> list[dict]:
        body = self.call(
            "GET",
            f"/{post_id}/comments",
            endpoint="ig_media.comments",
            params={
                "fields": "id,text,timestamp,username,like_count,from,"
                "replies{id,text,timestamp,username,like_count}"
            },
            count=lambda b: len(b.get("data") or []),
        )
        out = []
        for c in body.get("data") or []:
            replies = [
                comment_record(
                    comment_id=r["id"],
                    text=r.get("text"),
                    posted_at=r.get("timestamp"),
                    author={"username": r.get("username")},
                    likes=r.get("like_count"),
                    parent_id=c["id"],
                )
                for r in (c.get("replies") or {}).get("data", [])
            ]
            out.append(
                comment_record(
                    comment_id=c["id"],
                    text=c.get("text"),
                    posted_at=c.get("timestamp"),
                    author={"id": (c.get("from") or {}).get("id"), "username": c.get("username")},
                    likes=c.get("like_count"),
                    replies=replies,
                )
            )
        return out

    def collect_posts(self, limit: int = 50) -> list[dict]:
        self.notes: list[str] = []
        out = []
        for m in self.media(limit):
            ins, notes = self.insights(m)
            self.notes += notes
            out.append(
                post_record(
                    "instagram",
                    post_id=m["id"],
                    url=m.get("permalink"),
                    text=m.get("caption"),
                    posted_at=m.get("timestamp"),
                    author={
                        "id": self.meta.get("user_id"),
                        "username": self.meta.get("username"),
                        "url": f"https://www.instagram.com/{self.meta.get('username')}/",
                    },
                    metrics={
                        "likes": m.get("like_count"),
                        "comments": m.get("comments_count"),
                        "reach": ins.get("reach"),
                        "saves": ins.get("saved"),
                        "shares": ins.get("shares"),
                        "views": ins.get("views"),
                        "impressions": ins.get("impressions"),
                    },
                    post_type=(m.get("media_product_type") or "").lower() or None,
                    media=[
                        {
                            "type": "video" if m.get("media_type") == "VIDEO" else "image",
                            "url": m.get("media_url"),
                        }
                    ],
                    comments=self.comments(m["id"]) if m.get("comments_count") else [],
                    insights={
                        "media_type": m.get("media_type"),
                        "total_interactions": ins.get("total_interactions"),
                    },
                )
            )
        return out

    # ------------------------------------------------------------------ writes
    def _container(self, **params) -> str:
        return self.call("POST", f"/{self._ig()}/media", endpoint="ig_user.media.create", data=params)["id"]

    def wait_finished(self, container: str) -> None:
        """Poll the container until FINISHED; ERROR, EXPIRED or still IN_PROGRESS -> PublishFailed."""
        status = {}
        for i in range(POLLS):
            status = self.call(
                "GET",
                f"/{container}",
                endpoint="ig_container.status",
                params={"fields": "status_code,status"},
            )
            code = status.get("status_code")
            if code == "FINISHED":
                return
            if code in ("ERROR", "EXPIRED"):
                raise PublishFailed(
                    f"Instagram could not process the media (container {container}: {code}, "
                    f"{status.get('status') or 'no detail'}); nothing was published",
                    fix="check that the image URLs are public JPEG/PNG files and publish again",
                )
            if i < POLLS - 1:
                self.session.wait(self.poll_interval_s)  # the session's (injectable) sleep
        raise PublishFailed(
            f"Instagram is still processing container {container} after {POLLS} checks; "
            "nothing was published",
            fix="publish again later (containers expire after 24 hours)",
        )

    def publish(self, text: str, media: list[str] | None = None, **opts) -> dict:  # noqa: ARG002
        urls = list(media or [])
        if not urls:
            raise InvalidRequest("an Instagram post needs at least one image")
        local = [u for u in urls if not u.startswith(("http://", "https://"))]
        if local:
            raise InvalidRequest(
                f"Instagram fetches images from public URLs; {local[0]} is a local file",
                fix="upload the image somewhere public (your CDN, a bucket) and pass its URL",
            )
        if len(urls) > 10:
            raise InvalidRequest("an Instagram carousel takes at most 10 items")
        if len(urls) == 1:
            container = self._container(image_url=urls[0], caption=text)
        else:
            children = [self._container(image_url=u, is_carousel_item="true") for u in urls]
            for child in children:
                self.wait_finished(child)
            container = self._container(media_type="CAROUSEL", children=",".join(children), caption=text)
        self.wait_finished(container)
        mid = self.call(
            "POST",
            f"/{self._ig()}/media_publish",
            endpoint="ig_user.media_publish",
            data={"creation_id": container},
        )["id"]
        link = self.call("GET", f"/{mid}", endpoint="ig_media.get", params={"fields": "permalink"})
        return {"id": mid, "url": link.get("permalink"), "container": container}

    def reply(self, target_id: str, text: str, *, post_id: str | None = None) -> dict:  # noqa: ARG002
        body = self.call(
            "POST", f"/{target_id}/replies", endpoint="ig_comment.replies", data={"message": text}
        )
        return {"id": body["id"], "parent_id": target_id}

    def delete(self, post_id: str) -> dict:
        raise InvalidRequest(f"the Instagram Graph API cannot delete posts ({post_id}); delete it in the app")
