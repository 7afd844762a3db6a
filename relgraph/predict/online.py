"""Online predictions: a few entities' scores in milliseconds, with batch prediction's features.

:class:`OnlinePredictor` loads a stored candidate once (:func:`load_predictor`, the
loader batch prediction uses) and keeps what it needs warm: the memory-mapped graph
and the feature frames of one snapshot for the GNN (the snapshot's caches, built once),
a DuckDB connection on the snapshot for LightGBM's as-of aggregates, the entity
table's key index, the link candidates' vectors. A request builds the same
``ENTITY, ANCHOR_TIMESTAMP`` rows a batch would and hands them to
:func:`~relgraph.predict.run.prediction_table`, the batch writer's own function: the
GNN samples each seed from a stream of its own (node, time) (``stable`` batches in
:class:`~relgraph.train.loop.GNNTrainer`), so an entity gets the subgraph it gets in
a batch of any size, and LightGBM runs the very SQL of training. There is no second
feature path to drift from the first.

Anchor time: by default the snapshot's latest row time (what ``relgraph predict
--now`` anchors at), not the wall clock: the snapshot holds no rows after it, and an
anchor weeks past the data would only move the relative-time encodings away from
anything the model saw in training. Pass ``at`` for another time.

:class:`OnlineCache` keeps one predictor per (model, candidate, snapshot): a new
snapshot in the workspace gets new predictors, and the old ones are dropped.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.errors import StoreError, TrainingError
from relgraph.graph.keys import KeyIndex
from relgraph.predict.models import Predictor, chosen_kind, load_predictor
from relgraph.predict.run import latest_time, load_trainer, prediction_table
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace
from relgraph.train.artifacts import ModelFiles, load_model
from relgraph.train.candidates import is_trivial

# Keys per request: a request is answered in one piece, in memory; more is a batch job.
MAX_KEYS = 1000


@dataclass
class KeyResult:
    """One requested key: its prediction, or why there is none."""

    key: Any
    prediction: Any = None
    score: float | None = None
    top: list[dict[str, Any]] | None = None  # multiclass and link: class, score, rank
    embedding: list[float] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key}
        if self.error is not None:
            d["error"] = self.error
            return d
        d["prediction"] = self.prediction
        if self.score is not None:
            d["score"] = self.score
        if self.top is not None:
            d["top"] = self.top
        if self.embedding is not None:
            d["embedding"] = self.embedding
        return d


@dataclass
class OnlineResult:
    """The answer to one request, one :class:`KeyResult` per key in request order."""

    model_id: str
    model_kind: str
    snapshot_id: str
    task_type: str
    anchor: datetime
    results: list[KeyResult]
    table: pa.Table = field(repr=False)  # the batch writer's rows for the known keys

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_kind": self.model_kind,
            "snapshot_id": self.snapshot_id,
            "task_type": self.task_type,
            "anchor": self.anchor.isoformat(),
            "results": [r.to_dict() for r in self.results],
        }


def parse_anchor(at: str | datetime | None, default: datetime) -> datetime:
    """``at`` as a naive datetime (UTC offsets are converted); ``default`` when None/"now"."""
    if at is None or at == "now":
        return default
    if isinstance(at, datetime):
        value = at
    else:
        try:
            value = datetime.fromisoformat(str(at))
        except ValueError as e:
            raise TrainingError(
                f"unknown anchor time {str(at)[:64]!r}: use an ISO date/time such as "
                "2024-03-01 or 2024-03-01T12:00:00, or leave it out for the latest data"
            ) from e
    if value.tzinfo is not None:  # snapshot times are naive UTC
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class OnlinePredictor:
    """One stored candidate on one snapshot, warm, answering requests for a few keys.

    Thread-safe: GNN requests run concurrently (the weights are only read, each call
    samples with a sampler of its own); requests that compute LightGBM's aggregates
    take turns on the predictor's one DuckDB connection.
    """

    def __init__(
        self,
        files: ModelFiles,
        snapshot: Snapshot,
        model_kind: str | None = None,
        *,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.files = files
        self.snapshot = snapshot
        self.model_id = files.model_id
        self.kind = chosen_kind(files, model_kind)
        if is_trivial(self.kind):
            raise TrainingError(
                f"candidate '{self.kind}' is a trivial baseline, which reads the labelled "
                "past of the training splits; online predictions serve gnn, lightgbm or "
                "ensemble (pass model_kind)"
            )
        self.max_keys = max_keys
        self.predictor: Predictor = load_predictor(
            files, snapshot, self.kind, gnn_loader=load_trainer
        )
        task = self.predictor.task
        self.entity_table = task.entity_table
        ent = snapshot.schema[self.entity_table]
        self.key_column = ent.primary_key or task.entity_column
        keys = snapshot.read_table(self.entity_table, columns=[self.key_column]).column(0)
        self.keys = KeyIndex(self.entity_table, self.key_column, keys)
        self.key_type: pa.DataType = self.keys.keys.type
        self.latest = latest_time(snapshot) or datetime.now().replace(microsecond=0)
        lgbm = self.predictor.lightgbm
        if lgbm is not None:
            # One connection for the predictor's life: opening one (views over every
            # table) per request would cost more than the aggregates of a few keys.
            lgbm.con = snapshot.duckdb()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OnlinePredictor({self.model_id!r}, kind={self.kind!r}, "
            f"snapshot={self.snapshot.id[:12]!r})"
        )

    @property
    def task_type(self) -> str:
        return self.predictor.task_type

    def close(self) -> None:
        lgbm = self.predictor.lightgbm
        if lgbm is not None and getattr(lgbm, "con", None) is not None:
            lgbm.con.close()
            lgbm.con = None

    def _coerce(self, key: Any) -> tuple[Any, str | None]:
        """``key`` as a value of the key column's type, or an error for that key."""
        t = self.key_type
        if isinstance(key, bool) or key is None or isinstance(key, (list, dict, float)):
            if isinstance(key, float) and key.is_integer() and pa.types.is_integer(t):
                return int(key), None
            return None, f"not a key of {self.entity_table}.{self.key_column}: {str(key)[:64]}"
        if pa.types.is_integer(t):
            value: int | None = key if isinstance(key, int) else None
            text = str(key).strip()
            if value is None and text.lstrip("-").isdigit() and len(text) < 40:
                value = int(text)
            if value is None:
                return (
                    None,
                    f"{self.entity_table}.{self.key_column} keys are integers, not {text[:64]!r}",
                )
            try:
                pa.scalar(value, type=t)  # in the column's range (int64, int32, ...)
            except (pa.ArrowInvalid, OverflowError):
                return None, f"unknown key: {text[:64]} is out of the range of {self.key_column}"
            return value, None
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return str(key), None
        try:
            return pa.array([key]).cast(t)[0].as_py(), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None, f"{str(key)[:64]!r} is not a {t} key of {self.entity_table}"

    def predict(
        self, keys: list[Any], *, at: str | datetime | None = None, embedding: bool = False
    ) -> OnlineResult:
        """Predictions for ``keys`` as of ``at`` (default: the snapshot's latest time).

        Keys that are malformed or not in the entity table get a per-key ``error``;
        the others are predicted together, in one batch.
        """
        if len(keys) > self.max_keys:
            raise TrainingError(
                f"{len(keys)} keys in one request; at most {self.max_keys} are answered "
                "online (a batch prediction job handles any number: relgraph predict --now)"
            )
        anchor = parse_anchor(at, self.latest)
        results = [KeyResult(key=k) for k in keys]
        good: list[int] = []
        values: list[Any] = []
        for i, k in enumerate(keys):
            v, error = self._coerce(k)
            if error is not None:
                results[i].error = error
            else:
                good.append(i)
                values.append(v)
        if values:
            arr = pa.array(values, type=self.key_type)
            rows = self.keys.lookup(arr)
            known = rows >= 0
            for i, ok in zip(good, known.tolist(), strict=True):
                if not ok:
                    results[i].error = f"unknown key: no row of {self.entity_table} has it"
            good = [i for i, ok in zip(good, known.tolist(), strict=True) if ok]
            arr = arr.filter(pa.array(known))
        else:
            arr = pa.array([], type=self.key_type)
        rows_t = pa.table(
            {
                "ENTITY": arr,
                "ANCHOR_TIMESTAMP": pa.array([anchor] * len(arr), pa.timestamp("us")),
            }
        )
        lock = self._lock if self.predictor.lightgbm is not None else contextlib.nullcontext()
        with lock:
            table = prediction_table(
                self.predictor, rows_t, self.model_id, self.snapshot, embedding=embedding
            )
        self._fill(results, good, table)
        return OnlineResult(
            model_id=self.model_id, model_kind=self.kind, snapshot_id=self.snapshot.id,
            task_type=self.task_type, anchor=anchor, results=results, table=table,
        )  # fmt: skip

    def _fill(self, results: list[KeyResult], good: list[int], table: pa.Table) -> None:
        emb = table.column("EMBEDDING").to_pylist() if "EMBEDDING" in table.column_names else None
        if "RANK" not in table.column_names:
            pred = table.column("PREDICTION").to_pylist()
            prob = (
                table.column("TRUE_PROB").to_pylist() if "TRUE_PROB" in table.column_names else None
            )
            for j, i in enumerate(good):
                r = results[i]
                r.prediction = pred[j]
                r.score = prob[j] if prob is not None else None
                r.embedding = emb[j] if emb is not None else None
            return
        # Ranked output: rows come grouped per entity, in request order, rank 1 first.
        rank = table.column("RANK").to_numpy()
        cls = table.column("CLASS").to_pylist()
        score = table.column("SCORE").to_pylist()
        starts = [*np.flatnonzero(rank == 1).tolist(), len(rank)]
        for j, i in enumerate(good):
            a, b = starts[j], starts[j + 1]
            r = results[i]
            r.top = [
                {"class": cls[x], "score": score[x], "rank": int(rank[x])} for x in range(a, b)
            ]
            r.prediction = cls[a] if b > a else None
            r.score = score[a] if b > a else None
            r.embedding = emb[a] if emb is not None else None


