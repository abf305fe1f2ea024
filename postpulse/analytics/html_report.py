"""A self-contained HTML report per workspace (jinja2; plots inlined as data: URIs; no
external assets): follower growth, top posts, tag performance and the content published in the
period, then growth curves and daily metrics.

The period is ``since``..``until``; without ``since`` it is the last ``days`` days of the
workspace's data (posts and profile snapshots), not of the clock, so an import from last year
still reports. Days and weeks (from Monday) are in the workspace's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jinja2
import pandas as pd

from postpulse.analytics import plots, queries
from postpulse.analytics.duck import Analytics
from postpulse.analytics.errors import AnalyticsError
from postpulse.analytics.report_format import dates_as_dates
from postpulse.safe_text import safe_link

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Link:
    """A cell shown as a link only when ``href`` is a safe (absolute http/https) URL."""

    text: str
    href: str | None

    def __str__(self) -> str:
        return self.text


def _table(df, max_rows: int = 15, links: dict[str, str] | None = None) -> dict:
    """Columns and display rows; ``links`` maps a column to the column holding its URL, shown as
    a link only if ``safe_link`` accepts it (``javascript:`` and the like never); the URL column
    itself is not shown."""
    df = df.head(max_rows)
    links = links or {}
    table = _plain_table(df.drop(columns=list(links.values())))
    for col, url_col in links.items():
        i = table["columns"].index(col)
        for row, url in zip(table["rows"], df[url_col], strict=True):
            row[i] = Link(row[i], safe_link(url))
    return table


def _plain_table(df) -> dict:
    df = dates_as_dates(df)
    rows = [
        [
            ""
            if v is None or (isinstance(v, float) and v != v) or str(v) in ("<NA>", "NaT")
            else (
                f"{v:,.4g}"
                if isinstance(v, float) and abs(v) < 1
                else f"{v:,.1f}"
                if isinstance(v, float)
                else str(v)
            )
            for v in r
        ]
        for r in df.itertuples(index=False)
    ]
    return {"columns": [str(c) for c in df.columns], "rows": rows}


def _data_end(a: Analytics, wid: str, tz: str) -> date | None:
    """The workspace's latest day with data (a post published or a profile snapshot)."""
    row = a.sql(
        """SELECT greatest(
                  (SELECT max(CAST(timezone($tz, posted_at) AS DATE)) FROM post_dim WHERE workspace_id = $w),
                  (SELECT max(CAST(timezone($tz, s.captured_at) AS DATE)) FROM profile_snapshots s
                     JOIN profiles p ON p.id = s.profile_id JOIN accounts ac ON ac.id = p.account_id
                   WHERE ac.workspace_id = $w)) AS d""",
        {"w": wid, "tz": tz},
    )
    value = row["d"][0]
    return None if value is None or str(value) in ("NaT", "<NA>") else pd.Timestamp(value).date()


