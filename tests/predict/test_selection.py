"""predict uses the candidate chosen on validation, or the one --model-kind names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relgraph import api
from relgraph.errors import TrainingError
from relgraph.testing import planted_snapshot
from relgraph.train.candidates import within_noise

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH users.user_id"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Path(tmp_path_factory.mktemp("ws"))
    planted_snapshot(ws, num_users=80, num_items=20)
    return ws, api.train(QUERY, workspace=ws, budget="fast", minutes=1)


def test_every_candidate_is_reported_under_both_protocols(trained) -> None:  # type: ignore[no-untyped-def]
    _ws, r = trained
    names = {c.name for c in r.candidates}
    assert {"gnn", "lightgbm", "ensemble", "trivial:mean", "trivial:median"} <= names
    assert {"trivial:last_value", "trivial:past_mean"} <= names
    d = r.to_dict()
    assert d["protocol"] == "rolling" and d["selected"] in names
    for c in d["candidates"].values():
        assert set(c["scores"]) == {"frozen", "rolling"}
        assert "mae" in c["scores"]["rolling"]["test"]
    # The selected candidate is the best on validation, whatever test says (among those
    # not within noise of the best trivial baseline).
    eligible = [c for c in r.candidates if not within_noise(c, "rolling")]
    best = min(eligible, key=lambda c: c.value("rolling", "val", "mae"))
    assert r.selected == best.name or best.value("rolling", "val", "mae") == r.candidate(
        r.selected
    ).value("rolling", "val", "mae")


def test_predict_uses_the_selected_candidate(trained) -> None:  # type: ignore[no-untyped-def]
    ws, r = trained
    pred = api.predict(r.model_id, workspace=ws)
    assert pred.model_kind == r.selected == pred.to_dict()["selected"]
    want = r.candidate(r.selected).value("rolling", "test", "mae")
    assert pred.metrics["mae"] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("kind", ["lightgbm", "ensemble", "trivial:median", "mean"])
def test_model_kind_picks_another_candidate(trained, kind: str) -> None:  # type: ignore[no-untyped-def]
    ws, r = trained
    pred = api.predict(r.model_id, workspace=ws, model_kind=kind)
    name = kind if kind in {c.name for c in r.candidates} else "trivial:" + kind
    assert pred.model_kind == name
    assert pred.metrics["mae"] == pytest.approx(
        r.candidate(name).value("rolling", "test", "mae"), rel=1e-6
    )
    if name.startswith("trivial:"):
        assert "EMBEDDING" in pred.table.column_names  # the GNN's, whoever predicts
        assert len(np.unique(pred.table.column("PREDICTION").to_numpy())) == 1
        now = api.predict(r.model_id, workspace=ws, model_kind=kind, split="now")
        assert now.rows == 80


def test_unknown_model_kind_names_the_candidates(trained) -> None:  # type: ignore[no-untyped-def]
    ws, r = trained
    with pytest.raises(TrainingError, match=r"no candidate 'svm'.*gnn"):
        api.predict(r.model_id, workspace=ws, model_kind="svm")
