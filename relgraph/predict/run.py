"""Batch inference with a stored model: predictions and embeddings, to Parquet or SQL.

Output columns (Kumo's names): ``ENTITY``, ``ANCHOR_TIMESTAMP``, then
- binary: ``PREDICTION`` (bool) and ``TRUE_PROB``;
- regression: ``PREDICTION``;
- multiclass and link (``RANK TOP k``): one row per (entity, candidate) with
  ``CLASS``, ``SCORE`` and ``RANK`` (1 = best);
and ``EMBEDDING`` (the entity's GNN embedding; on ``RANK`` 1 rows only for ranked
outputs), ``MODEL_ID`` and ``SNAPSHOT_ID`` on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph._sql import quote_ident
from relgraph.errors import QueryError, TrainingError
from relgraph.graph.features import build_features
from relgraph.nn.model import ModelConfig
from relgraph.predict.models import Predictor, chosen_kind, load_predictor, owned_items
from relgraph.predict.sinks import write_parquet, write_sql
from relgraph.query.task import hidden_columns
from relgraph.store.paths import table_stem
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace
from relgraph.train.artifacts import ModelFiles, load_model
from relgraph.train.candidates import is_trivial
from relgraph.train.loop import GNNTrainer

SPLITS = ("test", "now")


@dataclass
class PredictResult:
    """Where the predictions went and how many rows there are."""

    model_id: str
    snapshot_id: str
    split: str
    rows: int
    destination: str
    table: pa.Table
    metrics: dict[str, float] | None = None
    # The candidate that predicted, and the one chosen on validation at training.
    model_kind: str = "gnn"
    selected: str = "gnn"

    def __repr__(self) -> str:
        return (
            f"PredictResult({self.model_id!r}, split={self.split!r}, rows={self.rows}, "
            f"model_kind={self.model_kind!r}, to={self.destination!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "snapshot_id": self.snapshot_id,
            "split": self.split,
            "rows": self.rows,
            "destination": self.destination,
            "columns": self.table.column_names,
            "metrics": self.metrics,
            "model_kind": self.model_kind,
            "selected": self.selected,
        }


class _Task:
    """A stored task description read back from ``model.json`` (no query compile needed)."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.query = d["query"]
        self.entity_table = d["entity_table"]
        self.entity_column = d["entity_column"]
        self.task_type = d["task_type"]
        self.metric = d["metric"]
        self.k = d.get("k")
        self.target_entity_table = d.get("target_entity_table")
        self.classes = tuple(d["classes"]) if d.get("classes") is not None else None
        self.window = d.get("window_seconds")


def load_trainer(files: ModelFiles, snapshot: Snapshot) -> GNNTrainer:
    """The stored GNN, ready to predict on ``snapshot``."""
    from relgraph.graph import build_graph

    state = files.meta.get("gnn_state")
    if state is None:
        raise TrainingError(f"model '{files.model_id}' has no GNN (it was trained with --no-gnn)")
    trainer = GNNTrainer(
        task=_Task(files.meta["task"]),
        graph=build_graph(snapshot),
        # As in training: a static target's own column is no input.
        features=build_features(snapshot).without(hidden_columns(files.meta["task"]["query"])),
        config=ModelConfig.from_dict(files.meta["config"]),
        seed=int(files.meta.get("seed", 0)),
        seen=owned_items(files, snapshot),
    )
    weights = files.gnn_state()
    if snapshot.id != files.snapshot_id and trainer.kind != "link":
        # Another (newer) snapshot: its categories may have grown or been reordered.
        from relgraph.train.warm import weights_for

        trainer._num_classes = int(state.get("num_classes") or 0)  # what _build_model reads
        weights = weights_for(files, trainer._build_model().state_dict(), trainer.features)
    return trainer.restore(state, weights)


def latest_time(snapshot: Snapshot) -> datetime | None:
    """The latest row time in the snapshot ("now"); None when no table has a time."""
    from relgraph.query.table import time_range

    con = snapshot.duckdb()
    try:
        _, latest = time_range(snapshot, con)
        return latest
    except QueryError:  # no time column anywhere: a static task
        return None
    finally:
        con.close()


