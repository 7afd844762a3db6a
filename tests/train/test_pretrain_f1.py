"""Pretraining on the bundled F1 data, then driver-top3 from the trunk (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api

pytestmark = pytest.mark.slow

TOP3 = """PREDICT MIN(qualifying.position, 0, 30, days) <= 3
FOR EACH drivers.driverId
ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"""


def test_f1_pretrain_then_top3_from_it(f1_dir: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    api.ingest(str(f1_dir), workspace=ws)
    pre = api.pretrain(workspace=ws, steps=10, until="2010-01-01")
    assert pre.steps == 10 and "drivers" in pre.tables and "results" in pre.tables
    result = api.train(
        TOP3, workspace=ws, budget="fast", baseline=False, val_cutoff="2005-01-01",
        test_cutoff="2010-01-01", from_pretrained=pre.pretrained_id,
    )  # fmt: skip
    p = result.pretraining
    assert p is not None and p.loaded > 0
    assert not result.warnings  # pretrained until the test cut-off: no leakage warning
    assert p.delta["test"]["auroc"] == pytest.approx(
        result.gnn.test["auroc"] - p.scratch.test["auroc"]
    )
    emb = api.embed_entities(result.model_id, workspace=ws, at="test")
    assert emb.rows == api.snapshot(workspace=ws).manifest.row_counts["drivers"]
