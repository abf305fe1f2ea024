"""Instagram Graph API emulation (Instagram API with Facebook Login, ``/v21.0/...``) and the
Facebook Login OAuth endpoints (``/v21.0/dialog/oauth``, ``/v21.0/oauth/access_token``).

Shapes, parameters and errors follow the reference:
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
(GET: fields, cursor paging; POST: image_url / video_url / is_carousel_item / CAROUSEL children)
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
(status_code: EXPIRED, ERROR, FINISHED, IN_PROGRESS, PUBLISHED)
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/insights
(reach, saved, likes, comments, shares, views, total_interactions; ``impressions`` is not
available for media created after 2024-07-02 and was removed in v22.0)
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies
https://developers.facebook.com/docs/graph-api/overview/rate-limiting (X-Business-Use-Case-Usage)
https://developers.facebook.com/docs/graph-api/guides/error-handling (code 190 / subcodes 463, 458;
code 10 and 200 permissions; code 100 invalid parameter; code 4, 80002 throttling)
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
(fb_exchange_token: long-lived user tokens of 60 days, no refresh tokens)
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import Injected
from .oauth import OAuthProvider

VERSION = "v21.0"
CLIENT_ID = "1234567890123456"
CLIENT_SECRET = "sandbox-instagram-secret"
SCOPES = {
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
}
IG_USER = "17841400000000001"
PAGE_ID = "100000000000001"
MEDIA_FIELDS = {
    "id",
    "caption",
    "media_type",
    "media_product_type",
    "media_url",
    "permalink",
    "thumbnail_url",
    "timestamp",
    "username",
    "like_count",
    "comments_count",
    "shortcode",
    "is_comment_enabled",
    "owner",
}
METRICS = {
    "reach",
    "saved",
    "likes",
    "comments",
    "shares",
    "views",
    "total_interactions",
    "impressions",
    "follows",
    "profile_visits",
}
IMPRESSIONS_CUTOFF = datetime(2024, 7, 2, tzinfo=UTC)
LONG_TTL = 60 * 24 * 3600
SHORT_TTL = 2 * 3600


def fb_error(status: int, message: str, code: int, subcode: int | None = None, kind: str = "OAuthException"):
    err = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(9)}
    if subcode:
        err["error_subcode"] = subcode
    return JSONResponse({"error": err}, status_code=status)


def token_error(status: int, code: str, description: str) -> JSONResponse:
    return fb_error(
        400 if status < 500 else status,
        f"Error validating verification code: {description} ({code})",
        100,
        36007,
    )


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class InstagramState:
    media: dict[str, dict] = field(default_factory=dict)
    comments: dict[str, list[dict]] = field(default_factory=dict)  # media id -> top-level comments
    containers: dict[str, dict] = field(default_factory=dict)
    polls_to_finish: int = 2  # a container is FINISHED at its second status check
    stuck_next: bool = False  # the next container stays IN_PROGRESS, then ends in ERROR
    usage_pct: int = 0  # X-Business-Use-Case-Usage call_count reported (and raised per call)
    usage_step: int = 0
    faults: Injected = field(default_factory=Injected)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 17900000000000000
    oauth: OAuthProvider | None = None

    @classmethod
    def build(cls, seed: int = 7) -> InstagramState:
        rng = random.Random(seed)
        st = cls()
        now = datetime.now(UTC)
        for i, (kind, product) in enumerate(
            [
                ("IMAGE", "FEED"),
                ("CAROUSEL_ALBUM", "FEED"),
                ("VIDEO", "REELS"),
                ("IMAGE", "FEED"),
                ("IMAGE", "FEED"),
            ]
        ):
            posted = now - timedelta(days=9 * i + 2) if i < 4 else datetime(2024, 3, 1, 12, tzinfo=UTC)
            mid = st._new_id()
            reach = rng.randint(300, 9000)
            st.media[mid] = {
                "id": mid,
                "caption": f"Sandbox post {i + 1} #agency",
                "media_type": kind,
                "media_product_type": product,
                "timestamp": posted,
                "username": "postpulse.demo",
                "permalink": f"https://www.instagram.com/p/SBX{mid[-6:]}/",
                "shortcode": f"SBX{mid[-6:]}",
                "media_url": f"https://scontent.cdninstagram.com/{mid}.jpg",
                "like_count": rng.randint(10, 900),
                "comments_count": 0,
                "is_comment_enabled": True,
                "owner": {"id": IG_USER},
                "insights": {
                    "reach": reach,
                    "saved": rng.randint(0, 80),
                    "shares": rng.randint(0, 40),
                    "views": reach + rng.randint(0, 4000),
                    "impressions": reach + rng.randint(0, 3000),
                    "follows": rng.randint(0, 5),
                    "profile_visits": rng.randint(0, 50),
                },
            }
            st.comments[mid] = []
            for j in range(rng.randint(1, 3)):
                cid = st._new_id()
                st.comments[mid].append(
                    {
                        "id": cid,
                        "text": f"Great shot {j + 1}!",
                        "username": f"fan_{j}",
                        "from": {"id": f"178414{j:011d}", "username": f"fan_{j}"},
                        "timestamp": posted + timedelta(hours=j + 1),
                        "like_count": j,
                        "replies": [],
                    }
                )
            st.media[mid]["comments_count"] = len(st.comments[mid])
        st.oauth = OAuthProvider(
            "instagram",
            CLIENT_ID,
            CLIENT_SECRET,
            users={PAGE_ID: "postpulse demo (Page)"},
            known_scopes=SCOPES,
            error=token_error,
            ttl_s=SHORT_TTL,
            scope_sep=",",
            issue_refresh=False,
        )
        return st

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)


class InstagramApi:
    def __init__(self, state: InstagramState, base_path: str) -> None:
        self.st = state
        self.base_path = base_path

    # ------------------------------------------------------------------ helpers
    def _usage_headers(self) -> dict[str, str]:
        with self.st.lock:
            self.st.usage_pct = min(100, self.st.usage_pct + self.st.usage_step)
            pct = self.st.usage_pct
        body = {
            IG_USER: [
                {
                    "type": "instagram",
                    "call_count": pct,
                    "total_cputime": max(1, pct // 2),
                    "total_time": max(1, pct // 2),
                    "estimated_time_to_regain_access": 0 if pct < 100 else 1,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(body, separators=(",", ":"))}

    def _auth(self, request: Request, endpoint: str, permission: str | None):
        headers = self._usage_headers()
        grant, problem = self.st.oauth.check(request)
        if grant is None:
            if problem == "expired":
                return (
                    None,
                    fb_error(401, "Error validating access token: Session has expired.", 190, 463),
                    headers,
                )
            return None, fb_error(401, "Invalid OAuth access token - Cannot parse access token", 190), headers
        if self.st.usage_pct >= 100:
            return (
                None,
                fb_error(
                    400,
                    "There have been too many calls to this Instagram account. Wait a bit and try again.",
                    80002,
                    kind="OAuthException",
                ),
                headers,
            )
        status = self.st.faults.take(endpoint)
        if status:
            return (
                None,
                fb_error(
                    status,
                    "An unexpected error has occurred. Please retry your request later.",
                    2,
                    kind="OAuthException",
                ),
                headers,
            )
        if permission and permission not in grant.scopes:
            return (
                None,
                fb_error(
                    403, f"(#10) Application does not have permission for this action ({permission})", 10
                ),
                headers,
            )
        return grant, None, headers

    @staticmethod
    def _with(resp: Response, headers: dict[str, str]) -> Response:
        resp.headers.update(headers)
        return resp

    @staticmethod
    def _missing(oid: str) -> JSONResponse:
        return fb_error(
            400,
            f"Unsupported get request. Object with ID '{oid}' does not exist, cannot be loaded due "
            "to missing permissions, or does not support this operation.",
            100,
            33,
            kind="GraphMethodException",
        )

    def _render(self, m: dict, fields: set[str]) -> dict:
        out = {"id": m["id"]}
        for f in fields:
            if f == "timestamp":
                out[f] = _iso(m["timestamp"])
            elif f in m and f != "insights":
                out[f] = m[f]
        return out

    async def _params(self, request: Request) -> dict:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
        return params

    # ------------------------------------------------------------------ token endpoint
    async def access_token(self, request: Request) -> Response:
        params = await self._params(request)
        if params.get("grant_type") != "fb_exchange_token":
            return await self.st.oauth.token(request)
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            return fb_error(400, "Error validating application. Invalid application ID.", 101)
        grant = self.st.oauth.grants.get(params.get("fb_exchange_token", ""))
        if grant is None or grant.revoked:
            return fb_error(
                400, "Error validating access token: The user has not authorized application.", 190, 458
            )
        if grant.expires_at <= time.time():
            return fb_error(400, "Error validating access token: Session has expired.", 190, 463)
        with self.st.oauth.lock:
            body = self.st.oauth.issue(grant, with_refresh=False)
            grant.expires_at = time.time() + LONG_TTL
        return JSONResponse(
            {"access_token": body["access_token"], "token_type": "bearer", "expires_in": LONG_TTL}
        )

    # ------------------------------------------------------------------ reads
    async def me_accounts(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "me.accounts", "pages_show_list")
        if err:
            return self._with(err, headers)
        return self._with(
            JSONResponse(
                {
                    "data": [
                        {
                            "id": PAGE_ID,
                            "name": "postpulse demo",
                            "instagram_business_account": {
                                "id": IG_USER,
                                "username": "postpulse.demo",
                                "followers_count": 4321,
                            },
                        }
                    ],
                    "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}},
                }
            ),
            headers,
        )

    async def user_media(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create_container(request)
        grant, err, headers = self._auth(request, "ig_user.media", "instagram_basic")
        if err:
            return self._with(err, headers)
        if request.path_params["ig_user_id"] != IG_USER:
            return self._with(self._missing(request.path_params["ig_user_id"]), headers)
        fields = {f for f in request.query_params.get("fields", "id").split(",") if f}
        bad = fields - MEDIA_FIELDS
        if bad:
            return self._with(
                fb_error(
                    400,
                    f"(#100) Tried accessing nonexisting field ({sorted(bad)[0]}) on node type (IGMedia)",
                    100,
                ),
                headers,
            )
        raw = request.query_params.get("limit", "25")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            return self._with(
                fb_error(400, "(#100) The parameter limit must be between 1 and 100", 100), headers
            )
        items = sorted(self.st.media.values(), key=lambda m: m["timestamp"], reverse=True)
        after = request.query_params.get("after")
        start = 0
        if after:
            idx = [i for i, m in enumerate(items) if f"c{m['id']}" == after]
            if not idx:
                return self._with(fb_error(400, "(#100) Invalid cursor", 100), headers)
            start = idx[0] + 1
        page = items[start : start + int(raw)]
        body = {"data": [self._render(m, fields) for m in page]}
        if page:
            body["paging"] = {"cursors": {"before": f"c{page[0]['id']}", "after": f"c{page[-1]['id']}"}}
            if start + len(page) < len(items):
                body["paging"]["next"] = (
                    f"{request.base_url}{self.base_path.lstrip('/')}/{VERSION}/{IG_USER}/media"
                    f"?fields={','.join(sorted(fields))}&limit={raw}&after=c{page[-1]['id']}"
                )
        return self._with(JSONResponse(body), headers)

    async def insights(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "ig_media.insights", "instagram_manage_insights")
        if err:
            return self._with(err, headers)
        mid = request.path_params["media_id"]
        m = self.st.media.get(mid)
        if m is None:
            return self._with(self._missing(mid), headers)
        metrics = [x for x in request.query_params.get("metric", "").split(",") if x]
        if not metrics:
            return self._with(fb_error(400, "(#100) The parameter metric is required", 100), headers)
        bad = [x for x in metrics if x not in METRICS]
        if bad:
            return self._with(
                fb_error(
                    400,
                    f"(#100) metric[{metrics.index(bad[0])}] must be one of the following "
                    f"values: {', '.join(sorted(METRICS - {'impressions'}))}",
                    100,
                ),
                headers,
            )
        if "impressions" in metrics and m["timestamp"] >= IMPRESSIONS_CUTOFF:
            return self._with(
                fb_error(
                    400,
                    "(#100) The impressions metric is no longer supported for media created "
                    "after July 2, 2024; use views",
                    100,
                    2108006,
                ),
                headers,
            )
        data = []
        for name in metrics:
            value = {
                "likes": m["like_count"],
                "comments": m["comments_count"],
                "total_interactions": m["like_count"]
                + m["comments_count"]
                + m["insights"]["saved"]
                + m["insights"]["shares"],
            }.get(name, m["insights"].get(name))
            data.append(
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": value}],
                    "title": name.replace("_", " ").title(),
                    "description": f"The media's {name}",
                    "id": f"{mid}/insights/{name}/lifetime",
                }
            )
        return self._with(JSONResponse({"data": data}), headers)

    async def comments(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "ig_media.comments", "instagram_manage_comments")
        if err:
            return self._with(err, headers)
        mid = request.path_params["media_id"]
        if mid not in self.st.media:
            return self._with(self._missing(mid), headers)
        items = []
        for c in self.st.comments.get(mid, []):
            items.append(
                {
                    "id": c["id"],
                    "text": c["text"],
                    "username": c["username"],
                    "from": c["from"],
                    "timestamp": _iso(c["timestamp"]),
                    "like_count": c["like_count"],
                    "replies": {
                        "data": [
                            {
                                "id": r["id"],
                                "text": r["text"],
                                "username": r["username"],
                                "timestamp": _iso(r["timestamp"]),
                                "like_count": 0,
                            }
                            for r in c["replies"]
                        ]
                    },
                }
            )
        return self._with(
            JSONResponse({"data": items, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}}), headers
        )

    async def replies(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "ig_comment.replies", "instagram_manage_comments")
        if err:
            return self._with(err, headers)
        params = await self._params(request)
        cid = request.path_params["comment_id"]
        message = params.get("message", "")
        if not message:
            return self._with(fb_error(400, "(#100) The parameter message is required", 100), headers)
        for mid, comments in self.st.comments.items():
            for c in comments:
                if c["id"] == cid:
                    rid = self.st._new_id()
                    with self.st.lock:
                        c["replies"].append(
                            {
                                "id": rid,
                                "text": message,
                                "username": "postpulse.demo",
                                "timestamp": datetime.now(UTC),
                            }
                        )
                        self.st.media[mid]["comments_count"] += 1
                    return self._with(JSONResponse({"id": rid}), headers)
        return self._with(
            fb_error(
                400,
                f"Unsupported post request. Object with ID '{cid}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                100,
                33,
                kind="GraphMethodException",
            ),
            headers,
        )

    # ------------------------------------------------------------------ publishing
    async def create_container(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "ig_user.media.create", "instagram_content_publish")
        if err:
            return self._with(err, headers)
        p = await self._params(request)
        kind = p.get("media_type", "IMAGE")
        if kind == "CAROUSEL":
            children = [c for c in p.get("children", "").split(",") if c]
            if not 2 <= len(children) <= 10:
                return self._with(
                    fb_error(400, "(#100) The carousel must have between 2 and 10 children", 100, 2207036),
                    headers,
                )
            for c in children:
                child = self.st.containers.get(c)
                if child is None or not child.get("is_carousel_item"):
                    return self._with(
                        fb_error(
                            400,
                            f"(#100) Invalid child container {c} (create it with is_carousel_item=true)",
                            100,
                            2207038,
                        ),
                        headers,
                    )
        elif kind in ("IMAGE",) or (kind == "" and p.get("image_url")):
            url = p.get("image_url", "")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not re.search(r"\.(jpe?g|png)$|/media/", parts.path):
                return self._with(
                    fb_error(
                        400,
                        "(#9004) The media could not be fetched from this uri: "
                        f"{url or '(missing image_url)'}",
                        9004,
                        2207052,
                    ),
                    headers,
                )
        elif kind in ("REELS", "VIDEO"):
            if not p.get("video_url"):
                return self._with(fb_error(400, "(#100) The parameter video_url is required", 100), headers)
        else:
            return self._with(fb_error(400, f"(#100) media_type {kind} is not supported", 100), headers)
        cid = self.st._new_id()
        with self.st.lock:
            self.st.containers[cid] = {
                "id": cid,
                "kind": kind,
                "caption": p.get("caption", ""),
                "polls": 0,
                "is_carousel_item": p.get("is_carousel_item") == "true",
                "children": p.get("children", ""),
                "stuck": self.st.stuck_next,
                "status_code": "IN_PROGRESS",
                "image_url": p.get("image_url"),
            }
            self.st.stuck_next = False
        return self._with(JSONResponse({"id": cid}), headers)

    def _advance(self, c: dict) -> None:
        c["polls"] += 1
        if c["status_code"] != "IN_PROGRESS":
            return
        if c["stuck"]:
            if c["polls"] >= 3:
                c["status_code"] = "ERROR"
        elif c["polls"] >= self.st.polls_to_finish:
            c["status_code"] = "FINISHED"

    async def node(self, request: Request) -> Response:
        """``GET /{id}?fields=status_code,status`` for a container (or a media object)."""
        grant, err, headers = self._auth(request, "node", "instagram_basic")
        if err:
            return self._with(err, headers)
        oid = request.path_params["node_id"]
        c = self.st.containers.get(oid)
        if c is not None:
            with self.st.lock:
                self._advance(c)
            status = {
                "IN_PROGRESS": "In Progress",
                "FINISHED": "Finished",
                "PUBLISHED": "Published",
                "ERROR": "Error: Media upload has failed with error code 2207026",
            }[c["status_code"]]
            return self._with(
                JSONResponse({"status_code": c["status_code"], "status": status, "id": oid}), headers
            )
        m = self.st.media.get(oid)
        if m is None:
            return self._with(self._missing(oid), headers)
        fields = {f for f in request.query_params.get("fields", "id").split(",") if f} & MEDIA_FIELDS
        return self._with(JSONResponse(self._render(m, fields)), headers)

    async def media_publish(self, request: Request) -> Response:
        grant, err, headers = self._auth(request, "ig_user.media_publish", "instagram_content_publish")
        if err:
            return self._with(err, headers)
        p = await self._params(request)
        c = self.st.containers.get(p.get("creation_id", ""))
        if c is None:
            return self._with(self._missing(p.get("creation_id", "")), headers)
        if c["status_code"] != "FINISHED":
            return self._with(fb_error(400, "Media ID is not available", 9007, 2207027), headers)
        mid = self.st._new_id()
        kind = {"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO"}.get(c["kind"], "IMAGE")
        with self.st.lock:
            c["status_code"] = "PUBLISHED"
            self.st.media[mid] = {
                "id": mid,
                "caption": c["caption"],
                "media_type": kind,
                "media_product_type": "REELS" if c["kind"] == "REELS" else "FEED",
                "timestamp": datetime.now(UTC),
                "username": "postpulse.demo",
                "permalink": f"https://www.instagram.com/p/SBX{mid[-6:]}/",
                "shortcode": f"SBX{mid[-6:]}",
                "media_url": c.get("image_url"),
                "like_count": 0,
                "comments_count": 0,
                "is_comment_enabled": True,
                "owner": {"id": IG_USER},
                "children": c["children"],
                "insights": {
                    "reach": 0,
                    "saved": 0,
                    "shares": 0,
                    "views": 0,
                    "impressions": 0,
                    "follows": 0,
                    "profile_visits": 0,
                },
            }
            self.st.comments[mid] = []
        return self._with(JSONResponse({"id": mid}), headers)

    def routes(self) -> list[Route]:
        v = f"/{VERSION}"
        return [
            Route(f"{v}/dialog/oauth", self.st.oauth.authorize, methods=["GET", "POST"]),
            Route(f"{v}/oauth/access_token", self.access_token, methods=["GET", "POST"]),
            Route(f"{v}/me/accounts", self.me_accounts),
            Route(f"{v}/{{ig_user_id}}/media", self.user_media, methods=["GET", "POST"]),
            Route(f"{v}/{{ig_user_id}}/media_publish", self.media_publish, methods=["POST"]),
            Route(f"{v}/{{media_id}}/insights", self.insights),
            Route(f"{v}/{{media_id}}/comments", self.comments),
            Route(f"{v}/{{comment_id}}/replies", self.replies, methods=["POST"]),
            Route(f"{v}/{{node_id}}", self.node),
        ]
