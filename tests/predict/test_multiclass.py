"""A multiclass query end to end: ``relgraph train --json`` → ``predict`` (test and "now").

Generated data: each user orders mostly through one preferred channel (app, store or
web), so the next order's channel is predictable from the user's past orders (chance
is one in three). A quarter of the users stop ordering early; the query's WHERE keeps
only users active in the last 90 days, and "now" predictions must honour it too.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app

CHANNELS = ("app", "store", "web")
START = datetime(2024, 1, 1)
QUERY = (
    "PREDICT FIRST(orders.channel, 0, 30, days) FOR EACH users.user_id "
    "WHERE COUNT(orders.*, -90, 0, days) > 0"
)
SCHEMA = """tables:
  users: {primary_key: user_id, time: null, columns: {age: numerical}}
  orders:
    primary_key: order_id
    time: ordered_at
    foreign_keys: {user_id: users}
    columns: {channel: categorical, quantity: numerical}
"""


def write_channels(folder: Path, num_users: int = 60, seed: int = 0) -> dict[int, datetime]:
    """Write the CSVs; returns each user's last order time."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, last = [], {}
    oid = 0
    for u in range(num_users):
        preferred = int(rng.integers(0, 3))
        span = 120.0 if u % 4 == 0 else 360.0  # every fourth user stops early
        for d in np.sort(rng.uniform(0, span, int(rng.integers(8, 16)))):
            channel = preferred if rng.random() < 0.85 else int(rng.integers(0, 3))
            t = START + timedelta(days=float(d))
            when = f"{t:%Y-%m-%d %H:%M:%S}"
            rows.append(f"{oid},{u},{CHANNELS[channel]},{int(rng.integers(1, 5))},{when}\n")
            last[u] = datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
            oid += 1
    (folder / "users.csv").write_text(
        "user_id,age\n" + "".join(f"{u},{int(rng.integers(18, 80))}\n" for u in range(num_users))
    )
    (folder / "orders.csv").write_text(
        "order_id,user_id,channel,quantity,ordered_at\n" + "".join(rows)
    )
    (folder / "schema.yaml").write_text(SCHEMA)
    return last


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any], dict[int, datetime]]:
    root = Path(tmp_path_factory.mktemp("channels"))
    last = write_channels(root / "src")
    ws = root / "ws"
    api.ingest(str(root / "src"), workspace=ws)
    res = CliRunner().invoke(
        app, ["train", QUERY, "-w", str(ws), "--budget", "fast", "--minutes", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    return ws, json.loads(res.stdout), last


def test_train_json_reports_val_and_test_for_both_models(trained) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = trained
    assert out["task"]["task_type"] == "multiclass"
    assert out["task"]["classes"] == list(CHANNELS)
    assert out["metric"] == "accuracy"
    for model in ("gnn", "lightgbm"):
        for split in ("val", "test"):
            scores = out[model][split]
            assert set(scores) >= {"accuracy", "macro_f1"}, (model, split)
            assert all(0.0 <= v <= 1.0 for v in scores.values())
    # The preferred channel is in each user's past orders: the GNN beats chance (1/3).
    assert out["gnn"]["test"]["accuracy"] > 0.6


def _check_class_rows(t: pa.Table) -> pa.Table:
    """Every entity has one row per class, ranked by a probability; returns the RANK-1 rows."""
    assert t.column("CLASS").type == pa.string()
    assert set(t.column("CLASS").to_pylist()) <= set(CHANNELS)
    per_entity = pc.value_counts(
        pc.binary_join_element_wise(
            pc.cast(t.column("ENTITY"), pa.string()),
            pc.cast(t.column("ANCHOR_TIMESTAMP"), pa.string()),
            "|",
        )
    )
    assert {c["counts"] for c in per_entity.to_pylist()} == {len(CHANNELS)}
    df = t.select(["ENTITY", "ANCHOR_TIMESTAMP", "CLASS", "SCORE", "RANK"]).to_pandas()
    sums = df.groupby(["ENTITY", "ANCHOR_TIMESTAMP"])["SCORE"].sum()
    assert np.allclose(sums.to_numpy(), 1.0, atol=1e-5)
    best = df.groupby(["ENTITY", "ANCHOR_TIMESTAMP"])["SCORE"].max()
    top = df[df["RANK"] == 1].set_index(["ENTITY", "ANCHOR_TIMESTAMP"])["SCORE"]
    assert np.allclose(top.loc[best.index].to_numpy(), best.to_numpy())
    return t.filter(pc.equal(t.column("RANK"), 1))


def test_predict_writes_class_labels_and_probabilities(trained) -> None:  # type: ignore[no-untyped-def]
    ws, out, _ = trained
    pred = api.predict(out["model_id"], workspace=ws)
    t = pq.read_table(pred.destination)
    top = _check_class_rows(t)
    assert top.num_rows == out["rows"]["test"]
    # The predicted class (a label, not an index) scores as the stored model did.
    labels = api.training_tables(QUERY, workspace=ws).test_labels()
    truth = {
        (e, a): CHANNELS[c]
        for e, a, c in zip(
            labels.column("ENTITY").to_pylist(),
            labels.column("ANCHOR_TIMESTAMP").to_pylist(),
            labels.column("TARGET").to_pylist(),
            strict=True,
        )
    }
    hits = [
        truth[(e, a)] == c
        for e, a, c in zip(
            top.column("ENTITY").to_pylist(),
            top.column("ANCHOR_TIMESTAMP").to_pylist(),
            top.column("CLASS").to_pylist(),
            strict=True,
        )
    ]
    # predict used the candidate chosen on validation; its test figure is the rolling one
    # (predict scores the test rows as they are).
    assert pred.model_kind == out["selected"]
    want = out["candidates"][out["selected"]]["scores"]["rolling"]["test"]["accuracy"]
    assert np.mean(hits) == pytest.approx(want, abs=1e-6)
    assert pred.metrics["accuracy"] == pytest.approx(want, abs=1e-6)


def test_predict_now_keeps_the_where_filter(trained) -> None:  # type: ignore[no-untyped-def]
    ws, out, last = trained
    now = api.predict(out["model_id"], workspace=ws, split="now")
    top = _check_class_rows(now.table)
    latest = max(last.values())
    assert set(top.column("ANCHOR_TIMESTAMP").to_pylist()) == {latest}
    active = {u for u, t in last.items() if t > latest - timedelta(days=90)}
    assert 0 < len(active) < len(last)  # the early stoppers are left out
    assert sorted(top.column("ENTITY").to_pylist()) == sorted(active)
