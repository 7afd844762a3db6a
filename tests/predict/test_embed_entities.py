"""GNN entity embeddings from a trained model (api.embed_entities, `relgraph embed`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.analyze import load_embeddings
from relgraph.cli import app
from relgraph.errors import TrainingError
from relgraph.testing import planted_snapshot

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Path(tmp_path_factory.mktemp("ws"))
    planted_snapshot(ws, num_users=50, num_items=12)
    result = api.train(QUERY, workspace=ws, budget="fast", minutes=1, baseline=False)
    return ws, result


def test_one_row_per_entity_with_the_model_width(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    res = api.embed_entities(result.model_id, workspace=ws, to=tmp_path / "e.parquet")
    t = pq.read_table(tmp_path / "e.parquet")
    assert t.column_names == ["ENTITY", "ANCHOR_TIMESTAMP", "embedding", "MODEL_ID", "SNAPSHOT_ID"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), result.config.channels)
    users = api.snapshot(workspace=ws).read_table("users").column("user_id").to_pylist()
    assert sorted(t.column("ENTITY").to_pylist()) == sorted(users)
    assert res.rows == t.num_rows == len(users) and res.dim == result.config.channels
    assert set(t.column("MODEL_ID").to_pylist()) == {result.model_id}
    assert set(t.column("SNAPSHOT_ID").to_pylist()) == {result.snapshot_id}
    assert len(set(t.column("ANCHOR_TIMESTAMP").to_pylist())) == 1
    emb = load_embeddings(tmp_path / "e.parquet")  # what cluster/project read
    assert emb.matrix.shape == (len(users), result.config.channels)
    assert np.isfinite(emb.matrix).all() and emb.matrix.std(axis=0).max() > 0


def test_embeddings_are_deterministic(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    a = api.embed_entities(result.model_id, workspace=ws, to=tmp_path / "a.parquet").table
    b = api.embed_entities(result.model_id, workspace=ws, to=tmp_path / "b.parquet").table
    assert a.equals(b)


def test_anchor_and_other_tables(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    test = api.embed_entities(result.model_id, workspace=ws, at="test", to=tmp_path / "t.parquet")
    cut = json.loads((result.path / "model.json").read_text())["test_cutoff"]
    assert test.anchor == datetime.fromisoformat(cut)
    now = api.embed_entities(result.model_id, workspace=ws, to=tmp_path / "n.parquet")
    assert now.anchor > test.anchor
    # Seen at another time, with other rows visible, an entity embeds differently.
    assert not np.allclose(
        load_embeddings(test.destination).matrix, load_embeddings(now.destination).matrix
    )
    items = api.embed_entities(result.model_id, workspace=ws, table="items")
    assert items.rows == 12 and Path(items.destination).is_file()
    with pytest.raises(TrainingError, match="no such table"):
        api.embed_entities(result.model_id, workspace=ws, table="nope")
    with pytest.raises(TrainingError, match="unknown anchor 'soon'"):
        api.embed_entities(result.model_id, workspace=ws, at="soon")


def test_cli_embed(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, result = trained
    dest = tmp_path / "cli.parquet"
    r = CliRunner().invoke(
        app,
        ["embed", "--model", result.model_id, "-w", str(ws), "--to", str(dest), "--json"],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rows"] == 50 and out["destination"] == str(dest) and dest.is_file()
    bad = CliRunner().invoke(app, ["embed", "--model", "nope", "-w", str(ws)])
    assert bad.exit_code != 0 and "no model 'nope'" in bad.output
