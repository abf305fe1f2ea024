"""``postpulse workspaces``, ``postpulse tags`` and ``postpulse profiles``: the agency's clients,
their accounts, tags and tag rules, and profile metrics over time.

postpulse workspaces add acme [--timezone Europe/Berlin] | list | show acme | rename acme "Acme Ltd"
postpulse workspaces archive acme | assign acme demo_x [--platform x] | timezone acme Europe/Lisbon
postpulse tags add coffee | list | assign coffee --post p-1a2b3c4d --profile x:noor_castillo
postpulse tags unassign coffee --post instagram:3456
postpulse tags rule-add coffee --hashtag barista --keyword "latte art" [--regex R] [--author U] [--platform P]
postpulse tags rule-edit trl-1a2b3c4d ... | rule-remove trl-1a2b3c4d | rules | apply
postpulse profiles stats-import FILE --platform x --username demo_x   # account daily statistics
postpulse profiles snapshots x:demo_x
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from postpulse.cli.common import console, err_console, fail, guarded, open_store

workspaces_app = typer.Typer(help="Workspaces (clients): their time zone and accounts.", no_args_is_help=True)
tags_app = typer.Typer(help="Tags on posts and profiles, by hand or by rules.", no_args_is_help=True)
profiles_app = typer.Typer(help="Profile metrics over time (profile snapshots).", no_args_is_help=True)


def _begin():
    return open_store().engine.begin()


def _connect():
    return open_store().engine.connect()


def _in_transaction(change, *args, **kwargs):
    """``change(conn, *args, **kwargs)`` in one transaction; a PostpulseError ends the command with
    its one line."""

    def go():
        with _begin() as conn:
            return change(conn, *args, **kwargs)

    return guarded(go)()


def _table(title: str, columns: list[str], rows: list[list]) -> None:
    t = Table(title=title, header_style="bold cyan")
    for c in columns:
        t.add_column(c, no_wrap=c in ("id", "account", "tag"))
    for r in rows:
        t.add_row(*[escape("" if v is None else str(v)) for v in r])
    console.print(t)


# -- workspaces ----------------------------------------------------------------------------------


@workspaces_app.command("add")
def ws_add(
    name: str,
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of its days and weeks"),
    description: str | None = typer.Option(None, "--description"),
) -> None:
    """Add a workspace (a client)."""
    from postpulse.agency import workspaces as W

    ws = _in_transaction(W.add_workspace, name, timezone=timezone, description=description)
    console.print(
        f"[green]{ws['id']}[/green] workspace {escape(ws['name'])} ({ws['timezone']})", highlight=False
    )


@workspaces_app.command("list")
def ws_list() -> None:
    """The workspaces with their status, time zone and number of accounts."""
    from postpulse.agency import workspaces as W

    with _connect() as conn:
        rows = W.list_workspaces(conn)
    if not rows:
        console.print("[yellow]no workspaces yet[/yellow]: `postpulse workspaces add NAME`")
        return
    _table(
        "workspaces",
        ["id", "name", "status", "time zone", "accounts"],
        [[r["id"], r["name"], r["status"], r["timezone"], r["accounts"]] for r in rows],
    )


@workspaces_app.command("show")
def ws_show(name: str) -> None:
    """One workspace and its accounts (with their linked profiles and posts)."""
    from postpulse.agency import workspaces as W

    def go():
        with _connect() as conn:
            ws = W.get_workspace(conn, name)
            return ws, W.workspace_accounts(conn, ws["id"])

    ws, accounts = guarded(go)()
    archived = f", archived {ws['archived_at']:%Y-%m-%d}" if ws["archived_at"] else ""
    console.print(
        f"[bold]{escape(ws['name'])}[/bold] {ws['id']}: {ws['status']}{archived}, time zone {ws['timezone']}",
        highlight=False,
    )
    if not accounts:
        console.print("no accounts: `postpulse workspaces assign NAME ACCOUNT`")
        return
    _table(
        "accounts",
        ["id", "account", "authorized", "profiles", "posts"],
        [
            [a["id"], f"@{a['username']} ({a['platform']})", a["is_authorized"], a["profiles"], a["posts"]]
            for a in accounts
        ],
    )


@workspaces_app.command("rename")
def ws_rename(name: str, new_name: str) -> None:
    from postpulse.agency import workspaces as W

    ws = _in_transaction(W.rename_workspace, name, new_name)
    console.print(f"[green]renamed[/green] {ws['id']} to {escape(ws['name'])}", highlight=False)


@workspaces_app.command("timezone")
def ws_timezone(name: str, timezone: str) -> None:
    """Set the time zone of the workspace's days and weeks in reports."""
    from postpulse.agency import workspaces as W

    ws = _in_transaction(W.set_timezone, name, timezone)
    console.print(f"{escape(ws['name'])}: time zone {ws['timezone']}", highlight=False)


@workspaces_app.command("archive")
def ws_archive(name: str) -> None:
    """Archive a workspace: its history stays, it takes no new accounts."""
    from postpulse.agency import workspaces as W

    ws = _in_transaction(W.archive_workspace, name)
    console.print(f"[yellow]archived[/yellow] {escape(ws['name'])}", highlight=False)


