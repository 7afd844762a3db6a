"""Pretraining on the bundled F1 data, then driver-top3 from the trunk.

Marked ``long``, not ``slow``: it trains on F1 twice (from the trunk and from scratch)
after embedding F1's text in a fresh workspace, ~8 minutes on 2 cores, which CI's
30-minute budget cannot hold beside the F1 pipeline test. Run it with
``python -m pytest -m long``; tests/train/test_pretrain.py covers the same code on
small data in every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api

pytestmark = [pytest.mark.long, pytest.mark.timeout(1800)]

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
