"""Owned items in link tasks: as of the anchor, left out of the GNN's top-k, ``auto``'s choice."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from relgraph import api
from relgraph.errors import TrainingError
from relgraph.query import build_task_tables
from relgraph.train.metrics import key_link_metrics
from relgraph.train.seen import SeenItems, decide, repeat_rate

QUERY = "PREDICT LIST_DISTINCT(orders.item_id, 0, 7, days) RANK TOP 3 FOR EACH users.user_id"
START = datetime(2024, 1, 1)
N_USERS, N_ITEMS = 24, 12


def _write(folder: Path, *, repeats: bool, seed: int = 0) -> Path:
    """users, items, orders over 20 weeks: each user buys a few items a week.

    ``repeats``: from a personal set of 3 items, again and again; otherwise each
    item at most once (ratings-like).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    orders: list[tuple[int, int, int, str]] = []
    for u in range(N_USERS):
        mine = rng.choice(N_ITEMS, 3, replace=False)
        fresh = list(rng.permutation(N_ITEMS))
        for week in range(20):
            for _ in range(int(rng.integers(0, 2)) + 1):
                if repeats:
                    item = int(rng.choice(mine))
                elif fresh:
                    item = int(fresh.pop())
                else:
                    continue
                t = START + timedelta(days=7 * week + float(rng.uniform(0, 7)))
                orders.append((len(orders) + 1, u + 1, item + 1, t.isoformat(sep=" ")))
    _csv(folder / "users.csv", ["user_id", "age"], [(u + 1, 20 + u) for u in range(N_USERS)])
    _csv(folder / "items.csv", ["item_id", "price"], [(i + 1, 5 + i) for i in range(N_ITEMS)])
    _csv(folder / "orders.csv", ["order_id", "user_id", "item_id", "ordered_at"], orders)
    return folder


def _csv(path: Path, header: list[str], rows: list[Any]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _snapshot(tmp: Path, *, repeats: bool) -> Any:
    src = _write(tmp / ("rep" if repeats else "once"), repeats=repeats)
    return api.ingest(str(src), workspace=tmp / "ws").snapshot


def test_owned_items_are_those_up_to_the_anchor(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path, repeats=False)
    orders = snap.read_table("orders").to_pylist()
    seen = SeenItems(snap, QUERY)
    anchor = START + timedelta(days=35)
    rows = pa.table(
        {
            "ENTITY": pa.array([1, 2, 1], pa.int64()),
            "ANCHOR_TIMESTAMP": pa.array([anchor, anchor, START], pa.timestamp("us")),
        }
    )
    got = seen.lists(rows)
    for (user, t), had in zip([(1, anchor), (2, anchor), (1, START)], got, strict=True):
        want = {o["item_id"] for o in orders if o["user_id"] == user and o["ordered_at"] <= t}
        assert set(had) == want
    assert got[0] and not got[2]  # bought before day 35; nothing before the first day
    # A later order is not "owned" at the anchor: the exclusion reads no future row.
    later = {o["item_id"] for o in orders if o["user_id"] == 1 and o["ordered_at"] > anchor}
    assert later and not (later & set(got[0]))


def test_auto_excludes_without_repeats_and_keeps_with_them(tmp_path: Path) -> None:
    decisions = {}
    for repeats in (True, False):
        snap = _snapshot(tmp_path / str(repeats), repeats=repeats)
        train = build_task_tables(snap, QUERY).train.table
        rate = repeat_rate(train.column("TARGET").to_pylist(), SeenItems(snap, QUERY).lists(train))
        decisions[repeats] = (rate, decide("auto", rate))
    assert decisions[True][0] > 0.8 and decisions[True][1] is False
    assert decisions[False][0] == 0.0 and decisions[False][1] is True
    assert decide("always", 0.9) and not decide("never", 0.0)
    with pytest.raises(TrainingError, match="exclude_seen"):
        decide("sometimes", 0.0)


def test_gnn_top_k_leaves_owned_items_out(tmp_path: Path) -> None:
    from relgraph.graph import build_graph
    from relgraph.graph.features import build_features
    from relgraph.nn.model import ModelConfig
    from relgraph.train.loop import GNNTrainer

    snap = _snapshot(tmp_path, repeats=True)
    tables = build_task_tables(snap, QUERY)
    graph, feats = build_graph(snap), build_features(snap)
    cfg = ModelConfig(channels=16, num_layers=1, epochs=1, batch_size=64, fanouts=(4,))
    seen = SeenItems(snap, QUERY)
    test = tables.test_labels()
    k = N_ITEMS - 1  # each user owns 3 items: any top-(m-1) without exclusion holds one
    had = seen.lists(test)
    owned_nodes = [set(graph.key_to_node("items", np.asarray(h)).tolist()) for h in had]
    ranked: dict[bool, np.ndarray] = {}
    for excluding in (False, True):
        tr = GNNTrainer(
            task=tables.task, graph=graph, features=feats, config=cfg,
            seen=seen if excluding else None,
        )  # fmt: skip
        tr.fit(tables.train.table, tables.val.table)
        ranked[excluding], _ = tr.rank(test, 3)
        # The GNN's figure is the baselines' function on keys, same rows, same exclusions.
        keys = snap.read_table("items", columns=["item_id"]).column(0).to_pylist()
        as_keys = [[keys[i] for i in r if i >= 0] for r in ranked[excluding]]
        truth = test.column("TARGET").to_pylist()
        assert tr.score(test) == pytest.approx(key_link_metrics(truth, as_keys, 3))
        ranked[excluding], _ = tr.rank(test, k)
    assert any(o & set(r.tolist()) for o, r in zip(owned_nodes, ranked[False], strict=True))
    for o, r in zip(owned_nodes, ranked[True], strict=True):
        assert not (o & set(r.tolist())), "an owned item was ranked"
        assert (r >= 0).sum() == min(k, N_ITEMS - len(o))  # the rest is every other item


@pytest.mark.slow
def test_train_records_the_decision_and_predict_applies_it(tmp_path: Path) -> None:
    from relgraph.train.artifacts import load_model

    snap = _snapshot(tmp_path, repeats=True)
    ws = tmp_path / "ws"
    result = api.train(QUERY, workspace=ws, budget="fast", minutes=0.5, exclude_seen="always")
    assert result.exclude_seen is not None and result.exclude_seen.exclude
    stored = load_model(ws, result.model_id).meta["exclude_seen"]
    assert stored["mode"] == "always" and stored["exclude"] and stored["repeat_rate"] > 0.8
    seen = SeenItems(snap, QUERY)
    for kind in ("gnn", "trivial:popularity"):
        t = api.predict(result.model_id, workspace=ws, model_kind=kind).table
        rows = t.select(["ENTITY", "ANCHOR_TIMESTAMP"])
        for item, had in zip(t.column("CLASS").to_pylist(), seen.lists(rows), strict=True):
            assert item not in had, f"{kind} predicted an owned item"