def entity_rows(snapshot: Snapshot, table: str, column: str, anchor: datetime) -> pa.Table:
    """Every distinct key of ``table.column`` (sorted) as ``ENTITY``, all at ``anchor``."""
    con = snapshot.duckdb()
    try:
        col = quote_ident(column)
        keys = con.execute(
            f"SELECT DISTINCT {col} FROM {quote_ident(table)} WHERE {col} IS NOT NULL ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return pa.table(
        {
            "ENTITY": pa.array([k[0] for k in keys]),
            "ANCHOR_TIMESTAMP": pa.array([anchor] * len(keys), pa.timestamp("us")),
        }
    )


def now_table(snapshot: Snapshot, task: Any) -> pa.Table:
    """The rows to predict "now": anchored at the latest time in the snapshot.

    They are the entities the query's training rows are drawn from, as of that time:
    those that exist then, match its ``FOR ... IN (...)`` and pass its ``WHERE``.
    ``ASSUMING`` speaks of the future, so it cannot filter rows now; a prediction made
    now is one made assuming it holds.
    """
    from relgraph.query import prediction_rows

    latest = latest_time(snapshot) or datetime.now().replace(microsecond=0)
    con = snapshot.duckdb()
    try:
        return prediction_rows(snapshot, task.query, [latest], con=con)
    finally:
        con.close()


def prediction_table(
    model: GNNTrainer | Predictor,
    rows: pa.Table,
    model_id: str,
    snapshot: Snapshot,
    *,
    embedding: bool = True,
) -> pa.Table:
    """Kumo-style output rows for ``rows`` (ENTITY, ANCHOR_TIMESTAMP).

    ``model``: a stored candidate (:class:`Predictor`) or a bare GNN trainer.
    ``EMBEDDING`` (the entity's GNN embedding) is written when the model has a GNN,
    whichever candidate made the predictions, and ``embedding`` is true (online
    requests skip that second pass unless they ask for it).
    """
    pred = model if isinstance(model, Predictor) else Predictor("gnn", model.task, gnn=model)
    kind = pred.task_type
    n = rows.num_rows
    emb = pred.embed(rows) if n and embedding else None
    if embedding and pred.channels is not None and emb is None:
        emb = np.zeros((0, pred.channels), np.float32)
    emb_type = pa.list_(pa.float32())
    base: dict[str, Any] = {
        "ENTITY": rows.column("ENTITY"),
        "ANCHOR_TIMESTAMP": rows.column("ANCHOR_TIMESTAMP").cast(pa.timestamp("us")),
    }
    if kind in ("binary", "regression"):
        out = pred.predict_raw(rows) if n else np.zeros(0)
        cols = dict(base)
        if kind == "binary":
            cols["PREDICTION"] = pa.array(out >= 0.5)
            cols["TRUE_PROB"] = pa.array(out.astype(np.float64))
        else:
            cols["PREDICTION"] = pa.array(out.astype(np.float64))
        if emb is not None:
            cols["EMBEDDING"] = pa.array(list(emb.astype(np.float32)), emb_type)
        table = pa.table(cols)
    else:
        if kind == "multiclass":
            prob = pred.predict_raw(rows) if n else np.zeros((0, 1))
            order = np.argsort(-prob, axis=1)
            scores = np.take_along_axis(prob, order, axis=1).tolist()
            classes = pred.task.classes or tuple(range(prob.shape[1]))
            labels = [[classes[j] for j in r] for r in order]
        elif kind == "link":
            k = int(pred.task.k or 10)
            labels, scores = pred.rank_keys(rows, k, snapshot) if n else ([], [])
        else:
            raise TrainingError(f"cannot write predictions for task type '{kind}'")
        rep = np.asarray([i for i, r in enumerate(labels) for _ in r], dtype=np.int64)
        rank = np.asarray([j + 1 for r in labels for j in range(len(r))], dtype=np.int64)
        cols = {
            "ENTITY": base["ENTITY"].take(pa.array(rep, pa.int64())),
            "ANCHOR_TIMESTAMP": base["ANCHOR_TIMESTAMP"].take(pa.array(rep, pa.int64())),
            "CLASS": pa.array([c for r in labels for c in r]),
            "SCORE": pa.array([float(v) for r in scores for v in r], pa.float64()),
            "RANK": pa.array(rank, pa.int64()),
        }
        if emb is not None:
            flat_emb = [emb[i] if r == 1 else None for i, r in zip(rep, rank, strict=True)]
            cols["EMBEDDING"] = pa.array(flat_emb, emb_type)
        table = pa.table(cols)
    m = table.num_rows
    return table.append_column("MODEL_ID", pa.array([model_id] * m)).append_column(
        "SNAPSHOT_ID", pa.array([snapshot.id] * m)
    )


