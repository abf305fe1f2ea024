"""The follower growth plot (PNG)."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from postpulse.analytics.plots import PALETTE


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def follower_growth_png(df: pd.DataFrame, title: str = "Follower growth") -> bytes:
    """``df`` from the follower_growth report: followers per group over the periods."""
    fig = Figure(figsize=(9, 4.2))  # no pyplot: nothing global to close
    ax = fig.subplots()
    ax.set_title(title)
    rows = df.dropna(subset=["followers"]) if df is not None and not df.empty else None
    if rows is None or rows.empty:
        ax.text(0.5, 0.5, "no profile snapshots in the period", ha="center", va="center", color="#6b7280")
        ax.set_axis_off()
        return _png(fig)
    for i, (group, g) in enumerate(rows.groupby("group", sort=True)):
        g = g.sort_values("period_start")
        ax.plot(
            pd.to_datetime(g["period_start"]),
            g["followers"],
            marker="o",
            markersize=3,
            linewidth=1.6,
            color=PALETTE[i % len(PALETTE)],
            label=f"{group} ({int(g['followers'].iloc[-1]):,})",
        )
    ax.set_ylabel("followers")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _png(fig)
