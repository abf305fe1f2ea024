"""The sandbox platform (postpulse's local social site) as a Dagster resource."""

import os

import dagster as dg

from postpulse.ingest.sandbox_source import DEFAULT_SANDBOX_TOKEN


class SandboxResource(dg.ConfigurableResource):
    """Where the sandbox runs. ``base_url`` defaults to ``POSTPULSE_SANDBOX_URL`` (set by
    ``postpulse up`` unless ``--no-sandbox``); without it the sandbox source stays idle."""

    base_url: str | None = None
    apify_token: str = DEFAULT_SANDBOX_TOKEN

    def url(self) -> str | None:
        value = self.base_url or os.environ.get("POSTPULSE_SANDBOX_URL", "").strip()
        return value.rstrip("/") if value else None
