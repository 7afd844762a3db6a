"""Candidate models of one run, their figures per protocol, and the choice on validation.

Every run scores the same candidates on the same rows: the GNN, LightGBM, their
average (``ensemble``) and the trivial baselines (``trivial:<name>``). The model that
``predict`` uses is the best on *validation* under the selected protocol, never on
test; a learned model must beat the best trivial baseline strictly, otherwise the
trivial one is chosen (a tie is no reason to ship a model). Where the run measured
how sure validation is (``beats_trivial``: the share of paired bootstrap resamples of
the validation rows on which the model beats the best trivial baseline), a learned
model within noise of it (below :data:`CONFIDENCE`) is passed over as well: a
difference validation cannot tell from chance is no reason either.

Example:
    >>> a = Candidate("trivial:mean", {"rolling": {"val": {"mae": 2.0}, "test": {}}})
    >>> b = Candidate("gnn", {"rolling": {"val": {"mae": 1.5}, "test": {}}})
    >>> select([a, b], "mae", "rolling")
    'gnn'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from relgraph.errors import TrainingError
from relgraph.train.metrics import evaluate, higher_is_better

TRIVIAL_PREFIX = "trivial:"
# A learned model replaces the best trivial baseline only if it beats it on at least
# this share of bootstrap resamples of the validation rows (one-sided, ~90%).
CONFIDENCE = 0.9
BOOTSTRAP = 200
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


def confidence(c: Candidate, protocol: str) -> float | None:
    """How sure validation is that ``c`` beats the best trivial baseline (None: not measured)."""
    v = c.extra.get("beats_trivial", {}).get(protocol)
    return None if v is None else float(v)


def within_noise(c: Candidate, protocol: str) -> bool:
    p = confidence(c, protocol)
    return not is_trivial(c.name) and p is not None and p < CONFIDENCE


def select(candidates: list[Candidate], metric: str, protocol: str) -> str:
    """The name of the best candidate on validation (trivial ones win ties and noise)."""
    if not candidates:
        raise TrainingError("no candidate model was trained")
    # Trivial first: max() keeps the first of equal keys.
    ordered = sorted(candidates, key=lambda c: not is_trivial(c.name))
    eligible = [c for c in ordered if not within_noise(c, protocol)]
    best = max(eligible or ordered, key=lambda c: _key(c, metric, protocol))
    return best.name


def beats_trivial(
    y: np.ndarray,
    preds: dict[str, np.ndarray],
    trivial: dict[str, np.ndarray],
    kind: str,
    metric: str,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Per learned model: the share of paired bootstrap resamples of ``y`` it wins.

    Each learned model meets the trivial baseline best on all of ``y``; both are scored
    on the same resampled rows, so the share is how often validation would have ranked
    the model above it had other rows of the same period been drawn.
    """
    if not trivial or not preds or len(y) < 2:
        return {}
    fn = _metric_fn(kind, metric)
    sign = 1.0 if higher_is_better(metric) else -1.0
    base = max(trivial.values(), key=lambda p: _finite(sign * fn(y, p)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(BOOTSTRAP, len(y)))
    ref = np.array([sign * fn(y[i], base[i]) for i in idx])
    out = {}
    for name, pred in preds.items():
        mine = np.array([sign * fn(y[i], pred[i]) for i in idx])
        ok = ~(np.isnan(mine) | np.isnan(ref))  # e.g. AUROC of a one-class resample
        out[name] = float(np.mean(mine[ok] > ref[ok])) if ok.any() else float("nan")
    return out


def _finite(v: float) -> float:
    return -math.inf if math.isnan(v) else v


def _metric_fn(kind: str, metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``metric`` of (labels, raw predictions), the cheap way where one is known."""
    if metric == "mae":
        return lambda y, p: float(np.mean(np.abs(y - p)))
    if metric == "auroc":
        return lambda y, p: float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan
    if metric == "accuracy":
        return lambda y, p: float(np.mean(p.argmax(axis=1) == y))
    return lambda y, p: float(evaluate(kind, y, p).get(metric, math.nan))


def ranking(candidates: list[Candidate], metric: str, protocol: str) -> list[Candidate]:
    """Candidates best first on validation (the order the reports print)."""
    ordered = sorted(candidates, key=lambda c: not is_trivial(c.name))
    return sorted(ordered, key=lambda c: _key(c, metric, protocol), reverse=True)


def best_trivial(candidates: list[Candidate], metric: str, protocol: str) -> Candidate | None:
    triv = [c for c in candidates if is_trivial(c.name)]
    return ranking(triv, metric, protocol)[0] if triv else None
