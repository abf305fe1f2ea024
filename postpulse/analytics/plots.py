"""PNG plots (matplotlib, Agg backend) for materializations and the HTML report."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PALETTE = [
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def empty_plot(title: str, message: str) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#6b7280")
    ax.set_axis_off()
    return _png(fig)


def growth_curves_png(
    df: pd.DataFrame, title: str = "Growth curves: engagement by hours since posting"
) -> bytes:
    """``df`` from the growth_curves query (post_id, platform, age_hours, engagement)."""
    if df is None or df.empty or df["engagement"].notna().sum() == 0:
        return empty_plot(title, "no snapshots with engagement yet")
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for i, (post_id, g) in enumerate(df.groupby("post_id", sort=False)):
        g = g.dropna(subset=["engagement"]).sort_values("age_hours")
        label = f"{post_id} ({g['platform'].iloc[0]})"
        ax.plot(
            g["age_hours"],
            g["engagement"],
            marker="o",
            markersize=3,
            linewidth=1.6,
            color=PALETTE[i % len(PALETTE)],
            label=label,
        )
    ax.set_xscale("symlog", linthresh=24)
    ticks = [1, 6, 12, 24, 72, 168, 336, 720]
    ax.set_xticks([t for t in ticks if t <= max(df["age_hours"].max(), 1) * 1.05])
    ax.get_xaxis().set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 24:.0f} d" if v >= 48 else f"{v:.0f} h")
    )
    ax.set_xlabel("time since posting (symlog scale)")
    ax.set_ylabel("cumulative engagement")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
    return _png(fig)


NO_NEW_ENGAGEMENT = (
    "no new engagement yet: a post's first snapshot is its baseline,\nthe next one shows what it gained"
)


def daily_trends_png(df: pd.DataFrame, title: str = "Daily new engagement and engagement rate") -> bytes:
    """``df`` with metric_date, entity_id, engagement_new, engagement_rate (one line per entity)."""
    if df is None or df.empty:
        return empty_plot(title, "no daily metrics for this period")
    if df["engagement_new"].notna().sum() == 0:  # e.g. the first day of a new store
        return empty_plot(title, NO_NEW_ENGAGEMENT)
    df = df.copy()
    df["metric_date"] = pd.to_datetime(df["metric_date"])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for i, (entity, g) in enumerate(df.groupby("entity_id", sort=True)):
        g = g.sort_values("metric_date")
        c = PALETTE[i % len(PALETTE)]
        ax1.plot(
            g["metric_date"],
            g["engagement_new"].astype(float),
            marker="o",
            markersize=3,
            color=c,
            label=str(entity),
        )
        ax2.plot(g["metric_date"], g["engagement_rate"].astype(float) * 100, marker=".", color=c)
        est = g[g["is_estimated"].astype(bool)] if "is_estimated" in g else g.iloc[0:0]
        ax1.scatter(
            est["metric_date"], est["engagement_new"].astype(float), s=14, facecolors="none", edgecolors=c
        )
    ax1.set_title(title)
    ax1.set_ylabel("new engagement / day")
    ax2.set_ylabel("engagement rate, %")
    ax1.grid(True, alpha=0.3)
    ax2.grid(True, alpha=0.3)
    ax1.legend(fontsize=8, frameon=False, ncol=4)
    # the days of the data, a day of margin (one day alone would otherwise span years)
    first, last = df["metric_date"].min(), df["metric_date"].max()
    ax2.set_xlim(first - pd.Timedelta(days=1), last + pd.Timedelta(days=1))
    ax2.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, ((last - first).days + 2) // 8)))
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    fig.autofmt_xdate()
    ax2.annotate(
        "UTC days; hollow markers: spread over a multi-day gap (estimated)",
        xy=(0, -0.45),
        xycoords="axes fraction",
        fontsize=7,
        color="#6b7280",
    )
    return _png(fig)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def md_image(png: bytes, alt: str = "plot") -> str:
    """Markdown with the PNG inlined (Dagster's UI renders it in the metadata panel)."""
    return f"![{alt}]({data_uri(png)})"
