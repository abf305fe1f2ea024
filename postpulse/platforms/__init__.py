"""Connectors for the platforms' official APIs (OAuth 2.0 with PKCE, insights, publishing).

``CONNECTORS`` maps a platform to its connector class (``module:Class``, imported on use).
"""

from __future__ import annotations

import importlib

CONNECTORS: dict[str, str] = {
    "youtube": "postpulse.platforms.youtube:YouTubeConnector",
    "x": "postpulse.platforms.x:XConnector",
    "instagram": "postpulse.platforms.instagram:InstagramConnector",
    "linkedin": "postpulse.platforms.linkedin:LinkedInConnector",
}


def connector_class(platform: str):
    from .errors import NotConfigured

    ref = CONNECTORS.get(platform.strip().lower())
    if ref is None:
        raise NotConfigured(
            f"no official API connector for {platform!r}",
            fix=f"use one of {', '.join(sorted(CONNECTORS))}",
        )
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
