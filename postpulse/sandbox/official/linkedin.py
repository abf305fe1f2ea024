"""LinkedIn Community Management API emulation (``/rest/...`` with ``LinkedIn-Version``) and
LinkedIn's OAuth 2.0 endpoints (``/oauth/v2/authorization``, ``/oauth/v2/accessToken``).

Shapes, parameters and errors follow the reference:
https://learn.microsoft.com/en-us/linkedin/marketing/versioning (LinkedIn-Version YYYYMM,
X-Restli-Protocol-Version 2.0.0; VERSION_MISSING 400, NONEXISTENT_VERSION 426)
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
(GET /rest/posts?q=author, POST /rest/posts -> 201 with x-restli-id, DELETE)
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api
(POST /rest/images?action=initializeUpload, PUT to uploadUrl)
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/comments-api
(GET/POST /rest/socialActions/{urn}/comments, parentComment for replies)
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/share-statistics
(organizationalEntityShareStatistics: totalShareStatistics impressionCount, uniqueImpressionsCount,
clickCount, likeCount, commentCount, shareCount, engagement)
https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-access-control-by-role
https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits (429, daily, no headers)

Versions older than 12 months are sunset (426). In this emulation, answers for versions
older than ``REACH_MONTHS`` months lack ``uniqueImpressionsCount``, standing in for a field an
older version does not have.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .common import Injected, json_body
from .oauth import OAuthProvider
from .youtube import token_error

CLIENT_ID = "86sandboxlinkedin"
CLIENT_SECRET = "sandbox-linkedin-secret"
SCOPES = {
    "r_basicprofile",
    "r_organization_social",
    "w_organization_social",
    "rw_organization_admin",
    "r_organization_admin",
}
ORG = "urn:li:organization:2414183"
MEMBER = "urn:li:person:sandboxAdmin1"
REACH_MONTHS = 6


def months_between(a: str, b: str) -> int:
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[4:]) - int(a[4:])


def li_error(
    status: int, message: str, code: str | None = None, service_code: int | None = None
) -> JSONResponse:
    body = {"status": status, "message": message}
    if code:
        body["code"] = code
    if service_code:
        body["serviceErrorCode"] = service_code
    return JSONResponse(body, status_code=status)


@dataclass
class LinkedInState:
    posts: dict[str, dict] = field(default_factory=dict)
    stats: dict[str, dict] = field(default_factory=dict)
    comments: dict[str, list[dict]] = field(default_factory=dict)  # post urn -> comments (replies nested)
    images: dict[str, dict] = field(default_factory=dict)
    reactions: set[tuple[str, str]] = field(default_factory=set)
    daily_limit: int = 100_000
    calls_today: int = 0
    faults: Injected = field(default_factory=Injected)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 7270000000000000000
    oauth: OAuthProvider | None = None

    @classmethod
    def build(cls, seed: int = 7) -> LinkedInState:
        rng = random.Random(seed)
        st = cls()
        now = datetime.now(UTC)
        for i in range(7):
            urn = f"urn:li:share:{st._new_id()}" if i % 2 else f"urn:li:ugcPost:{st._new_id()}"
            created = int((now - timedelta(days=6 * i + 1)).timestamp() * 1000)
            st.posts[urn] = {
                "id": urn,
                "author": ORG,
                "commentary": f"Company update {i + 1} #hiring",
                "visibility": "PUBLIC",
                "lifecycleState": "PUBLISHED",
                "createdAt": created,
                "publishedAt": created,
                "lastModifiedAt": created,
                "isReshareDisabledByAuthor": False,
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
            }
            impressions = rng.randint(400, 30_000)
            st.stats[urn] = {
                "impressionCount": impressions,
                "uniqueImpressionsCount": impressions * 2 // 3,
                "clickCount": rng.randint(0, 400),
                "likeCount": rng.randint(0, 300),
                "commentCount": 0,
                "shareCount": rng.randint(0, 40),
                "engagement": round(rng.random() / 10, 4),
            }
            st.comments[urn] = []
            activity = urn.replace("share", "activity").replace("ugcPost", "activity")
            for j in range(rng.randint(0, 2)):
                cid = st._new_id()
                st.comments[urn].append(
                    {
                        "id": cid,
                        "$URN": f"urn:li:comment:({activity},{cid})",
                        "actor": f"urn:li:person:fan{j}",
                        "object": urn,
                        "message": {"text": f"Congrats team {j + 1}!"},
                        "created": {"time": created + 3_600_000 * (j + 1)},
                        "likesSummary": {"totalLikes": j},
                        "replies": [],
                    }
                )
                st.stats[urn]["commentCount"] += 1
        st.oauth = OAuthProvider(
            "linkedin",
            CLIENT_ID,
            CLIENT_SECRET,
            users={MEMBER: "Sandbox Admin (postpulse demo)"},
            known_scopes=SCOPES,
            error=token_error,
            ttl_s=60 * 24 * 3600,
        )
        return st

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)


class LinkedInApi:
    def __init__(self, state: LinkedInState) -> None:
        self.st = state

    def _check(self, request: Request, endpoint: str, scope: str | None):
        """``(grant, version, None)`` or ``(None, None, error)``."""
        grant, problem = self.st.oauth.check(request)
        if grant is None:
            return (
                None,
                None,
                li_error(
                    401,
                    "Invalid access token"
                    if problem != "expired"
                    else "The token used in the request has expired",
                    "EXPIRED_ACCESS_TOKEN" if problem == "expired" else "INVALID_ACCESS_TOKEN",
                    65600 if problem == "expired" else 65601,
                ),
            )
        version = request.headers.get("linkedin-version", "")
        if not version:
            return (
                None,
                None,
                li_error(
                    400,
                    "A version must be present. Please specify a version by adding the "
                    "LinkedIn-Version header.",
                    "VERSION_MISSING",
                ),
            )
        current = datetime.now(UTC).strftime("%Y%m")
        if (
            not re.fullmatch(r"20\d{2}(0[1-9]|1[0-2])", version)
            or version > current
            or months_between(version, current) > 12
        ):
            return (
                None,
                None,
                li_error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"),
            )
        with self.st.lock:
            self.st.calls_today += 1
            over = self.st.calls_today > self.st.daily_limit
        if over:
            return (
                None,
                None,
                li_error(
                    429,
                    "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
                    "TOO_MANY_REQUESTS",
                ),
            )
        status = self.st.faults.take(endpoint)
        if status:
            return None, None, li_error(status, "Internal Server Error" if status >= 500 else "Error")
        if scope and scope not in grant.scopes:
            return (
                None,
                None,
                li_error(
                    403, f"Not enough permissions to access: {endpoint} ({scope})", "ACCESS_DENIED", 100
                ),
            )
        return grant, version, None

    # ------------------------------------------------------------------ organization
    async def acls(self, request: Request) -> Response:
        grant, _, err = self._check(request, "organizationAcls", "rw_organization_admin")
        if err:
            return err
        if request.query_params.get("q") != "roleAssignee":
            return li_error(400, "Missing or invalid finder: q=roleAssignee", "QUERY_PARAM_NOT_ALLOWED")
        return JSONResponse(
            {
                "elements": [
                    {
                        "roleAssignee": grant.user_id,
                        "role": "ADMINISTRATOR",
                        "state": "APPROVED",
                        "organization": ORG,
                    }
                ],
                "paging": {"start": 0, "count": 10, "total": 1},
            }
        )

    async def organization(self, request: Request) -> Response:
        _, _, err = self._check(request, "organizations", "rw_organization_admin")
        if err:
            return err
        oid = request.path_params["id"]
        if f"urn:li:organization:{oid}" != ORG:
            return li_error(404, f"Organization {oid} not found", "NOT_FOUND")
        return JSONResponse(
            {"id": int(oid), "localizedName": "postpulse demo", "vanityName": "postpulse-demo"}
        )

    async def network_size(self, request: Request) -> Response:
        _, _, err = self._check(request, "networkSizes", "rw_organization_admin")
        if err:
            return err
        return JSONResponse({"firstDegreeSize": 5123})

    # ------------------------------------------------------------------ posts
    async def posts(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create_post(request)
        _, _, err = self._check(request, "posts.list", "r_organization_social")
        if err:
            return err
        q = request.query_params
        if q.get("q") != "author" or not q.get("author"):
            return li_error(400, "The finder requires q=author and author=URN", "QUERY_PARAM_NOT_ALLOWED")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return li_error(400, "Rest.li protocol version 2.0.0 is required (X-Restli-Protocol-Version)")
        count, start = q.get("count", "10"), q.get("start", "0")
        if not count.isdigit() or not 1 <= int(count) <= 100 or not start.isdigit():
            return li_error(
                400, f"Invalid paging: count={count}, start={start} (count 1-100)", "INVALID_PARAM"
            )
        author = unquote(q["author"])
        items = sorted(
            (
                p
                for p in self.st.posts.values()
                if p["author"] == author and p["lifecycleState"] == "PUBLISHED"
            ),
            key=lambda p: p["lastModifiedAt"],
            reverse=True,
        )
        page = items[int(start) : int(start) + int(count)]
        paging = {"start": int(start), "count": int(count), "total": len(items), "links": []}
        if int(start) + int(count) < len(items):
            paging["links"].append(
                {
                    "rel": "next",
                    "type": "application/json",
                    "href": f"/rest/posts?q=author&author={quote(author)}&count={count}"
                    f"&start={int(start) + int(count)}",
                }
            )
        return JSONResponse({"elements": page, "paging": paging})

    async def create_post(self, request: Request) -> Response:
        _, _, err = self._check(request, "posts.create", "w_organization_social")
        if err:
            return err
        body = await json_body(request)
        if body is None:
            return li_error(400, "The request body is not valid JSON")
        missing = [
            k
            for k in ("author", "commentary", "visibility", "distribution", "lifecycleState")
            if k not in body
        ]
        if missing:
            return li_error(
                422,
                f"/{missing[0]} :: field is required but not found and has no default value",
                "UNPROCESSABLE_ENTITY",
            )
        if body["author"] != ORG:
            return li_error(403, f"Not enough permissions to post as {body['author']}", "ACCESS_DENIED")
        media = ((body.get("content") or {}).get("media") or {}).get("id")
        if media and (media not in self.st.images or not self.st.images[media]["uploaded"]):
            return li_error(
                422, f"/content/media/id :: {media} is not an uploaded image", "UNPROCESSABLE_ENTITY"
            )
        urn = f"urn:li:share:{self.st._new_id()}"
        now = int(datetime.now(UTC).timestamp() * 1000)
        with self.st.lock:
            self.st.posts[urn] = {
                **body,
                "id": urn,
                "createdAt": now,
                "publishedAt": now,
                "lastModifiedAt": now,
            }
            self.st.stats[urn] = {
                "impressionCount": 0,
                "uniqueImpressionsCount": 0,
                "clickCount": 0,
                "likeCount": 0,
                "commentCount": 0,
                "shareCount": 0,
                "engagement": 0.0,
            }
            self.st.comments[urn] = []
        return Response(status_code=201, headers={"x-restli-id": urn, "x-linkedin-id": urn})

    async def post(self, request: Request) -> Response:
        urn = unquote(request.path_params["urn"])
        _, _, err = self._check(
            request,
            "posts.delete" if request.method == "DELETE" else "posts.get",
            "w_organization_social" if request.method == "DELETE" else "r_organization_social",
        )
        if err:
            return err
        post = self.st.posts.get(urn)
        if post is None:
            return li_error(404, f"Post {urn} does not exist", "NOT_FOUND")
        if request.method == "DELETE":
            with self.st.lock:
                del self.st.posts[urn]
                self.st.comments.pop(urn, None)
            return Response(status_code=204)
        return JSONResponse(post)

    # ------------------------------------------------------------------ images
    async def images(self, request: Request) -> Response:
        _, _, err = self._check(request, "images.initializeUpload", "w_organization_social")
        if err:
            return err
        if request.query_params.get("action") != "initializeUpload":
            return li_error(400, "action=initializeUpload is required")
        body = await json_body(request) or {}
        owner = (body.get("initializeUploadRequest") or {}).get("owner")
        if owner != ORG:
            return li_error(
                422,
                "/initializeUploadRequest/owner :: must be an organization you administer",
                "UNPROCESSABLE_ENTITY",
            )
        urn = f"urn:li:image:D4E{secrets.token_hex(6)}"
        token = secrets.token_urlsafe(12)
        self.st.images[urn] = {"token": token, "uploaded": False}
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
        return JSONResponse(
            {
                "value": {
                    "uploadUrlExpiresAt": int(datetime.now(UTC).timestamp() * 1000) + 86_400_000,
                    "uploadUrl": f"{base}/dms-uploads/{quote(urn)}?token={token}",
                    "image": urn,
                }
            }
        )

    async def upload(self, request: Request) -> Response:
        urn = unquote(request.path_params["urn"])
        img = self.st.images.get(urn)
        if img is None or request.query_params.get("token") != img["token"]:
            return li_error(403, "The upload URL is invalid or expired")
        grant, _ = self.st.oauth.check(request)
        if grant is None:
            return li_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN")
        data = await request.body()
        if not data or not (
            data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8") or data.startswith(b"GIF8")
        ):
            return li_error(400, "The upload is not a PNG, JPEG or GIF image")
        img["uploaded"] = True
        return Response(status_code=201)

    # ------------------------------------------------------------------ social actions
    async def comments(self, request: Request) -> Response:
        target = unquote(request.path_params["urn"])
        if request.method == "POST":
            return await self.create_comment(request, target)
        _, _, err = self._check(request, "socialActions.comments", "r_organization_social")
        if err:
            return err
        if target not in self.st.posts:
            return li_error(404, f"The object {target} does not exist", "NOT_FOUND", 404)
        items = [
            {k: v for k, v in c.items() if k != "replies"}
            | {"commentsSummary": {"aggregatedTotalComments": len(c["replies"])}}
            for c in self.st.comments.get(target, [])
        ]
        replies = [r for c in self.st.comments.get(target, []) for r in c["replies"]]
        return JSONResponse(
            {
                "elements": items + replies,
                "paging": {"start": 0, "count": 10, "total": len(items) + len(replies)},
            }
        )

    async def create_comment(self, request: Request, target: str) -> Response:
        _, _, err = self._check(request, "socialActions.comments.create", "w_organization_social")
        if err:
            return err
        body = await json_body(request) or {}
        text = (body.get("message") or {}).get("text")
        if not text or not body.get("actor") or not body.get("object"):
            return li_error(422, "/message/text, /actor and /object are required", "UNPROCESSABLE_ENTITY")
        post = self.st.posts.get(body["object"])
        if post is None:
            return li_error(404, f"The object {body['object']} does not exist", "NOT_FOUND", 404)
        comments = self.st.comments[body["object"]]
        parent = body.get("parentComment")
        owner = None
        if parent:
            owner = next((c for c in comments if c["$URN"] == parent), None)
            if owner is None or target != parent:
                return li_error(404, f"The comment {parent} does not exist", "NOT_FOUND", 404)
        cid = self.st._new_id()
        activity = post["id"].replace("share", "activity").replace("ugcPost", "activity")
        comment = {
            "id": cid,
            "$URN": f"urn:li:comment:({activity},{cid})",
            "actor": body["actor"],
            "object": body["object"],
            "message": {"text": text},
            "created": {"time": int(datetime.now(UTC).timestamp() * 1000)},
            "likesSummary": {"totalLikes": 0},
        }
        with self.st.lock:
            if owner is not None:
                owner["replies"].append({**comment, "parentComment": parent})
            else:
                comments.append({**comment, "replies": []})
            self.st.stats[body["object"]]["commentCount"] += 1
        return JSONResponse(comment, status_code=201, headers={"x-restli-id": comment["$URN"]})

    async def reactions(self, request: Request) -> Response:
        _, _, err = self._check(request, "reactions.create", "w_organization_social")
        if err:
            return err
        actor = unquote(request.query_params.get("actor", ""))
        body = await json_body(request) or {}
        root = body.get("root")
        if root not in self.st.posts:
            return li_error(404, f"The object {root} does not exist", "NOT_FOUND", 404)
        with self.st.lock:
            if (actor, root) not in self.st.reactions:
                self.st.reactions.add((actor, root))
                self.st.stats[root]["likeCount"] += 1
        return JSONResponse({"root": root, "reactionType": body.get("reactionType", "LIKE")}, status_code=201)

    async def share_statistics(self, request: Request) -> Response:
        _, version, err = self._check(request, "organizationalEntityShareStatistics", "rw_organization_admin")
        if err:
            return err
        q = request.query_params
        if q.get("q") != "organizationalEntity" or unquote(q.get("organizationalEntity", "")) != ORG:
            return li_error(400, "q=organizationalEntity with your organization is required", "INVALID_PARAM")
        wanted = []
        for key in ("shares", "ugcPosts"):
            raw = unquote(q.get(key, ""))
            m = re.fullmatch(r"List\((.*)\)", raw)
            if raw and not m:
                return li_error(400, f"{key} must be List(urn,...)", "INVALID_PARAM")
            wanted += [u for u in (m.group(1).split(",") if m else []) if u]
        old = months_between(version, datetime.now(UTC).strftime("%Y%m")) > REACH_MONTHS
        elements = []
        for urn in wanted:
            if urn not in self.st.stats or urn not in self.st.posts:
                continue
            stats = dict(self.st.stats[urn])
            if old:
                stats.pop("uniqueImpressionsCount")
            kind = "share" if ":share:" in urn else "ugcPost"
            elements.append({"organizationalEntity": ORG, kind: urn, "totalShareStatistics": stats})
        return JSONResponse({"elements": elements, "paging": {"start": 0, "count": len(elements)}})

    def routes(self) -> list[Route]:
        st = self.st
        return [
            Route("/oauth/v2/authorization", st.oauth.authorize, methods=["GET", "POST"]),
            Route("/oauth/v2/accessToken", st.oauth.token, methods=["POST"]),
            Route("/rest/organizationAcls", self.acls),
            Route("/rest/organizations/{id}", self.organization),
            Route("/rest/networkSizes/{urn}", self.network_size),
            Route("/rest/posts", self.posts, methods=["GET", "POST"]),
            Route("/rest/posts/{urn}", self.post, methods=["GET", "DELETE"]),
            Route("/rest/images", self.images, methods=["POST"]),
            Route("/dms-uploads/{urn}", self.upload, methods=["PUT"]),
            Route("/rest/socialActions/{urn}/comments", self.comments, methods=["GET", "POST"]),
            Route("/rest/reactions", self.reactions, methods=["POST"]),
            Route("/rest/organizationalEntityShareStatistics", self.share_statistics),
        ]
