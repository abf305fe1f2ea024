"""The follower growth plot (PNG). It lives with the other plots in
:mod:`postpulse.analytics.plots`, since the analytics report draws it too; kept importable here."""

from postpulse.analytics.plots import follower_growth_png

__all__ = ["follower_growth_png"]
