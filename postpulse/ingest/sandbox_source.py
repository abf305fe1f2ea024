"""The demo's data source: the sandbox world's posts, pulled through the Apify connector.

Every pull runs the sandbox's Apify-style actor of one platform (empty input: every visible
post), saves the dataset as an Apify-style JSONL export under
``<POSTPULSE_HOME>/downloads/sandbox/<platform>/`` and imports it as one download run
(``source_kind='sandbox'``) with check-back tracking on, so the check-back sensor keeps each
post's metrics growing afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from postpulse import config
from postpulse.ingest.apify import ApifyClient, pull_actor
from postpulse.ingest.loader import ImportResult, import_file_as_pull

DEFAULT_SANDBOX_TOKEN = "sandbox-token"

# the sandbox's post-scraper actor of each platform (postpulse.sandbox.apify.ACTORS)
SANDBOX_ACTORS: dict[str, str] = {
    "linkedin": "apimaestro~linkedin-profile-posts",
    "instagram": "apify~instagram-scraper",
    "tiktok": "clockworks~tiktok-scraper",
    "x": "apidojo~tweet-scraper",
    "threads": "postpulse~threads-posts",
}


@dataclass
class SandboxPull:
    platform: str
    actor_id: str
    apify_run_id: str
    items: int
    path: Path
    result: ImportResult


def pull_platform(
    engine: Engine,
    platform: str,
    *,
    base_url: str,
    token: str = DEFAULT_SANDBOX_TOKEN,
    out_dir: str | os.PathLike | None = None,
    run_input: dict | None = None,
    dagster_run_id: str | None = None,
    client: ApifyClient | None = None,
    track: bool = True,
) -> SandboxPull:
    actor = SANDBOX_ACTORS.get(platform)
    if actor is None:
        raise ValueError(f"the sandbox has no platform {platform!r}; it has {', '.join(SANDBOX_ACTORS)}")
    out = Path(out_dir) if out_dir else config.data_dir() / "downloads" / "sandbox" / platform
    own = client is None
    client = client or ApifyClient(token, base_url, poll_interval=0.2)
    try:
        pulled = pull_actor(client, actor, run_input or {}, out)
    finally:
        if own:
            client.close()
    res = import_file_as_pull(
        engine,
        pulled.path,
        source_kind="sandbox",
        platform=platform,
        apify_run_id=pulled.run.id,
        actor_id=actor,
        track=track,
        dagster_run_id=dagster_run_id,
    )
    return SandboxPull(platform, actor, pulled.run.id, pulled.items, pulled.path, res)
