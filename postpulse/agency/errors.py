"""Errors of the agency area: one line naming what is wrong and how to fix it."""

from __future__ import annotations

from postpulse.errors import PostpulseError


class AgencyError(PostpulseError):
    """Bad input for workspaces, tags, tag rules, profile snapshots or watchlists."""
