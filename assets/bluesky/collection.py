"""The Bluesky collection as an asset: our connected accounts' posts, replies and profile
counts, the watched profiles' feeds, one download run per materialization."""

import dagster as dg

from assets.ingest.metadata import run_metadata
from postpulse.bluesky.accounts import bluesky_accounts
from postpulse.bluesky.collect import collect, watched_profiles
from postpulse.errors import PostpulseError
from resources.bluesky import BlueskyResource
from resources.store import PostgresStore


class BlueskyCollectConfig(dg.Config):
    search: str | None = None
    limit: int = 100
    pages: int = 5


@dg.asset(
    group_name="bluesky",
    kinds={"bluesky", "postgres"},
    description="Bluesky posts of our connected accounts and watched profiles (profiles.is_tracked), "
    "with their replies (as comments) and profile counts, read from the AppView and loaded like an "
    "import: one download run, snapshots in data_downloads, check-backs on. Calls land in api_usage.",
)
def bluesky_posts(
    context: dg.AssetExecutionContext,
    config: BlueskyCollectConfig,
    store: PostgresStore,
    bluesky: BlueskyResource,
) -> dg.MaterializeResult:
    engine = store.engine()
    with engine.connect() as conn:
        accounts = bluesky_accounts(conn)
        watched = watched_profiles(conn)
    actors = list(dict.fromkeys([a["did"] for a in accounts] + watched))
    if not actors and not config.search:
        return dg.MaterializeResult(
            metadata={"skipped": dg.MetadataValue.text("no connected Bluesky account and no watched profile")}
        )
    try:
        with bluesky.appview() as appview:
            res = collect(
                engine,
                appview,
                actors=actors,
                search=config.search,
                limit=config.limit,
                pages=config.pages,
                dagster_run_id=context.run_id,
            )
    except PostpulseError as exc:
        raise dg.Failure(description=f"Bluesky collection failed, nothing stored: {exc}") from None
    context.log.info(res.message)
    md = run_metadata(res.import_result)
    md.update(
        {
            "appview": dg.MetadataValue.url(bluesky.resolved_url()),
            "accounts": dg.MetadataValue.int(len(accounts)),
            "watched_profiles": dg.MetadataValue.int(len(watched)),
            "posts": dg.MetadataValue.int(res.posts),
            "replies": dg.MetadataValue.int(res.replies),
            "api_calls": dg.MetadataValue.int(res.calls),
            "notes": dg.MetadataValue.text("; ".join(res.notes) or "-"),
            "dagster/row_count": dg.MetadataValue.int(res.posts),
            "preview": dg.MetadataValue.md(res.import_result.preview_markdown()),
        }
    )
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(asset=bluesky_posts, description="Every connected Bluesky account has a usable session.")
def bluesky_sessions_ok(store: PostgresStore) -> dg.AssetCheckResult:
    from sqlalchemy import text

    with store.engine().connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT username FROM accounts WHERE platform = 'bluesky' AND is_active "
                    "AND (needs_relogin OR session_encrypted IS NULL) ORDER BY username"
                )
            )
            .scalars()
            .all()
        )
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "needs_connect": dg.MetadataValue.text(", ".join(rows) or "-"),
            "fix": dg.MetadataValue.text("postpulse accounts connect bluesky --handle HANDLE"),
        },
    )
