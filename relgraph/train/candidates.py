"""Candidate models of one run, their figures per protocol, and the choice on validation.

Every run scores the same candidates on the same rows: the GNN, LightGBM, their
average (``ensemble``) and the trivial baselines (``trivial:<name>``). The model that
``predict`` uses is the best on *validation* under the selected protocol, never on
test; a learned model must beat the best trivial baseline strictly, otherwise the
trivial one is chosen (a tie is no reason to ship a model).

Example:
    >>> a = Candidate("trivial:mean", {"rolling": {"val": {"mae": 2.0}, "test": {}}})
    >>> b = Candidate("gnn", {"rolling": {"val": {"mae": 1.5}, "test": {}}})
    >>> select([a, b], "mae", "rolling")
    'gnn'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from relgraph.errors import TrainingError
from relgraph.train.metrics import higher_is_better

TRIVIAL_PREFIX = "trivial:"
LEARNED = ("gnn", "lightgbm", "ensemble")


def is_trivial(name: str) -> bool:
    return name.startswith(TRIVIAL_PREFIX)


@dataclass
class Candidate:
    """One model's metrics: ``scores[protocol][split][metric]``."""

    name: str
    scores: dict[str, dict[str, dict[str, float]]]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, protocol: str, split: str, metric: str) -> float:
        v = self.scores.get(protocol, {}).get(split, {}).get(metric)
        return float("nan") if v is None else float(v)

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "seconds": round(self.seconds, 1)} | self.extra


def _key(c: Candidate, metric: str, protocol: str) -> float:
    v = c.value(protocol, "val", metric)
    if math.isnan(v):
        return -math.inf
    return v if higher_is_better(metric) else -v


def select(candidates: list[Candidate], metric: str, protocol: str) -> str:
    """The name of the best candidate on validation (trivial ones win ties)."""
    if not candidates:
        raise TrainingError("no candidate model was trained")
    # Trivial first: max() keeps the first of equal keys.
    ordered = sorted(candidates, key=lambda c: not is_trivial(c.name))
    best = max(ordered, key=lambda c: _key(c, metric, protocol))
    return best.name


def ranking(candidates: list[Candidate], metric: str, protocol: str) -> list[Candidate]:
    """Candidates best first on validation (the order the reports print)."""
    ordered = sorted(candidates, key=lambda c: not is_trivial(c.name))
    return sorted(ordered, key=lambda c: _key(c, metric, protocol), reverse=True)


def best_trivial(candidates: list[Candidate], metric: str, protocol: str) -> Candidate | None:
    triv = [c for c in candidates if is_trivial(c.name)]
    return ranking(triv, metric, protocol)[0] if triv else None