@workspaces_app.command("assign")
def ws_assign(
    name: str,
    accounts: list[str] = typer.Argument(..., help="accounts (username or acc-... id)"),
    platform: str | None = typer.Option(None, "--platform"),
) -> None:
    """Put accounts in the workspace (an account belongs to one workspace)."""
    from postpulse.agency import workspaces as W
    from postpulse.engagement import repository as repo

    def go():
        with _begin() as conn:
            out = []
            for ref in accounts:
                acc = repo.get_account(conn, ref, platform)
                ws = W.move_account(conn, acc["id"], name)
                out.append((acc, ws))
            return out

    for acc, ws in guarded(go)():
        console.print(
            f"@{escape(acc['username'])} ({acc['platform']}) -> {escape(ws['name'])}", highlight=False
        )


# -- tags ------------------------------------------------------------------------------------------


@tags_app.command("add")
def tags_add(name: str, description: str | None = typer.Option(None, "--description")) -> None:
    """Create a tag."""
    from postpulse.agency import tags as T

    t = _in_transaction(T.add_tag, name, description=description)
    console.print(f"[green]{t['id']}[/green] tag {escape(t['name'])}", highlight=False)


_POSTS = typer.Option([], "--post", help="post id (p-...) or platform:platform_post_id (repeatable)")
_PROFILES = typer.Option([], "--profile", help="profile id (prf-...) or platform:username (repeatable)")


@tags_app.command("assign")
def tags_assign(name: str, post: list[str] = _POSTS, profile: list[str] = _PROFILES) -> None:
    """Tag posts and profiles by hand (rules never remove a manual tag)."""
    from postpulse.agency import tags as T

    if not post and not profile:
        fail("name at least one --post or --profile")

    tagged = _in_transaction(T.assign, name, posts=post, profiles=profile)
    console.print(f"{tagged} newly tagged {escape(name)}", highlight=False)


@tags_app.command("unassign")
def tags_unassign(name: str, post: list[str] = _POSTS, profile: list[str] = _PROFILES) -> None:
    """Remove a tag from posts and profiles."""
    from postpulse.agency import tags as T

    if not post and not profile:
        fail("name at least one --post or --profile")

    untagged = _in_transaction(T.unassign, name, posts=post, profiles=profile)
    console.print(f"{untagged} untagged", highlight=False)


@tags_app.command("list")
def tags_list() -> None:
    """Tags with their posts (manual and by rules), profiles and rules."""
    from postpulse.agency import tags as T

    with _connect() as conn:
        rows = T.list_tags(conn)
    if not rows:
        console.print("[yellow]no tags yet[/yellow]: `postpulse tags add NAME`")
        return
    _table(
        "tags",
        ["id", "tag", "posts (manual)", "posts (rules)", "profiles", "rules"],
        [
            [r["id"], r["name"], r["posts_manual"], r["posts_by_rules"], r["profiles"], r["rules"]]
            for r in rows
        ],
    )


def _spec(hashtag, keyword, regex, author, platform, confidence):
    from postpulse.agency.rules import RuleSpec

    return RuleSpec(tuple(hashtag), tuple(keyword), regex, tuple(author), tuple(platform), confidence)


_HASHTAG = typer.Option([], "--hashtag", help="hashtag, with or without # (repeatable: any of them)")
_KEYWORD = typer.Option([], "--keyword", help="whole word or phrase in the text (repeatable)")
_REGEX = typer.Option(None, "--regex", help="RE2 regex over the text (case-insensitive)")
_AUTHOR = typer.Option([], "--author", help="author username (repeatable)")
_PLATFORM = typer.Option([], "--platform", help="platform (repeatable)")
_CONFIDENCE = typer.Option(1.0, "--confidence", help="confidence of the tags it gives (0-1]")


