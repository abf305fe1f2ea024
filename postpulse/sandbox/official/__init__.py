"""Emulations of the platforms' official APIs, mounted into the sandbox app.

Each platform lives under ``/official/<platform>`` with the same paths as the real API host
(and its OAuth consent/token endpoints on the same mount), so a connector points at the
sandbox with only ``POSTPULSE_<PLATFORM>_API_URL=http://127.0.0.1:PORT/official/<platform>``.
The state (``app.state.official``) carries test hooks: ``oauth.expire_all()``, ``oauth.revoke()``,
``faults.arm(endpoint, status=..., times=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.routing import Mount

from .instagram import InstagramApi, InstagramState
from .linkedin import LinkedInApi, LinkedInState
from .x import XApi, XState
from .youtube import YouTubeApi, YouTubeState


@dataclass
class OfficialApis:
    youtube: YouTubeState
    x: XState
    instagram: InstagramState
    linkedin: LinkedInState

    @classmethod
    def build(cls, seed: int = 7, now: datetime | None = None) -> OfficialApis:
        return cls(
            youtube=YouTubeState.build(seed, now),
            x=XState.build(seed, now),
            instagram=InstagramState.build(seed),
            linkedin=LinkedInState.build(seed),
        )

    def routes(self) -> list[Mount]:
        return [
            Mount("/official/youtube", routes=YouTubeApi(self.youtube).routes()),
            Mount("/official/x", routes=XApi(self.x).routes()),
            Mount("/official/instagram", routes=InstagramApi(self.instagram, "/official/instagram").routes()),
            Mount("/official/linkedin", routes=LinkedInApi(self.linkedin).routes()),
        ]


def mount_official(app_state, seed: int = 7, now: datetime | None = None) -> list[Mount]:
    """Build the emulations, keep them on ``app_state.official`` and return their mounts."""
    app_state.official = OfficialApis.build(seed, now)
    return app_state.official.routes()
