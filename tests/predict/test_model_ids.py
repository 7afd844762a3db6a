"""Model ids on the command line: unique prefixes, ambiguity, hostile ids, bad --to folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.errors import StoreError
from relgraph.train.artifacts import MODEL_JSON, load_model


def _model(ws: Path, model_id: str) -> None:
    d = ws / "models" / model_id
    d.mkdir(parents=True)
    (d / MODEL_JSON).write_text(json.dumps({"snapshot_id": "abc", "model_id": model_id}))


def test_a_unique_prefix_names_a_model(tmp_path: Path) -> None:
    _model(tmp_path, "drivers-20261207-101500-aaaaaa")
    _model(tmp_path, "drivers-20261207-111500-bbbbbb")
    _model(tmp_path, "races-20261207-101500-cccccc")
    assert load_model(tmp_path, "races").model_id == "races-20261207-101500-cccccc"
    full = "drivers-20261207-111500-bbbbbb"
    assert load_model(tmp_path, full).model_id == full
    assert load_model(tmp_path, "drivers-20261207-11").path == tmp_path / "models" / full
    with pytest.raises(StoreError, match="prefix 'drivers' is ambiguous: drivers-2026"):
        load_model(tmp_path, "drivers")
    with pytest.raises(StoreError, match="no model 'teams' in workspace"):
        load_model(tmp_path, "teams")
    for hostile in ("../models/races-20261207-101500-cccccc", ".hidden", "a/b", ""):
        with pytest.raises(StoreError, match="invalid model id"):
            load_model(tmp_path, hostile)


def test_predict_refuses_a_to_folder_that_does_not_exist(tmp_path: Path) -> None:
    _model(tmp_path, "races-20261207-101500-cccccc")
    target = tmp_path / "no" / "such" / "p.parquet"
    res = CliRunner().invoke(
        app, ["predict", "races", "-w", str(tmp_path), "--to", str(target), "--json"]
    )
    assert res.exit_code == StoreError.exit_code
    assert "does not exist; create it first" in json.loads(res.stdout)["message"]
    assert not (tmp_path / "no").exists()