class OnlineCache:
    """Warm predictors of one workspace (or bundle), keyed by (model, candidate, snapshot).

    ``snapshot`` of :meth:`get`: None serves on the snapshot the model was trained on
    (the one batch ``relgraph predict`` uses by default), ``"latest"`` on the
    workspace's newest one; asking again after a new snapshot arrives loads new
    predictors and drops the old ones (their graph, frames and connections).
    """

    def __init__(self, workspace: str | Path, *, max_keys: int = MAX_KEYS) -> None:
        self.workspace = Path(workspace)
        self.max_keys = max_keys
        self._items: dict[tuple[str, str | None, str], OnlinePredictor] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str | None, str], threading.Lock] = {}
        self._files: dict[str, ModelFiles] = {}

    def get(
        self,
        model_id: str,
        *,
        model_kind: str | None = None,
        snapshot: str | None = None,
        snapshot_obj: Snapshot | None = None,
    ) -> OnlinePredictor:
        """The warm predictor of ``model_id`` (loaded on first use).

        ``snapshot_obj``: serve this snapshot (a bundle's caller checked its schema).
        """
        files = self._files.get(model_id)
        if files is None:  # a stored model never changes: read its files once
            files = load_model(self.workspace, model_id)
            self._files[model_id] = files
        ws = Workspace(self.workspace)
        if snapshot_obj is not None:
            sid = snapshot_obj.id
        elif snapshot == "latest":
            latest = ws.latest_id()
            if latest is None:
                raise StoreError(f"workspace '{self.workspace}' has no snapshot")
            sid = latest
        else:
            sid = snapshot or files.snapshot_id
        key = (files.model_id, model_kind, sid)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                return hit
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per key, however many requests wait for it
            with self._lock:
                hit = self._items.get(key)
            if hit is not None:
                return hit
            snap = snapshot_obj or ws.snapshot(sid)
            if snapshot_obj is None and snap.id != files.snapshot_id:
                check_schema(files, snap)
            pred = OnlinePredictor(files, snap, model_kind, max_keys=self.max_keys)
            with self._lock:
                # A newer snapshot replaces this model's predictors on older ones.
                for old in [k for k in self._items if k[0] == key[0] and k[2] != sid]:
                    self._items.pop(old).close()
                self._items[key] = pred
                self._loading.pop(key, None)
            return pred


