"""Bluesky as a Dagster resource: the AppView that collection and check-backs read."""

import os

import dagster as dg

from postpulse.bluesky.appview import PUBLIC_APPVIEW, AppView


class BlueskyResource(dg.ConfigurableResource):
    """``appview_url``: ``POSTPULSE_BLUESKY_APPVIEW`` (``postpulse up --bluesky`` sets it to the
    local stack), else Bluesky's public AppView. Public data only: no token is involved."""

    appview_url: str | None = None

    def resolved_url(self) -> str:
        return (self.appview_url or os.environ.get("POSTPULSE_BLUESKY_APPVIEW") or PUBLIC_APPVIEW).rstrip("/")

    def appview(self) -> AppView:
        return AppView(self.resolved_url())
