"""LinkedIn Community Management API: our organization's posts with share statistics
(impressions, unique impressions as reach, clicks, likes, comments, shares) and comments,
posts with an image, comment replies, likes (reactions), deletes.

Reference: https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api,
.../shares/images-api, .../shares/comments-api, .../organizations/share-statistics,
.../organizations/organization-access-control-by-role, https://learn.microsoft.com/en-us/linkedin/marketing/versioning
and https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits.

Every call carries ``LinkedIn-Version`` (``POSTPULSE_LINKEDIN_VERSION``, default: last month's
version; LinkedIn keeps versions active for a year) and ``X-Restli-Protocol-Version: 2.0.0``.
LinkedIn sends no rate-limit headers: its limits are per day (reset at midnight UTC) and a 429
stops the collection.
"""

from __future__ import annotations

import mimetypes
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

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

SCOPES = ("r_basicprofile", "r_organization_social", "w_organization_social", "rw_organization_admin")


def default_version(today: datetime | None = None) -> str:
    today = today or datetime.now(UTC)
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year}{month:02d}"


def _iso_ms(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


class LinkedInConnector(Connector):
    platform = "linkedin"
    default_api_url = "https://api.linkedin.com"
    oauth = OAuthSpec(
        authorize_url="https://www.linkedin.com/oauth/v2/authorization",
        token_url="https://www.linkedin.com/oauth/v2/accessToken",
        scopes=SCOPES,
    )
    actions = ("publish", "reply", "like", "delete_post")

    def extra_headers(self) -> dict[str, str]:
        self.version = os.environ.get("POSTPULSE_LINKEDIN_VERSION") or default_version()
        return {"LinkedIn-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"}

    def classify(self, resp: httpx.Response) -> ApiError:
        body = error_body(resp)
        status = resp.status_code
        if isinstance(body.get("error"), str):  # the token endpoint
            return TokenRevoked(
                f"LinkedIn refused the token: {body['error']} ({body.get('error_description', '')})",
                status=status,
            )
        code, msg = body.get("code") or "", body.get("message") or resp.reason_phrase
        where = f"LinkedIn {resp.request.url.path.split('/rest/')[-1].split('/')[0]}"
        if status == 401:
            if code == "EXPIRED_ACCESS_TOKEN":
                return TokenExpired(f"{where}: the access token expired", status=status)
            return TokenRevoked(
                f"{where}: the access token is no longer valid ({msg})",
                fix="run `postpulse accounts connect linkedin`",
                status=status,
            )
        if status == 403 and code == "ACCESS_DENIED":
            return TokenRevoked(
                f"{where}: a permission postpulse needs is missing ({msg})",
                fix="run `postpulse accounts connect linkedin` as an administrator of the page",
                status=status,
            )
        if status == 426 or code in ("NONEXISTENT_VERSION", "VERSION_MISSING"):
            return InvalidRequest(
                f"{where}: LinkedIn-Version {self.version} is not accepted ({msg})",
                fix="set POSTPULSE_LINKEDIN_VERSION to a version of the last 12 months (YYYYMM)",
                status=status,
            )
        if status == 429:
            return RateLimited(
                f"{where}: LinkedIn's daily limit is reached ({msg})",
                retry_after=None,
                fix="nothing was lost; the limits reset at midnight UTC",
                status=status,
            )
        if status >= 500:
            return ServerError(f"{where}: LinkedIn answered {status} ({msg})", status=status)
        if status == 404:
            return NotFound(f"{where}: {msg} (deleted?)", status=status)
        return InvalidRequest(f"{where}: {msg}", status=status)

    # ------------------------------------------------------------------ reads
    def me(self) -> dict:
        acls = self.call(
            "GET",
            "/rest/organizationAcls",
            endpoint="organizationAcls",
            params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
        )
        orgs = [e["organization"] for e in acls.get("elements") or [] if e.get("state") == "APPROVED"]
        if not orgs:
            raise InvalidRequest(
                "this LinkedIn member administers no organization page",
                fix="connect with a member who is an administrator of the company page",
            )
        urn = orgs[0]
        org = self.call("GET", f"/rest/organizations/{urn.rsplit(':', 1)[-1]}", endpoint="organizations")
        size = self.call(
            "GET",
            f"/rest/networkSizes/{quote(urn, safe='')}",
            endpoint="networkSizes",
            params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
        )
        return {
            "id": urn,
            "username": org.get("vanityName") or str(org["id"]),
            "display_name": org.get("localizedName"),
            "followers": size.get("firstDegreeSize"),
        }

    def _org(self) -> str:
        return self.meta.get("user_id") or self.me()["id"]

    def posts(self, limit: int) -> list[dict]:
        out: list[dict] = []
        start = 0
        while len(out) < limit:
            count = min(100, limit - len(out))
            body = self.call(
                "GET",
                "/rest/posts",
                endpoint="posts.list",
                params={
                    "q": "author",
                    "author": self._org(),
                    "count": count,
                    "start": start,
                    "sortBy": "LAST_MODIFIED",
                },
                count=lambda b: len(b.get("elements") or []),
            )
            elements = body.get("elements") or []
            out += elements
            start += len(elements)
            if not elements or start >= (body.get("paging") or {}).get("total", 0):
                break
        return out[:limit]

    def statistics(self, urns: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for i in range(0, len(urns), 20):
            batch = urns[i : i + 20]
            shares = [u for u in batch if ":share:" in u]
            ugc = [u for u in batch if ":ugcPost:" in u]
            params = {"q": "organizationalEntity", "organizationalEntity": self._org()}
            if shares:
                params["shares"] = f"List({','.join(shares)})"
            if ugc:
                params["ugcPosts"] = f"List({','.join(ugc)})"
            body = self.call(
                "GET",
                "/rest/organizationalEntityShareStatistics",
                endpoint="organizationalEntityShareStatistics",
                params=params,
                count=lambda b: len(b.get("elements") or []),
            )
            for e in body.get("elements") or []:
                out[e.get("share") or e.get("ugcPost")] = e.get("totalShareStatistics") or {}
        return out

    def comments(self, post_id: str) -> list[dict]:
        body = self.call(
            "GET",
            f"/rest/socialActions/{quote(post_id, safe='')}/comments",
            endpoint="socialActions.comments",
            count=lambda b: len(b.get("elements") or []),
        )
        top: dict[str, dict] = {}
        replies = []
        for c in body.get("elements") or []:
            rec = comment_record(
                comment_id=c.get("$URN") or c["id"],
                text=(c.get("message") or {}).get("text"),
                posted_at=_iso_ms((c.get("created") or {}).get("time")),
                author={"id": c.get("actor"), "username": c.get("actor")},
                likes=(c.get("likesSummary") or {}).get("totalLikes"),
                parent_id=c.get("parentComment"),
            )
            if c.get("parentComment"):
                replies.append(rec)
            else:
                top[rec["id"]] = rec
        for r in replies:
            if r["parent_id"] in top:
                top[r["parent_id"]]["replies"].append(r)
        return list(top.values())

    def collect_posts(self, limit: int = 50) -> list[dict]:
        posts = self.posts(limit)
        stats = self.statistics([p["id"] for p in posts])
        self.notes = []
        if posts and stats and all("uniqueImpressionsCount" not in s for s in stats.values()):
            self.notes.append(
                f"LinkedIn-Version {self.version} gives no unique impressions: reach stays unknown"
            )
        out = []
        for p in posts:
            s = stats.get(p["id"], {})
            out.append(
                post_record(
                    "linkedin",
                    post_id=p["id"],
                    url=f"https://www.linkedin.com/feed/update/{p['id']}/",
                    text=p.get("commentary"),
                    posted_at=_iso_ms(p.get("publishedAt") or p.get("createdAt")),
                    author={
                        "id": self._org(),
                        "username": self.meta.get("username"),
                        "url": f"https://www.linkedin.com/company/{self.meta.get('username')}/",
                    },
                    metrics={
                        "likes": s.get("likeCount"),
                        "comments": s.get("commentCount"),
                        "shares": s.get("shareCount"),
                        "impressions": s.get("impressionCount"),
                        "reach": s.get("uniqueImpressionsCount"),
                        "clicks": s.get("clickCount"),
                    },
                    post_type="post",
                    comments=self.comments(p["id"]) if s.get("commentCount") else [],
                    insights={"engagement": s.get("engagement")},
                )
            )
        return out

    # ------------------------------------------------------------------ writes
    def upload_image(self, path: Path) -> str:
        mime = mimetypes.guess_type(path.name)[0] or ""
        if mime not in ("image/png", "image/jpeg", "image/gif"):
            raise InvalidRequest(
                f"{path.name}: LinkedIn takes PNG, JPEG or GIF images (got {mime or 'unknown'})"
            )
        init = self.call(
            "POST",
            "/rest/images",
            endpoint="images.initializeUpload",
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": self._org()}},
        )["value"]
        self.call(
            "PUT",
            init["uploadUrl"],
            endpoint="images.upload",
            content=path.read_bytes(),
            headers={"Content-Type": mime},
        )
        return init["image"]

    def publish(self, text: str, media: list[str] | None = None, **opts) -> dict:
        files = [Path(m) for m in media or []]
        if len(files) > 1:
            raise InvalidRequest("postpulse publishes at most one image per LinkedIn post")
        payload = {
            "author": self._org(),
            "commentary": text,
            "visibility": opts.get("visibility", "PUBLIC"),
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if files:
            payload["content"] = {
                "media": {"id": self.upload_image(files[0]), "altText": opts.get("alt", "")}
            }
        self.call("POST", "/rest/posts", endpoint="posts.create", json=payload)
        urn = self.session.last_headers.get("x-restli-id")  # 201 Created, the id in a header
        return {"id": urn, "url": f"https://www.linkedin.com/feed/update/{urn}/"}

    def reply(self, target_id: str, text: str, *, post_id: str | None = None) -> dict:
        """``target_id``: a comment URN (``urn:li:comment:(urn:li:activity:N,M)``, with ``post_id``
        the post it is on) or a post URN (a top-level comment)."""
        body = {"actor": self._org(), "message": {"text": text}, "object": post_id or target_id}
        if target_id.startswith("urn:li:comment:"):
            if not post_id:
                raise InvalidRequest(
                    "a LinkedIn comment reply needs the post it belongs to",
                    fix="give the post URN (the action's post_ref)",
                )
            body["parentComment"] = target_id
        created = self.call(
            "POST",
            f"/rest/socialActions/{quote(target_id, safe='')}/comments",
            endpoint="socialActions.comments.create",
            json=body,
        )
        return {"id": created.get("$URN") or created.get("id"), "parent_id": target_id}

    def like(self, post_id: str) -> dict:
        self.call(
            "POST",
            "/rest/reactions",
            endpoint="reactions.create",
            params={"actor": self._org()},
            json={"root": post_id, "reactionType": "LIKE"},
        )
        return {"id": post_id, "liked": True}

    def delete(self, post_id: str) -> dict:
        self.call("DELETE", f"/rest/posts/{quote(post_id, safe='')}", endpoint="posts.delete")
        return {"id": post_id, "deleted": True}
