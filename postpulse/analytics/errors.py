"""User-facing analytics errors (one line, what is wrong and what to do)."""

from __future__ import annotations

from postpulse.errors import PostpulseError


class AnalyticsError(PostpulseError):
    """Analytics could not run; the message says why and how to fix it."""


class QueryRefused(AnalyticsError):
    """A query that would write or change state; refused before execution."""


class UnknownReport(AnalyticsError):
    """No named query of that name."""


class BadParameter(AnalyticsError):
    """A report parameter that is unknown or of the wrong type."""