def schema_problems(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """How ``actual`` (a schema's dict) differs from ``expected`` where a model would notice."""
    problems: list[str] = []
    et = {t["name"]: t for t in expected.get("tables", [])}
    at = {t["name"]: t for t in actual.get("tables", [])}
    for name in sorted(set(et) - set(at)):
        problems.append(f"table '{name}' is missing")
    for name in sorted(set(at) - set(et)):
        problems.append(f"table '{name}' is new")
    for name in sorted(set(et) & set(at)):
        e, a = et[name], at[name]
        for k in ("primary_key", "time_column", "foreign_keys"):  # the graph's edges
            if e.get(k) != a.get(k):
                problems.append(f"{name}.{k} was {e.get(k)!r}, is {a.get(k)!r}")
        ec = {c["name"]: c for c in e.get("columns", [])}
        ac = {c["name"]: c for c in a.get("columns", [])}
        for c in sorted(set(ec) - set(ac)):
            problems.append(f"column {name}.{c} is missing")
        for c in sorted(set(ac) - set(ec)):
            problems.append(f"column {name}.{c} is new")
        for c in sorted(set(ec) & set(ac)):
            if ec[c].get("stype") != ac[c].get("stype"):
                problems.append(
                    f"column {name}.{c} was {ec[c].get('stype')}, is {ac[c].get('stype')}"
                )
    return problems


def check_schema(
    files: ModelFiles, snapshot: Snapshot, expected: dict[str, Any] | None = None
) -> None:
    """Refuse ``snapshot`` when its schema is not the one the model was trained on."""
    if expected is None:
        ws = files.path.parent.parent
        try:
            expected = Workspace(ws).snapshot(files.snapshot_id).schema.to_dict()
        except StoreError:
            return  # the training snapshot is gone: nothing to compare with
    problems = schema_problems(expected, snapshot.schema.to_dict())
    if problems:
        raise StoreError(
            f"snapshot {snapshot.id[:12]} does not match the schema model '{files.model_id}' "
            f"was trained on ({files.snapshot_id[:12]}): "
            + "; ".join(problems[:8])
            + ("; …" if len(problems) > 8 else "")
            + ". Retrain the model on it, or serve the model's own snapshot"
        )
