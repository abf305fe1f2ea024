"""Apify as a Dagster resource. The token comes from ``APIFY_TOKEN`` (an ``EnvVar``, so the UI
and the run's config only ever show the variable's name) and is never logged."""

import os

import dagster as dg

from postpulse.ingest.apify import APIFY_DEFAULT_URL, ApifyClient


class ApifyResource(dg.ConfigurableResource):
    """Apify's API (or the sandbox's Apify-style API). ``base_url``: ``APIFY_BASE_URL``, else the
    sandbox (``POSTPULSE_SANDBOX_URL``) when ``postpulse up`` runs one, else api.apify.com."""

    token: str
    base_url: str | None = None

    def resolved_base_url(self) -> str:
        return (
            self.base_url
            or os.environ.get("APIFY_BASE_URL")
            or os.environ.get("POSTPULSE_SANDBOX_URL")
            or APIFY_DEFAULT_URL
        ).rstrip("/")

    def client(self) -> ApifyClient:
        return ApifyClient(self.token, self.resolved_base_url())


def checkback_apify_client() -> ApifyClient | None:
    """Apify for check-backs, which need it only for posts outside the sandbox: optional, so the
    job runs without ``APIFY_TOKEN`` (those posts then fail softly and stay due). Same token and
    API resolution as :class:`ApifyResource`."""
    token = os.environ.get("APIFY_TOKEN", "").strip()
    return ApifyResource(token=token).client() if token else None
