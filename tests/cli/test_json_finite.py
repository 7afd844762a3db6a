"""``--json`` output stays valid JSON when a metric is NaN (e.g. AUROC of one class)."""

from __future__ import annotations

import json

import pytest

from relgraph.cli.app import emit_json


def test_nan_and_inf_become_null(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"val": {"auroc": float("nan"), "ap": 0.5}, "xs": [float("inf"), 1.0], "t": (2.0,)})
    out = capsys.readouterr().out
    assert json.loads(out) == {"val": {"auroc": None, "ap": 0.5}, "xs": [None, 1.0], "t": [2.0]}
    assert "NaN" not in out
