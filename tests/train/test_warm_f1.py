"""Warm start on a grown F1: a model of the data up to 2015 continues on the full data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relgraph import api
from relgraph.errors import TrainingError
from relgraph.testing.grow import write_f1_cut

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"
QUERY = (
    "PREDICT MIN(qualifying.position, 0, 30, days) <= 3 FOR EACH drivers.driverId "
    "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"
)


@pytest.mark.long
def test_warm_start_continues_a_2015_model_on_the_full_data(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cut = write_f1_cut(F1, tmp_path / "f1-2015", 2015)
    old_snap = api.ingest(str(cut), workspace=ws).snapshot.id
    old = api.train(QUERY, workspace=ws, snapshot=old_snap, budget="fast", minutes=1,
                    baseline=False)  # fmt: skip
    new_snap = api.ingest(str(F1), workspace=ws).snapshot.id
    # The full data has drivers (new entities) and values the cut never saw.
    assert (
        api.drift(new_snap, workspace=ws, old_snapshot=old_snap).rows["drivers"]["new"]
        > (api.drift(new_snap, workspace=ws, old_snapshot=old_snap).rows["drivers"]["old"])
    )
    warm = api.train(QUERY, workspace=ws, snapshot=new_snap, budget="fast", minutes=1,
                     baseline=False, warm_start=old.model_id)  # fmt: skip
    assert warm.warm_start is not None and warm.warm_start["model_id"] == old.model_id
    assert warm.warm_start["tensors_loaded"] > 0
    assert warm.config.to_dict() == old.config.to_dict()  # the same configuration
    assert np.isfinite(warm.gnn.test["auroc"])
    # Inference types races' practice-session columns differently once they have values
    # (all empty up to 2015): the warm start re-learns that table's encoder, and the
    # 2015 model's GNN cannot read the full snapshot's races; it says so and what to do.
    assert warm.warm_start["tensors_loaded"] < len(api_state_names(ws, warm.model_id))
    with pytest.raises(TrainingError, match=r"does not fit this snapshot's columns.*--warm-start"):
        api.predict(old.model_id, workspace=ws, snapshot=new_snap, split="now", model_kind="gnn")


def api_state_names(ws: Path, model_id: str) -> list[str]:
    from relgraph.train.artifacts import load_model

    return list(load_model(ws, model_id).gnn_state())
