"""Train through the facade, then predict to Parquet, SQLite and PostgreSQL and read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import torch

from relgraph import api
from relgraph.errors import SourceError, StoreError
from relgraph.testing import planted_snapshot
from relgraph.train.artifacts import GNN_WEIGHTS, load_model

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Path(tmp_path_factory.mktemp("ws"))
    planted_snapshot(ws, num_users=80, num_items=20)
    result = api.train(QUERY, workspace=ws, budget="fast", minutes=2)
    return ws, result


def test_train_reports_both_models(trained) -> None:  # type: ignore[no-untyped-def]
    _ws, result = trained
    assert result.metric == "auroc"
    assert set(result.gnn.test) >= {"auroc", "ap", "accuracy"}
    assert set(result.baseline.test) >= {"auroc", "ap", "accuracy"}
    assert result.rows["train"] > 0 and result.rows["test"] > 0


def test_model_files_load_with_weights_only(trained) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    state = torch.load(result.path / GNN_WEIGHTS, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    assert load_model(ws, result.model_id).meta["snapshot_id"] == result.snapshot_id
    with pytest.raises(StoreError, match="no model 'nope'"):
        load_model(ws, "nope")


def test_predict_parquet_matches_stored_model(trained) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    pred = api.predict(result.model_id, workspace=ws, model_kind="gnn")
    t = pq.read_table(pred.destination)
    assert t.column_names == [
        "ENTITY", "ANCHOR_TIMESTAMP", "PREDICTION", "TRUE_PROB", "EMBEDDING",
        "MODEL_ID", "SNAPSHOT_ID",
    ]  # fmt: skip
    assert t.num_rows == result.rows["test"]
    assert set(t.column("MODEL_ID").to_pylist()) == {result.model_id}
    assert set(t.column("SNAPSHOT_ID").to_pylist()) == {result.snapshot_id}
    # The reloaded model scores the test split as the trained one did.
    assert pred.metrics["auroc"] == pytest.approx(result.gnn.test["auroc"], abs=1e-6)
    now = api.predict(result.model_id, workspace=ws, split="now")
    assert now.rows == 80  # every user, as of the latest data


def test_predict_to_a_parquet_path(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    dest = tmp_path / "out" / "preds.parquet"
    pred = api.predict(result.model_id, workspace=ws, to=str(dest))
    assert pred.destination == str(dest)
    t = pq.read_table(dest)
    assert t.num_rows == pred.rows == result.rows["test"]
    assert set(t.column("MODEL_ID").to_pylist()) == {result.model_id}


def test_predict_to_sqlite_reads_back(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    db = tmp_path / "out.db"
    for _ in range(2):  # writing twice replaces this model's rows, it does not duplicate them
        pred = api.predict(result.model_id, workspace=ws, to=f"sqlite:///{db}#preds")
    with sqlite3.connect(db) as con:
        rows = con.execute(
            'SELECT "ENTITY", "TRUE_PROB", "MODEL_ID", "SNAPSHOT_ID" FROM preds'
        ).fetchall()
    assert len(rows) == pred.rows
    assert {r[2] for r in rows} == {result.model_id} and {r[3] for r in rows} == {
        result.snapshot_id
    }
    assert all(0.0 <= r[1] <= 1.0 for r in rows)


def test_predict_to_postgres_reads_back(trained, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    pred = api.predict(result.model_id, workspace=ws, to=f"{postgres_url}#rg_preds")
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    with engine.connect() as con:
        n, models = con.execute(
            sa.text('SELECT count(*), count(DISTINCT "MODEL_ID") FROM rg_preds')
        ).fetchall()[0]
    engine.dispose()
    assert (n, models) == (pred.rows, 1)


def test_bad_destination_is_a_clear_error(trained) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    with pytest.raises(SourceError, match="use sqlite:///"):
        api.predict(result.model_id, workspace=ws, to="mysql://x/y")