@contextmanager
def _tagging_progress():
    """A progress bar on stderr over the stored posts while tag rules are (re-)applied; yields
    the callback the rules call after each batch."""
    with Progress(
        TextColumn("tagging"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("posts"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("tagging", total=None)
        yield lambda scanned, total: bar.update(task, completed=scanned, total=total)


def _applied(res) -> str:
    return (
        f"{res.posts_scanned:,} posts checked: +{res.added} tagged, -{res.removed} untagged, "
        f"{res.changed} changed"
    )


@tags_app.command("rule-add")
def rule_add(
    tag: str,
    hashtag: list[str] = _HASHTAG,
    keyword: list[str] = _KEYWORD,
    regex: str | None = _REGEX,
    author: list[str] = _AUTHOR,
    platform: list[str] = _PLATFORM,
    confidence: float = _CONFIDENCE,
) -> None:
    """Add a rule giving TAG (created if missing) to every post matching all its conditions;
    applied now to the stored posts and to every import from now on."""
    from postpulse.agency import rules as R
    from postpulse.agency import tags as T

    spec = _spec(hashtag, keyword, regex, author, platform, confidence)

    def go():
        R.check_spec(spec)  # a bad rule creates no tag either
        with _begin() as conn, _tagging_progress() as progress:
            T.add_tag(conn, tag, exist_ok=True)
            return R.add_rule(conn, tag, spec, progress=progress)

    rule, res = guarded(go)()
    console.print(
        f"[green]{rule['id']}[/green] rule for {escape(rule['tag'])}: {_applied(res)}", highlight=False
    )


@tags_app.command("rule-edit")
def rule_edit(
    rule_id: str,
    hashtag: list[str] = _HASHTAG,
    keyword: list[str] = _KEYWORD,
    regex: str | None = _REGEX,
    author: list[str] = _AUTHOR,
    platform: list[str] = _PLATFORM,
    confidence: float = _CONFIDENCE,
) -> None:
    """Replace a rule's conditions and re-tag the stored posts exactly."""
    from postpulse.agency import rules as R

    spec = _spec(hashtag, keyword, regex, author, platform, confidence)

    with _tagging_progress() as progress:
        rule, res = _in_transaction(R.update_rule, rule_id, spec, progress=progress)
    console.print(f"{rule['id']} v{rule['version']}: {_applied(res)}", highlight=False)


@tags_app.command("rule-remove")
def rule_remove(rule_id: str) -> None:
    """Remove a rule and the tags only it gave."""
    from postpulse.agency import rules as R

    with _tagging_progress() as progress:
        res = _in_transaction(R.remove_rule, rule_id, progress=progress)
    console.print(f"removed {rule_id}: {_applied(res)}", highlight=False)


@tags_app.command("rules")
def rules_list() -> None:
    """The tag rules and how many posts each gives its tag."""
    from postpulse.agency import rules as R

    with _connect() as conn:
        rows = R.list_rules(conn)
    if not rows:
        console.print("[yellow]no tag rules yet[/yellow]: `postpulse tags rule-add TAG --hashtag ...`")
        return
    _table(
        "tag rules",
        ["id", "tag", "hashtags", "regex", "authors", "platforms", "confidence", "version", "posts"],
        [
            [
                r["id"],
                r["tag"],
                ", ".join(r["hashtags"]),
                r["keyword_regex"] or "",
                ", ".join(r["authors"]),
                ", ".join(r["platforms"]),
                f"{r['confidence']:.2f}",
                r["version"],
                r["posts"],
            ]
            for r in rows
        ],
    )


@tags_app.command("apply")
def tags_apply(tag: list[str] = typer.Argument(None, help="only these tags (default: all)")) -> None:
    """Re-apply the rules to every stored post (exactly: tags the rules no longer give go)."""
    from postpulse.agency import rules as R
    from postpulse.agency import tags as T

    def go():
        with _begin() as conn, _tagging_progress() as progress:
            ids = [T.get_tag(conn, t)["id"] for t in tag] if tag else None
            return R.reapply(conn, ids, progress=progress)

    console.print(_applied(guarded(go)()), highlight=False)


# -- profiles ---------------------------------------------------------------------------------------


@profiles_app.command("stats-import")
def stats_import(
    path: Path,
    platform: str | None = typer.Option(None, "--platform", help="the account's platform (or a column)"),
    username: str | None = typer.Option(None, "--username", help="the account's username (or a column)"),
) -> None:
    """Import an account's daily statistics (CSV/JSON: date, followers, following, posts, views)
    as profile snapshots; the same file twice changes nothing."""
    from postpulse.agency import profile_snapshots as S

    def go():
        stats = S.read_daily_stats(path, platform=platform, username=username)
        with _begin() as conn:
            return stats, S.import_daily_stats(conn, stats)

    stats, res = guarded(go)()
    if res.already_imported:
        console.print(f"{path}: already imported as {res.run_id}; nothing changed", highlight=False)
        return
    console.print(
        f"[green]{res.run_id}[/green] {stats.platform}:{escape(stats.username)}: {res.days} day(s), "
        f"{res.added} new profile snapshot(s)",
        highlight=False,
    )


@profiles_app.command("snapshots")
def snapshots(profile: str, limit: int = typer.Option(30, "--limit")) -> None:
    """The latest profile snapshots of one profile (platform:username or prf-...)."""
    from sqlalchemy import text

    from postpulse.agency.tags import resolve_profile

    def go():
        with _connect() as conn:
            pid = resolve_profile(conn, profile)
            return conn.execute(
                text(
                    "SELECT captured_at, follower_count, following_count, post_count, view_count, source "
                    "FROM profile_snapshots WHERE profile_id = :p ORDER BY captured_at DESC LIMIT :n"
                ),
                {"p": pid, "n": limit},
            ).all()

    rows = guarded(go)()
    _table(
        f"profile snapshots of {profile}",
        ["captured at", "followers", "following", "posts", "views", "source"],
        [[f"{r[0]:%Y-%m-%d %H:%M}", *r[1:]] for r in rows],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(workspaces_app, name="workspaces")
    app.add_typer(tags_app, name="tags")
    app.add_typer(profiles_app, name="profiles")


def import_daily_stats_files(files: list[Path]) -> None:
    """``postpulse import --format account_daily_stats FILE...``: files naming their account
    (columns ``platform`` and ``username``)."""
    for f in files:
        stats_import(f, platform=None, username=None)
