"""A job's progress as one fraction that only moves forward, and the time it has left.

A long job goes through stages (train: labels, LightGBM, graph, features, search, ...)
that report in their own order and with their own counters; mapping each report to a
fixed fraction made a train job go 0.744 → 0.096 → 0.720, because LightGBM runs before
the graph but had been given a late fraction. Here a job kind declares its stages and
their weights (shares of the job's time) up front; a report moves the job to the start of
its stage, or within it, and never back.

Example:
    >>> p = StagedProgress(TRAIN_STAGES)
    >>> p.enter("lightgbm") < p.enter("graph") < p.within("search", 0.5) < p.enter("evaluate")
    True
    >>> p.enter("labels") == p.fraction  # an earlier stage reported late: no step back
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

Stages = Sequence[tuple[str, float]]

# relgraph.train.train_task reports these stages, in this order ("trial" and "epoch" are
# the search; "scratch" runs only from a pretrained trunk; the refits and the residual
# model only when the task and the budget allow them). The weights are shares of a
# typical fast-budget run on F1: the search takes most of the budget's wall time.
TRAIN_STAGES: Stages = (
    ("labels", 0.05),
    ("owned items", 0.01),  # link tasks only: what each entity already has (exclude_seen)
    ("lightgbm", 0.05),
    ("lightgbm (gap)", 0.04),
    ("lightgbm (refit)", 0.03),
    ("lightgbm (residual)", 0.03),
    ("graph", 0.04),
    ("features", 0.04),
    ("search", 0.55),
    ("evaluate", 0.03),
    ("scratch", 0.04),
    ("gnn (refit)", 0.05),
    ("candidates", 0.04),
)
# relgraph.train.pretrain_trunk: the graph, the features, then its steps ("epoch").
PRETRAIN_STAGES: Stages = (("graph", 0.1), ("features", 0.1), ("search", 0.8))
# What the trainers call the steps of their search.
SEARCH_REPORTS = ("trial", "epoch")
# Below this fraction an ETA is a guess from too little: none is shown.
MIN_FRACTION_FOR_ETA = 0.02


class StagedProgress:
    """Stage reports → one non-decreasing fraction in ``[start, end]``.

    Args:
        stages: ``(name, weight)`` in the order the job runs them; weights are relative.
        start: The fraction where the first stage begins (a job made of several parts
            gives each part its span).
        end: The fraction where the last stage ends.
    """

    def __init__(self, stages: Stages, *, start: float = 0.0, end: float = 1.0) -> None:
        if not stages:
            raise ValueError("StagedProgress needs at least one stage")
        total = sum(w for _, w in stages)
        self._begin: dict[str, float] = {}
        self._weight: dict[str, float] = {}
        at = start
        for name, weight in stages:
            share = (end - start) * weight / total
            self._begin[name], self._weight[name] = at, share
            at += share
        self.start, self.end = start, end
        self.fraction = start

    def __repr__(self) -> str:
        return f"StagedProgress({list(self._begin)}, fraction={self.fraction:.3f})"

    def _move(self, to: float) -> float:
        self.fraction = max(self.fraction, min(to, self.end))
        return self.fraction

    def enter(self, stage: str) -> float:
        """The fraction once ``stage`` has begun (unchanged for a stage it does not know)."""
        return self._move(self._begin.get(stage, self.fraction))

    def within(self, stage: str, done: float) -> float:
        """The fraction when ``done`` (0..1) of ``stage`` is done."""
        if stage not in self._begin:
            return self.fraction
        done = min(max(done, 0.0), 1.0)
        return self._move(self._begin[stage] + self._weight[stage] * done)

    def report(self, stage: str, info: dict[str, object]) -> float:
        """A trainer's ``(stage, info)`` report: epochs count within the search stage."""
        if stage in SEARCH_REPORTS and "search" in self._begin:
            epoch, epochs = info.get("epoch"), info.get("epochs")
            if isinstance(epoch, int | float) and isinstance(epochs, int | float) and epochs:
                return self.within("search", float(epoch) / float(epochs))
            return self.enter("search")
        return self.enter(stage)


def eta_seconds(
    progress: float | None, started: datetime | None, now: datetime, *, running: bool
) -> float | None:
    """Seconds a running job has left, from its pace so far; None when unknown.

    Stages are weighted by their share of the time, so the fraction done grows about
    linearly with time and ``elapsed × (1 − p) / p`` is a fair estimate.
    """
    if not running or started is None or progress is None:
        return None
    if progress < MIN_FRACTION_FOR_ETA or progress >= 1.0:
        return None
    if started.tzinfo is None and now.tzinfo is not None:
        started = started.replace(tzinfo=now.tzinfo)  # SQLite hands back naive UTC times
    elapsed = (now - started).total_seconds()
    if elapsed <= 0:
        return None
    return round(elapsed * (1.0 - progress) / progress, 1)
