"""Trivial baselines: constants, the entity's known past, popularity; and the choice on val."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from relgraph.errors import TrainingError
from relgraph.train.candidates import Candidate, ranking, select
from relgraph.train.protocol import as_of, val_view
from relgraph.train.run import selection_warnings
from relgraph.train.trivial import TrivialBaseline, trivial_names


class _Task:
    def __init__(self, task_type: str, metric: str, k: int | None = None, window: int = 30):
        self.task_type, self.metric, self.k = task_type, metric, k
        self.window = timedelta(days=window)
        self.classes = None


D = datetime(2020, 1, 1)


def _t(entity: list, days: list[int], target: list) -> pa.Table:  # type: ignore[type-arg]
    return pa.table(
        {
            "ENTITY": entity,
            "ANCHOR_TIMESTAMP": pa.array([D + timedelta(days=d) for d in days], pa.timestamp("us")),
            "TARGET": target,
        }
    )


def test_constants_are_the_training_statistics() -> None:
    train = _t([1, 2, 3, 4], [0, 0, 0, 0], [1.0, 2.0, 3.0, 10.0])
    task = _Task("regression", "mae")
    assert TrivialBaseline("mean", task).fit(train).predict_raw(train).tolist() == [4.0] * 4
    assert TrivialBaseline("median", task).fit(train).predict_raw(train).tolist() == [2.5] * 4
    prior = TrivialBaseline("prior", _Task("binary", "auroc")).fit(_t([1, 2], [0, 0], [1.0, 0.0]))
    assert prior.score(_t([1, 2], [0, 0], [1.0, 0.0]))["auroc"] == 0.5


def test_last_value_reads_only_labels_whose_window_ended() -> None:
    task = _Task("regression", "mae", window=30)
    history = _t([1, 1, 2], [0, 30, 0], [5.0, 7.0, 9.0])
    b = TrivialBaseline("last_value", task).fit(history)
    # Entity 1 at day 40: the day-0 label ended at day 30 (known), the day-30 one at
    # day 60 (not yet). At day 60 both are known. Entity 3 has no past: the mean.
    rows = _t([1, 1, 3], [40, 60, 60], [0.0, 0.0, 0.0])
    assert b.predict_raw(rows, history).tolist() == [5.0, 7.0, 7.0]
    mean = TrivialBaseline("past_mean", task).fit(history)
    assert mean.predict_raw(rows, history).tolist() == [5.0, 6.0, 7.0]


def test_frozen_clips_inputs_so_the_past_stops_at_the_cutoff() -> None:
    task = _Task("regression", "mae", window=30)
    history = _t([1, 1], [0, 30], [5.0, 7.0])
    b = TrivialBaseline("last_value", task).fit(history)
    rows = _t([1], [90], [0.0])
    assert b.predict_raw(rows, history).tolist() == [7.0]
    frozen = as_of(rows, "frozen", D + timedelta(days=45))
    assert b.predict_raw(frozen, history).tolist() == [5.0]
    assert frozen.column("TARGET").to_pylist() == [0.0]  # labels do not move
    assert val_view(rows, "rolling", D).equals(rows)
    with pytest.raises(TrainingError, match="unknown protocol 'live'"):
        as_of(rows, "live", D)


def test_link_popularity_and_repeat_past() -> None:
    task = _Task("link", "map@k", k=2)
    train = _t([1, 2, 3], [0, 0, 0], [[10, 11], [10, 12], [10, 11]])
    pop = TrivialBaseline("popularity", task).fit(train)
    rows = _t([1, 4], [30, 30], [[12], [10]])
    assert pop.rank(rows) == [[10, 11], [10, 11]]
    rep = TrivialBaseline("repeat_past", task).fit(train)
    hist = _t([1, 1], [0, 10], [[12], [12, 13]])
    # Entity 1 at day 40: both its labels ended (day 30, day 40); 12 twice comes first.
    assert rep.rank(_t([1], [40], [[12]]), hist) == [[12, 13]]
    assert rep.score(_t([1], [40], [[12]]), hist)["map@2"] == 1.0
    assert pop.score(rows)["map@2"] == pytest.approx(0.5)


def test_names_per_task_and_unknown_name() -> None:
    assert trivial_names(_Task("binary", "auroc")) == ("prior", "last_value", "past_mean")
    static = _Task("regression", "mae")
    static.window = None  # type: ignore[assignment]
    assert trivial_names(static) == ("mean", "median")
    with pytest.raises(TrainingError, match="no trivial baseline 'popularity' for binary"):
        TrivialBaseline("popularity", _Task("binary", "auroc"))


def _c(name: str, val: float, test: float = np.nan) -> Candidate:
    return Candidate(name, {"rolling": {"val": {"mae": val}, "test": {"mae": test}}})


def test_selection_on_validation_trivial_wins_ties() -> None:
    cands = [_c("gnn", 2.0, 1.0), _c("trivial:mean", 2.0, 3.0), _c("lightgbm", 2.5, 0.5)]
    # Test figures never decide: lightgbm's test MAE is best but its val is worst.
    assert select(cands, "mae", "rolling") == "trivial:mean"
    assert ranking(cands, "mae", "rolling")[0].name == "trivial:mean"
    w = selection_warnings(cands, "mae", "rolling", "trivial:mean")
    assert len(w) == 1 and "predict uses the trivial baseline" in w[0]
    cands = [_c("gnn", 1.9, 4.0), _c("trivial:mean", 2.0, 3.0)]
    assert select(cands, "mae", "rolling") == "gnn"
    assert "better on test" in selection_warnings(cands, "mae", "rolling", "gnn")[0]
    nan = [_c("gnn", np.nan), _c("trivial:mean", 5.0)]
    assert select(nan, "mae", "rolling") == "trivial:mean"


def test_with_gaps_adds_a_copy_whose_inputs_stop_before_the_anchor() -> None:
    from relgraph.train.protocol import INPUT_TIMESTAMP, with_gaps

    rows = _t([1, 2, 3], [100, 200, 300], [0.0, 1.0, 0.0])
    out = with_gaps(rows, timedelta(days=60), seed=1)
    assert out.num_rows == 6
    assert out.column("TARGET").to_pylist() == [0.0, 1.0, 0.0] * 2
    a = out.column("ANCHOR_TIMESTAMP").to_pylist()
    inp = out.column(INPUT_TIMESTAMP).to_pylist()
    assert inp[:3] == a[:3]
    assert all(
        timedelta(0) <= x - y <= timedelta(days=60) for x, y in zip(a[3:], inp[3:], strict=True)
    )
    assert with_gaps(rows, timedelta(0)).equals(rows)