def render(
    a: Analytics,
    workspace: str,
    days: int = 30,
    *,
    since: date | None = None,
    until: date | None = None,
    period: str = "day",
) -> str:
    ws = a.sql("SELECT id, name, timezone FROM workspaces WHERE name = $n OR id = $n", {"n": workspace})
    if ws.empty:
        names = a.sql("SELECT name FROM workspaces ORDER BY name")["name"].tolist()
        raise AnalyticsError(
            f"no workspace named {workspace!r}; workspaces: {', '.join(names) or '(none yet)'}",
            fix="pass --workspace with one of those names (`postpulse workspaces list`)",
        )
    wid, wname, tz = ws["id"][0], ws["name"][0], ws["timezone"][0]
    end = until or _data_end(a, wid, tz) or datetime.now(UTC).date()
    start = since or end - timedelta(days=days - 1)
    lib = queries.load_library()
    window = {"workspace": wid, "since": start, "until": end}
    growth = lib["follower_growth"].run(a, {**window, "period": period, "by": "account"})
    top = lib["top_posts"].run(a, {**window, "limit": 10})
    urls = a.sql(
        "SELECT post_id, url FROM post_dim WHERE list_contains($ids, post_id)", {"ids": list(top["post_id"])}
    )
    top = top.merge(urls, on="post_id", how="left").sort_values(
        "engagement", ascending=False, na_position="last"
    )[["platform", "author_username", "posted_at", "engagement", "views", "text_preview", "url"]]
    tags = lib["tag_performance"].run(a, window).drop(columns="period_start")
    published = a.sql(
        """WITH latest AS (SELECT post_id, arg_max(engagement, downloaded_at) AS engagement
                          FROM snapshots GROUP BY post_id)
           SELECT CAST(timezone($tz, d.posted_at) AS DATE) AS day, d.platform, d.author_username AS author,
                  d.content_type, l.engagement,
                  (SELECT string_agg(t.name, ', ' ORDER BY t.name)
                   FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = d.post_id) AS tags,
                  d.text_preview
           FROM post_dim d LEFT JOIN latest l USING (post_id)
           WHERE d.workspace_id = $w AND CAST(timezone($tz, d.posted_at) AS DATE) BETWEEN $s AND $u
           ORDER BY d.posted_at DESC""",
        {"w": wid, "tz": tz, "s": start, "u": end},
    )
    curves = lib["growth_curves"].run(a, {"workspace": wname, "limit_posts": 8})
    trend = a.sql(
        """SELECT metric_date, 'workspace' AS entity_id, engagement_new, engagement_rate, is_estimated
           FROM daily_metrics WHERE grain = 'workspace' AND entity_id = $w AND metric_date BETWEEN $s AND $u
           ORDER BY metric_date""",
        {"w": wid, "s": start, "u": end},
    )
    daily = a.sql(
        """SELECT metric_date, posts_tracked, posts_published, posts_settled,
                  round(engagement_new, 1) AS engagement_new,
                  round(engagement_rate * 100, 2) AS engagement_rate_pct,
                  actions_completed, actions_failed, is_estimated
           FROM daily_metrics WHERE grain = 'workspace' AND entity_id = $w AND metric_date BETWEEN $s AND $u
           ORDER BY metric_date DESC""",
        {"w": wid, "s": start, "u": end},
    )
    if not growth.empty:
        growth["period_start"] = pd.to_datetime(growth["period_start"]).dt.date
    latest = growth.sort_values("period_start").groupby("group").tail(1) if not growth.empty else growth
    per_account = (
        growth.sort_values("period_start")
        .groupby("group", sort=True)
        .agg(
            first=("period_start", "first"),
            last=("period_start", "last"),
            followers_then=("followers", "first"),
            followers_now=("followers", "last"),
            gained=("followers_gained", "sum"),
            views=("views", "sum"),
        )
        .reset_index()
        .rename(columns={"group": "account"})
        if not growth.empty
        else growth
    )
    summary = {
        "accounts": int(
            a.sql("SELECT count(*) AS n FROM accounts WHERE workspace_id = $w", {"w": wid})["n"][0]
        ),
        "posts_in_period": len(published),
        "followers": int(latest["followers"].fillna(0).sum()) if not latest.empty else 0,
        "followers_gained": int(growth["followers_gained"].fillna(0).sum()) if not growth.empty else 0,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape(["html"])
    )
    return env.get_template("report.html").render(
        workspace=wname,
        workspace_id=wid,
        timezone=tz,
        start=start,
        end=end,
        period=period,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary,
        growth_followers_png=plots.data_uri(
            plots.follower_growth_png(growth, f"{wname}: followers per {period}")
        ),
        growth_table=_table(per_account, 60),
        top=_table(top, links={"text_preview": "url"}),
        tags=_table(tags, 30),
        published=_table(published, 50),
        growth_png=plots.data_uri(plots.growth_curves_png(curves, f"Growth curves: top posts of {wname}")),
        trend_png=plots.data_uri(plots.daily_trends_png(trend, f"{wname}: daily new engagement and rate")),
        daily=_table(daily, 60),
    )
