"""Collection through the platforms' official APIs as an asset: every account connected with
``postpulse accounts connect PLATFORM``, one download run per account."""

import dagster as dg
from sqlalchemy import text

from assets.ingest.metadata import run_metadata
from postpulse.platforms.collect import collect_account
from postpulse.platforms.errors import ApiError
from resources.store import PostgresStore
from resources.vault import VaultResource

CONNECTED = text(
    "SELECT id, platform, username FROM accounts WHERE access_token_encrypted IS NOT NULL AND is_active "
    "AND NOT needs_relogin ORDER BY platform, username"
)


class OfficialCollectConfig(dg.Config):
    limit: int = 50


@dg.asset(
    group_name="platforms",
    kinds={"api", "postgres"},
    description="Our posts on YouTube, X, Instagram and LinkedIn read through their official APIs, with "
    "the insight metrics only owners see (reach, impressions, saves, clicks) and comments; one download "
    "run per connected account, every call in api_usage. An account that needs reconnecting is skipped "
    "and named; one failed account does not stop the others.",
)
def official_api_posts(
    context: dg.AssetExecutionContext,
    config: OfficialCollectConfig,
    store: PostgresStore,
    platforms_vault: VaultResource,
) -> dg.MaterializeResult:
    engine = store.engine()
    with engine.connect() as conn:
        accounts = conn.execute(CONNECTED).all()
    if not accounts:
        return dg.MaterializeResult(
            metadata={"skipped": dg.MetadataValue.text("no account is connected through an official API")}
        )
    vault = platforms_vault.vault()
    lines, failures, posts, last = [], [], 0, None
    for aid, platform, username in accounts:
        try:
            res = collect_account(engine, vault, aid, limit=config.limit, dagster_run_id=context.run_id)
        except ApiError as exc:
            failures.append(f"@{username} on {platform}: {exc}")
            context.log.warning(failures[-1])
            continue
        posts += res.posts
        last = res.import_result
        lines.append(
            f"| {platform} | @{username} | {res.posts} | {res.comments} | {res.calls} | {res.quota_units} |"
        )
        context.log.info(f"@{username}: {res.message}")
    md = run_metadata(last) if last is not None else {}
    md.update(
        {
            "accounts": dg.MetadataValue.int(len(accounts)),
            "failed_accounts": dg.MetadataValue.int(len(failures)),
            "dagster/row_count": dg.MetadataValue.int(posts),
            "per_account": dg.MetadataValue.md(
                "| platform | account | posts | comments | calls | quota units |\n|---|---|---|---|---|---|\n"
                + "\n".join(lines)
            ),
            "failures": dg.MetadataValue.text("; ".join(failures) or "-"),
        }
    )
    if failures and not lines:
        raise dg.Failure(description="every official-API collection failed: " + "; ".join(failures))
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(
    asset=official_api_posts, description="No connected official-API account waits for reconnection."
)
def official_api_accounts_connected(store: PostgresStore) -> dg.AssetCheckResult:
    with store.engine().connect() as conn:
        waiting = (
            conn.execute(
                text(
                    "SELECT platform || ': @' || username FROM accounts "
                    "WHERE metadata->>'connected_via' = 'oauth' AND needs_relogin ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
    return dg.AssetCheckResult(
        passed=not waiting,
        severity=dg.AssetCheckSeverity.WARN,
        description="reconnect with `postpulse accounts connect PLATFORM`: " + ", ".join(waiting)
        if waiting
        else "every connected account has working tokens",
        metadata={"needs_reconnection": dg.MetadataValue.int(len(waiting))},
    )
