"""The model predict uses is never one that validation says is no better than a trivial one."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.train.candidates import CONFIDENCE, Candidate, beats_trivial, is_trivial, select
from relgraph.train.metrics import higher_is_better
from relgraph.train.run import selection_warnings

NAMES = ("gnn", "lightgbm", "ensemble", "lightgbm_gap", "trivial:mean", "trivial:last_value")
# Few distinct values make ties common; NaN is a candidate that could not be scored.
VALUES = st.sampled_from([0.1, 0.5, 0.5000001, 0.9, 1.0, math.nan])


@settings(max_examples=300, deadline=None)
@given(
    metric=st.sampled_from(["mae", "auroc", "map@10"]),
    protocol=st.sampled_from(["frozen", "rolling"]),
    vals=st.lists(st.tuples(VALUES, VALUES), min_size=len(NAMES), max_size=len(NAMES)),
    n_trivial=st.integers(min_value=1, max_value=2),
    sure=st.lists(st.sampled_from([None, 0.5, 0.89, 0.9, 1.0]), min_size=4, max_size=4),
)
def test_never_a_learned_model_validation_ranks_at_or_below_a_trivial_one(
    metric: str,
    protocol: str,
    vals: list[tuple[float, float]],
    n_trivial: int,
    sure: list[float | None],
) -> None:
    names = [n for n in NAMES if not is_trivial(n)] + [n for n in NAMES if is_trivial(n)][
        :n_trivial
    ]
    cands = []
    for i, (name, (v_sel, v_other)) in enumerate(zip(names, vals, strict=False)):
        p = sure[i] if i < len(sure) and not is_trivial(name) else None
        other = "rolling" if protocol == "frozen" else "frozen"
        # The other protocol's figures (and test) must never sway the choice.
        cands.append(
            Candidate(
                name,
                {
                    protocol: {"val": {metric: v_sel}, "test": {metric: 1.0 - v_sel}},
                    other: {"val": {metric: v_other}, "test": {}},
                },
                extra={} if p is None else {"beats_trivial": {protocol: p}},
            )
        )
    chosen = next(c for c in cands if c.name == select(cands, metric, protocol))
    sign = 1.0 if higher_is_better(metric) else -1.0

    def key(c: Candidate) -> float:
        v = c.value(protocol, "val", metric)
        return -math.inf if math.isnan(v) else sign * v

    best_trivial = max(key(c) for c in cands if is_trivial(c.name))
    if not is_trivial(chosen.name):
        # A learned model is chosen only when validation says it is strictly better,
        # and (where measured) not within noise of the best trivial baseline.
        assert key(chosen) > best_trivial
        p_chosen = chosen.extra.get("beats_trivial", {}).get(protocol)
        assert p_chosen is None or p_chosen >= CONFIDENCE
    eligible = [
        c
        for c in cands
        if is_trivial(c.name) or c.extra.get("beats_trivial", {}).get(protocol, 1.0) >= CONFIDENCE
    ]
    assert key(chosen) == max(key(c) for c in eligible)


def test_bootstrap_confidence_tells_a_real_gain_from_noise() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    trivial = {"mean": np.zeros(400), "past_mean": y + rng.normal(scale=1.0, size=400)}
    sure = beats_trivial(
        y,
        {
            "good": y + rng.normal(scale=0.3, size=400),  # far better than the best trivial
            "same": y + rng.normal(scale=1.0, size=400),  # as good as past_mean: chance
        },
        trivial,
        "regression",
        "mae",
    )
    assert sure["good"] > 0.99
    assert 0.05 < sure["same"] < 0.95
    # Binary AUROC: a model equal to the baseline wins no resample (ties are no win).
    yb = (rng.random(300) < 0.3).astype(float)
    p = yb * 0.2 + rng.random(300)
    assert beats_trivial(yb, {"copy": p}, {"prior": p}, "binary", "auroc")["copy"] == 0.0


def _cand(name: str, val: float, sure: float | None = None) -> Candidate:
    extra = {} if sure is None else {"beats_trivial": {"rolling": sure}}
    return Candidate(name, {"rolling": {"val": {"mae": val}, "test": {}}}, extra=extra)


def test_a_learned_model_within_noise_gives_way_to_the_trivial_one() -> None:
    cands = [_cand("gnn", 1.0, sure=0.7), _cand("trivial:mean", 1.1)]
    assert select(cands, "mae", "rolling") == "trivial:mean"
    w = selection_warnings(cands, "mae", "rolling", "trivial:mean")
    assert len(w) == 1 and "within noise" in w[0] and "70%" in w[0]
    # The next learned model, sure enough, is chosen before the trivial one.
    cands.append(_cand("lightgbm", 1.05, sure=0.95))
    assert select(cands, "mae", "rolling") == "lightgbm"
    # Not measured (link tasks, old models): the plain rule.
    assert select([_cand("gnn", 1.0), _cand("trivial:mean", 1.1)], "mae", "rolling") == "gnn"


def test_best_epoch_is_the_one_early_stopping_keeps() -> None:
    from relgraph.train.run import best_epoch

    assert best_epoch([{"mae": 3.0}, {"mae": 2.0}, {"mae": 2.5}], "mae") == 2
    assert best_epoch([{"auroc": 0.6}, {"auroc": 0.8}, {"auroc": 0.8}], "auroc") == 2
    # Nothing known (no validation rows): every epoch, the last kept.
    assert best_epoch([{"mae": math.nan}] * 3, "mae") == 3
    assert best_epoch([], "mae") == 1