def predict_model(
    model_id: str,
    *,
    workspace: str | Path,
    split: str = "test",
    to: str | None = None,
    snapshot_id: str | None = None,
    model_kind: str | None = None,
) -> PredictResult:
    """Predict with a stored model on its test split or "now" and write the rows.

    ``model_kind``: the candidate to predict with (``gnn``, ``lightgbm``, ``ensemble``,
    ``trivial:<name>``); by default the one chosen on validation at training time.
    """
    if split not in SPLITS:
        raise TrainingError(f"unknown split '{split}'; use one of: {', '.join(SPLITS)}")
    files = load_model(workspace, model_id)
    model_id = files.model_id  # the full id when a unique prefix was given
    snap = Workspace(workspace).snapshot(snapshot_id or files.snapshot_id)
    kind = chosen_kind(files, model_kind)
    metrics = None
    tables = None
    if split == "test" or is_trivial(kind):
        # The test rows, and the labelled past that trivial baselines read.
        from relgraph.query import build_task_tables

        tables = build_task_tables(
            snap, files.meta["query"], val_cutoff=files.meta.get("val_cutoff"),
            test_cutoff=files.meta.get("test_cutoff"),
        )  # fmt: skip
    history = None
    if tables is not None and is_trivial(kind):
        from relgraph.train.run import label_history

        history = label_history(tables.train.table, tables.val.table, tables.test_labels())
    model = load_predictor(files, snap, kind, gnn_loader=load_trainer, history=history)
    if split == "test":
        assert tables is not None
        rows = tables.test.table
        labels = tables.test_labels()
        if labels.num_rows:
            metrics = model.score(labels, snap)
    else:
        rows = now_table(snap, model.task)
    table = prediction_table(model, rows, model_id, snap)
    if to is None:
        dest = Path(workspace) / "outputs" / model_id / f"predictions-{split}.parquet"
        destination = str(write_parquet(table, dest))
    elif "://" not in to and to.endswith(".parquet"):
        # A plain file path: the jobs' predict step writes into its own output folder.
        destination = str(write_parquet(table, Path(to)))
    else:
        destination = write_sql(table, to, model_id)
    return PredictResult(
        model_id=model_id,
        snapshot_id=snap.id,
        split=split,
        rows=table.num_rows,
        destination=destination,
        table=table,
        metrics=metrics,
        model_kind=kind,
        selected=str(files.meta.get("selected") or "gnn"),
    )


@dataclass
class EmbedResult:
    """GNN entity embeddings written by :func:`embed_entities`."""

    model_id: str
    snapshot_id: str
    entity_table: str
    anchor: datetime
    rows: int
    dim: int
    destination: str
    table: pa.Table

    def __repr__(self) -> str:
        return (
            f"EmbedResult({self.model_id!r}, table={self.entity_table!r}, rows={self.rows}, "
            f"dim={self.dim})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "snapshot_id": self.snapshot_id,
            "table": self.entity_table,
            "anchor": self.anchor.isoformat(),
            "rows": self.rows,
            "dim": self.dim,
            "destination": self.destination,
            "columns": self.table.column_names,
        }


