"""A self-contained HTML report per workspace (jinja2; plots inlined as data: URIs; no
external assets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jinja2

from postpulse.analytics import plots, queries
from postpulse.analytics.duck import Analytics
from postpulse.analytics.errors import AnalyticsError
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
    """Columns and display rows; ``links`` maps a column to the column holding its URL (shown
    as a link only if ``safe_link`` accepts it; the URL column itself is not shown)."""
    df = df.head(max_rows)
    links = links or {}
    table = _plain_table(df.drop(columns=list(links.values())))
    for col, url_col in links.items():
        i = table["columns"].index(col)
        for row, url in zip(table["rows"], df[url_col], strict=True):
            row[i] = Link(row[i], safe_link(url))
    return table


def _plain_table(df) -> dict:
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


def render(a: Analytics, workspace: str, days: int = 30) -> str:
    ws = a.sql("SELECT id, name FROM workspaces WHERE name = $n OR id = $n", {"n": workspace})
    if ws.empty:
        names = a.sql("SELECT name FROM workspaces ORDER BY name")["name"].tolist()
        raise AnalyticsError(
            f"no workspace named {workspace!r}; workspaces: {', '.join(names) or '(none yet)'}",
            fix="pass --workspace with one of those names",
        )
    wid, wname = ws["id"][0], ws["name"][0]
    lib = queries.load_library()
    curves = lib["growth_curves"].run(a, {"workspace": wname, "limit_posts": 8})
    since = date.today() - timedelta(days=days)
    trend = a.sql(
        """SELECT metric_date, 'workspace' AS entity_id, engagement_new, engagement_rate, is_estimated
                     FROM daily_metrics WHERE grain = 'workspace' AND entity_id = $w AND metric_date >= $s
                     ORDER BY metric_date""",
        {"w": wid, "s": since},
    )
    summary = a.sql(
        """SELECT count(*) AS posts, count(*) FILTER (WHERE posted_at >= $s) AS posts_in_period,
                              (SELECT count(*) FROM snapshots s JOIN post_dim d2 USING (post_id)
                                  WHERE d2.workspace_id = $w) AS snapshots,
                              (SELECT count(*) FROM accounts WHERE workspace_id = $w) AS accounts
                       FROM post_dim WHERE workspace_id = $w""",
        {"w": wid, "s": since},
    )
    top = a.sql(
        """WITH latest AS (SELECT post_id, arg_max(engagement, downloaded_at) AS engagement,
                                          arg_max(views, downloaded_at) AS views, count(*) AS snapshots
                                   FROM snapshots GROUP BY post_id)
                   SELECT d.platform, d.author_username, d.post_id, d.url, d.posted_at, l.engagement, l.views,
                          l.snapshots
                   FROM post_dim d JOIN latest l USING (post_id)
                   WHERE d.workspace_id = $w ORDER BY l.engagement DESC NULLS LAST LIMIT 15""",
        {"w": wid},
    )
    daily = a.sql(
        """SELECT metric_date, posts_tracked, posts_published, posts_settled, round(engagement_new, 1)
            AS engagement_new,
                            round(engagement_rate * 100, 2) AS engagement_rate_pct, actions_completed,
                                actions_failed, is_estimated
                     FROM daily_metrics WHERE grain = 'workspace' AND entity_id = $w AND metric_date >= $s
                     ORDER BY metric_date DESC""",
        {"w": wid, "s": since},
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape(["html"])
    )
    return env.get_template("report.html").render(
        workspace=wname,
        workspace_id=wid,
        days=days,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary.iloc[0].to_dict(),
        growth_png=plots.data_uri(plots.growth_curves_png(curves, f"Growth curves: top posts of {wname}")),
        trend_png=plots.data_uri(plots.daily_trends_png(trend, f"{wname}: daily new engagement and rate")),
        top=_table(top, links={"post_id": "url"}),
        daily=_table(daily, 60),
    )
