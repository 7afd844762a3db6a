"""Cron schedules for pipelines (``schedule: "0 6 * * *"``), read with ``croniter``.

A schedule says when a pipeline runs (or when ``relgraph watch --cron`` looks at
its source) in standard five-field cron syntax, in UTC. The pipeline spec key is
``schedule:`` — a cron string or ``{cron: "..."}`` — parsed by :func:`parse_schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from relgraph.errors import JobError


@dataclass(frozen=True)
class Schedule:
    """A cron expression (five fields, UTC)."""

    cron: str

    def next_after(self, when: datetime) -> datetime:
        """The first time strictly after ``when`` (aware, UTC) that the schedule fires."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        nxt = croniter(self.cron, when.astimezone(UTC)).get_next(datetime)
        assert isinstance(nxt, datetime)
        return nxt.astimezone(UTC)

    def seconds_until_next(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max((self.next_after(now) - now).total_seconds(), 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"cron": self.cron}


def parse_schedule(value: Any, *, where: str = "schedule") -> Schedule:
    """A :class:`Schedule` from a spec's ``schedule:`` value; :class:`JobError` when invalid."""
    if isinstance(value, dict):
        unknown = set(value) - {"cron"}
        if unknown or "cron" not in value:
            raise JobError(
                f"{where} takes {{cron: '<five cron fields>'}}; got keys {sorted(value)}"
            )
        value = value["cron"]
    if not isinstance(value, str) or not value.strip():
        raise JobError(f"{where} must be a cron expression such as '0 6 * * *' (06:00 UTC daily)")
    expr = " ".join(value.split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise JobError(
            f"{where}: '{expr[:80]}' is not a five-field cron expression "
            "(minute hour day-of-month month day-of-week, e.g. '*/15 * * * *')"
        )
    return Schedule(expr)