def embed_entities(
    model_id: str,
    *,
    workspace: str | Path,
    table: str | None = None,
    at: str | datetime | None = None,
    to: str | Path | None = None,
    snapshot_id: str | None = None,
) -> EmbedResult:
    """One GNN embedding per row of an entity table, as of one anchor time, to Parquet.

    Columns: ``ENTITY`` (the primary key), ``ANCHOR_TIMESTAMP``, ``embedding``
    (fixed-size list<float32>, the trunk's ``channels``), ``MODEL_ID``, ``SNAPSHOT_ID``
    — the layout that ``relgraph.analyze`` (cluster, project) reads.

    Args:
        model_id: a stored model (``relgraph models``).
        table: the table to embed (default: the model's entity table; another table's
            rows go through the same trunk, without the task's head).
        at: ``"now"`` (default: the latest time in the snapshot), ``"test"`` (the
            model's test cut-off) or an ISO date/time; the trunk sees rows up to it.
        to: a ``.parquet`` path (default
            ``workspace/outputs/<model>/embeddings-<stem>.parquet``, the table's
            :func:`~relgraph.store.paths.table_stem`).
        snapshot_id: embed on another snapshot (default: the model's).
    """
    from relgraph.analyze.embeddings import EMBEDDING

    files = load_model(workspace, model_id)
    model_id = files.model_id  # the full id when a unique prefix was given
    snap = Workspace(workspace).snapshot(snapshot_id or files.snapshot_id)
    trainer = load_trainer(files, snap)
    name = table or trainer.task.entity_table
    if name not in snap.schema.tables:
        raise TrainingError(
            f"cannot embed table '{name}': snapshot {snap.id} has no such table; "
            f"tables: {', '.join(sorted(snap.schema.tables))}"
        )
    pkey = snap.schema[name].primary_key
    if not pkey:
        raise TrainingError(
            f"cannot embed table '{name}': it has no primary key, and embeddings are keyed "
            "by entity; declare one in the schema (primary_key:) or embed another table"
        )
    anchor = _anchor(at, snap, files)
    rows = entity_rows(snap, name, pkey, anchor)
    dim = trainer.config.channels
    emb = trainer.embed(rows, node_table=name) if rows.num_rows else np.zeros((0, dim), np.float32)
    flat = pa.array(np.ascontiguousarray(emb, dtype=np.float32).reshape(-1))
    n = rows.num_rows
    out = pa.table(
        {
            "ENTITY": rows.column("ENTITY"),
            "ANCHOR_TIMESTAMP": rows.column("ANCHOR_TIMESTAMP"),
            EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, dim),
            "MODEL_ID": pa.array([model_id] * n, pa.string()),
            "SNAPSHOT_ID": pa.array([snap.id] * n, pa.string()),
        }
    )
    dest = (
        Path(to)
        if to is not None
        else Path(workspace) / "outputs" / model_id / f"embeddings-{table_stem(name)}.parquet"
    )
    if dest.suffix != ".parquet":
        raise TrainingError(f"embeddings are written as Parquet: '{dest}' must end in .parquet")
    return EmbedResult(
        model_id=model_id,
        snapshot_id=snap.id,
        entity_table=name,
        anchor=anchor,
        rows=n,
        dim=dim,
        destination=str(write_parquet(out, dest)),
        table=out,
    )


def _anchor(at: str | datetime | None, snap: Snapshot, files: ModelFiles) -> datetime:
    if isinstance(at, datetime):
        return at
    if at is None or at == "now":
        return latest_time(snap) or datetime.now()
    if at == "test":
        cut = files.meta.get("test_cutoff")
        if not cut:
            raise TrainingError(f"model '{files.model_id}' stores no test cut-off; use at='now'")
        return datetime.fromisoformat(str(cut))
    try:
        return datetime.fromisoformat(at)
    except ValueError as e:
        raise TrainingError(
            f"unknown anchor '{at}': use 'now', 'test' or an ISO date such as 2010-01-01"
        ) from e
