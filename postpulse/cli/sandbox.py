"""``postpulse sandbox``: serve the local sandbox social network, or print its world.

    postpulse sandbox --seed 7 --profiles 8 --posts-per-profile 6    # = serve with these options
    postpulse sandbox serve --seed 7 --profiles 8 --posts-per-profile 6 --port 8765 --time-scale 1.0
    postpulse sandbox world --seed 7 --json

(``python -m postpulse.sandbox [serve options]`` does the same as ``serve``.)
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

import typer

#: the admin token the served sandbox requires on /_admin/* (set by `postpulse up`)
ADMIN_TOKEN_ENV = "SANDBOX_ADMIN_TOKEN"

app = typer.Typer(
    name="sandbox",
    help="The local sandbox social network (demo data source and test peer). "
    "Without a sub-command: serve the world given by --seed/--profiles/--posts-per-profile.",
    invoke_without_command=True,
    add_completion=False,
)


def _parse_now(now: str | None) -> datetime | None:
    if not now:
        return None
    try:
        return datetime.fromisoformat(now.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"--now must be an ISO 8601 date-time such as 2025-06-01T12:00:00Z, not {now!r}"
        ) from None


@app.command()
def serve(
    seed: int = typer.Option(7, help="World seed: the same seed gives the same world."),
    profiles: int = typer.Option(
        8, min=0, max=500, help="Profiles per platform (besides our demo accounts)."
    ),
    posts_per_profile: int = typer.Option(6, min=0, max=500, help="Posts per profile before 'now'."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (keep 127.0.0.1)."),
    time_scale: float = typer.Option(
        1.0, min=0.0, help="Sandbox seconds per real second (60 = 1 h per minute)."
    ),
    now: str | None = typer.Option(
        None, help="Sandbox start time (ISO 8601); default: now (the world is built on this hour, UTC)."
    ),
    future_days: int = typer.Option(
        14, min=0, max=365, help="Days of scheduled posts that appear over time."
    ),
    session_ttl_hours: float = typer.Option(168.0, min=0.001, help="Session lifetime in sandbox hours."),
) -> None:
    """Serve the sandbox until Ctrl-C."""
    from datetime import timedelta

    from postpulse.sandbox.server import SandboxServer
    from postpulse.sandbox.world import PLATFORMS, build_world

    world = build_world(
        seed=seed,
        profiles=profiles,
        posts_per_profile=posts_per_profile,
        now=_parse_now(now),
        future_days=future_days,
    )
    server = SandboxServer(
        world,
        host=host,
        port=port,
        time_scale=time_scale,
        session_ttl=timedelta(hours=session_ttl_hours),
        # `postpulse up` sets it: /_admin/* then needs the header X-Sandbox-Admin
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
    )
    if now is None:
        # The world is built on the hour (deterministic), but a live sandbox must run on the wall
        # clock: postpulse schedules its check-backs in real time.
        server.clock.set(datetime.now(UTC))
    try:
        server.start()
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"postpulse sandbox on {server.base_url}  (seed {seed}, {profiles} profiles x "
        f"{posts_per_profile} posts per platform, time scale {time_scale})"
    )
    typer.echo(
        f"  log in as demo_<platform> with password sandbox-<username>; platforms: {', '.join(PLATFORMS)}"
    )
    typer.echo(f"  Apify-style API: {server.base_url}/v2  token: SANDBOX_APIFY_TOKEN")
    if os.environ.get(ADMIN_TOKEN_ENV):
        typer.echo(f"  /_admin/* needs the header X-Sandbox-Admin: ${ADMIN_TOKEN_ENV}")
    typer.echo("  Ctrl-C stops it.")
    server.serve_forever()


@app.command()
def world(
    seed: int = typer.Option(7, help="World seed."),
    profiles: int = typer.Option(8, min=0, max=500, help="Profiles per platform."),
    posts_per_profile: int = typer.Option(6, min=0, max=500, help="Posts per profile before 'now'."),
    now: str | None = typer.Option(None, help="World time (ISO 8601); default: this hour, UTC."),
    future_days: int = typer.Option(14, min=0, max=365, help="Days of scheduled posts."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Print a summary of the world a seed gives (accounts, posts, comments, DMs, follows)."""
    from postpulse.sandbox.world import build_world

    w = build_world(
        seed=seed,
        profiles=profiles,
        posts_per_profile=posts_per_profile,
        now=_parse_now(now),
        future_days=future_days,
    )
    summary = w.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    typer.echo(f"seed {summary['seed']}, now {summary['now']}, password rule {summary['password_rule']}")
    for p, info in summary["platforms"].items():
        typer.echo(
            f"{p:10} ours: {', '.join(info['our_accounts'])}; {len(info['profiles'])} profiles; "
            f"{info['posts_visible_at_now']} posts (+{info['posts_scheduled_after_now']} scheduled); "
            f"{info['comments']} comments; {info['dm_threads']} DM threads"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m postpulse.sandbox``: ``serve`` unless another command is named."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("serve", "world", "--help", "-h"):
        args.insert(0, "serve")
    app(args=args, prog_name="python -m postpulse.sandbox")


@app.callback()
def serve_by_default(
    ctx: typer.Context,
    seed: int = typer.Option(7, help="World seed (for serving without a sub-command)."),
    profiles: int = typer.Option(8, min=0, max=500, help="Profiles per platform."),
    posts_per_profile: int = typer.Option(6, min=0, max=500, help="Posts per profile before 'now'."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    time_scale: float = typer.Option(1.0, min=0.0, help="Sandbox seconds per real second."),
) -> None:
    if ctx.invoked_subcommand is None:
        serve(
            seed=seed,
            profiles=profiles,
            posts_per_profile=posts_per_profile,
            port=port,
            host="127.0.0.1",
            time_scale=time_scale,
            now=None,
            future_days=14,
            session_ttl_hours=168.0,
        )
