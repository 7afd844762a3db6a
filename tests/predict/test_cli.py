"""``relgraph train`` / ``predict`` / ``models`` through the Typer app."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.testing import planted_snapshot

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.mark.slow
def test_train_then_predict_json(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    planted_snapshot(ws, num_users=60, num_items=12)
    runner = CliRunner()
    res = runner.invoke(
        app, ["train", QUERY, "-w", str(ws), "--budget", "fast", "--minutes", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    assert trained["metric"] == "auroc" and "auroc" in trained["gnn"]["test"]
    assert "auroc" in trained["lightgbm"]["test"]
    db = tmp_path / "p.db"
    res = runner.invoke(
        app, ["predict", trained["model_id"], "-w", str(ws), "--to", f"sqlite:///{db}", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"] == trained["rows"]["test"]
    with sqlite3.connect(db) as con:
        (n,) = con.execute("SELECT count(*) FROM relgraph_predictions").fetchone()
    assert n == trained["rows"]["test"]
    res = runner.invoke(app, ["models", "-w", str(ws), "--json"])
    assert [m["model_id"] for m in json.loads(res.stdout)["models"]] == [trained["model_id"]]


def test_bad_budget_exits_with_training_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    planted_snapshot(ws, num_users=20, num_items=6)
    res = CliRunner().invoke(app, ["train", QUERY, "-w", str(ws), "--budget", "huge", "--json"])
    assert res.exit_code != 0
    assert "unknown budget 'huge'" in json.loads(res.stdout)["message"]
