"""Report periods: ``--period day|week|month`` (weeks start on Monday, in the workspace's time
zone) and ``--since``/``--until``, handed to the named reports that declare them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from postpulse.agency.errors import AgencyError

PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Periods:
    period: str | None = None
    since: date | None = None
    until: date | None = None

    def for_query(self, q: Any, workspace: str | None, library: dict) -> dict[str, Any]:
        """The report parameters these options set; an error naming the reports that take an
        option ``q`` does not."""
        wanted = {"period": self.period, "since": self.since, "until": self.until, "workspace": workspace}
        declared = {p.name for p in q.params}
        out = {}
        for name, value in wanted.items():
            if value is None:
                continue
            if name not in declared:
                takers = sorted(n for n, other in library.items() if name in {p.name for p in other.params})
                raise AgencyError(
                    f"report {q.name!r} has no {name}",
                    fix=f"reports with --{name}: {', '.join(takers) or '(none)'}",
                )
            out[name] = value
        return out


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise AgencyError(
            f"{option} {value!r} is not a date", fix=f"write it as YYYY-MM-DD, e.g. {option} 2025-01-31"
        ) from None


def period_values(period: str | None, since: str | None, until: str | None) -> Periods:
    if period is not None and period not in PERIODS:
        raise AgencyError(f"--period {period!r} is not one of {', '.join(PERIODS)}")
    d0, d1 = _day(since, "--since"), _day(until, "--until")
    if d0 and d1 and d1 < d0:
        raise AgencyError(f"--until {d1} is before --since {d0}")
    return Periods(period, d0, d1)
