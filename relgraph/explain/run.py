"""Explain a stored model: load it, choose the rows, attribute, rank, and say it plainly."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import TrainingError
from relgraph.explain.gnn import GNNAttribution, explain_gnn
from relgraph.explain.lgbm import LGBMAttribution, explain_lightgbm, feature_source
from relgraph.explain.report import (
    ColumnValue,
    Explanation,
    LocalExplanation,
    RowContribution,
    by_table,
    cohorts,
    ranked,
)
from relgraph.graph.build import REVERSE_PREFIX
from relgraph.nn.encoder import NO_TIME
from relgraph.predict.models import load_lightgbm
from relgraph.predict.run import latest_time, load_trainer, now_table
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace
from relgraph.train.artifacts import ModelFiles, load_model
from relgraph.train.loop import task_kind

EXPLAINABLE = ("gnn", "lightgbm")
_EPOCH = datetime(1970, 1, 1)
# Rows of the global view (a seeded sample of the rows at ``at``).
DEFAULT_SAMPLE = 64


def explain_model(
    model_id: str,
    *,
    workspace: str | Path,
    entity: Any = None,
    model_kind: str | None = None,
    at: str = "test",
    sample: int = DEFAULT_SAMPLE,
    top: int = 10,
    snapshot_id: str | None = None,
    seed: int = 0,
) -> Explanation:
    """Global explanation of ``model_id`` on a sample of its rows at ``at``, plus ``entity``'s.

    Args:
        model_kind: ``gnn`` or ``lightgbm`` (default: the candidate chosen at training
            when it is one of them, else whichever the model has).
        at: ``test`` (the model's test rows), ``now`` (the latest time in the snapshot)
            or an ISO date: the anchor of the explained predictions.
        sample: rows of the global view (a seeded sample; the entity's row is added).
        entity: a key of the entity table: adds the local view of its prediction.
    """
    if sample < 1:
        raise TrainingError(f"sample must be at least 1, got {sample}")
    files = load_model(workspace, model_id)
    snap = Workspace(workspace).snapshot(snapshot_id or files.snapshot_id)
    kind = _kind(files, model_kind)
    rows, at_label = _rows(files, snap, at)
    entity_at: int | None = None
    if entity is not None:
        rows, entity_at = _with_entity(rows, snap, files, entity, at_label)
    rows = _sample(rows, sample, seed, keep=entity_at)
    if entity_at is not None:
        entity_at = 0  # _sample puts the kept row first
    if rows.num_rows == 0:
        raise TrainingError(f"model '{files.model_id}' has no rows to explain at {at_label}")
    ttype = task_kind(_task(files))
    if kind == "gnn":
        return _explain_gnn(files, snap, rows, ttype, at_label, entity_at, top)
    return _explain_lgbm(files, snap, rows, ttype, at_label, entity_at, top)


# -- choosing what to explain ---------------------------------------------------
def _task(files: ModelFiles) -> Any:
    from relgraph.predict.run import _Task

    return _Task(files.meta["task"])


def _kind(files: ModelFiles, model_kind: str | None) -> str:
    has = {"gnn": files.meta.get("gnn_state") is not None,
           "lightgbm": files.meta.get("lightgbm_state") is not None}  # fmt: skip
    if model_kind is not None:
        if model_kind not in EXPLAINABLE:
            raise TrainingError(
                f"cannot explain '{model_kind}': explanations cover {' and '.join(EXPLAINABLE)} "
                "(trivial baselines read no inputs; the ensemble averages the two)"
            )
        if not has[model_kind]:
            raise TrainingError(f"model '{files.model_id}' has no {model_kind} to explain")
        return model_kind
    selected = str(files.meta.get("selected") or "gnn")
    if selected in EXPLAINABLE and has[selected]:
        return selected
    for k in EXPLAINABLE:
        if has[k]:
            return k
    raise TrainingError(f"model '{files.model_id}' has neither a GNN nor a LightGBM to explain")


def _rows(files: ModelFiles, snap: Snapshot, at: str) -> tuple[pa.Table, str]:
    from relgraph.query.table import prediction_rows

    task = _task(files)
    if at == "now":
        latest = latest_time(snap)
        return now_table(snap, task), (latest.isoformat() if latest else "now")
    if at == "test":
        from relgraph.query import build_task_tables

        tables = build_task_tables(
            snap, files.meta["query"], val_cutoff=files.meta.get("val_cutoff"),
            test_cutoff=files.meta.get("test_cutoff"),
        )  # fmt: skip
        t = tables.test.table
        return t.select(["ENTITY", "ANCHOR_TIMESTAMP"]), f"test ({files.meta.get('test_cutoff')})"
    try:
        when = datetime.fromisoformat(at)
    except ValueError as e:
        raise TrainingError(f"unknown anchor '{at}': use 'test', 'now' or an ISO date") from e
    con = snap.duckdb()
    try:
        return prediction_rows(snap, files.meta["query"], [when], con=con), when.isoformat()
    finally:
        con.close()


def _with_entity(
    rows: pa.Table, snap: Snapshot, files: ModelFiles, entity: Any, at_label: str
) -> tuple[pa.Table, int]:
    """``rows`` and the index of ``entity``'s row (its latest anchor; added if absent)."""
    col = rows.column("ENTITY")
    key = _cast_key(entity, col.type)
    hits = np.flatnonzero(pc.equal(col, pa.scalar(key, col.type)).to_numpy(zero_copy_only=False))
    if hits.size:
        anchors = rows.column("ANCHOR_TIMESTAMP").to_numpy(zero_copy_only=False)[hits]
        return rows, int(hits[int(np.argmax(anchors))])
    # Not among the query's rows there (it fails the WHERE, or had no row yet): explain
    # it at the rows' latest anchor if the entity table has the key.
    task = _task(files)
    pk = snap.schema[task.entity_table].primary_key or task.entity_column
    keys = snap.read_table(task.entity_table, columns=[pk]).column(0)
    if not pc.any(pc.equal(keys, pa.scalar(key, keys.type))).as_py():
        raise TrainingError(f"no {task.entity_table} with {pk} = {entity!r} in snapshot {snap.id}")
    if rows.num_rows == 0:
        raise TrainingError(f"no prediction rows at {at_label} to place {entity!r} among")
    anchor = pc.max(rows.column("ANCHOR_TIMESTAMP"))
    extra = pa.table(
        {
            "ENTITY": pa.array([key], col.type),
            "ANCHOR_TIMESTAMP": pa.array([anchor.as_py()], rows.column("ANCHOR_TIMESTAMP").type),
        }
    )
    return pa.concat_tables([rows, extra]), rows.num_rows


def _cast_key(entity: Any, typ: pa.DataType) -> Any:
    if isinstance(entity, str) and (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
        try:
            return int(entity) if pa.types.is_integer(typ) else float(entity)
        except ValueError as e:
            raise TrainingError(f"entity key {entity!r} is not a number; the keys are {typ}") from e
    return entity


def _sample(rows: pa.Table, n: int, seed: int, keep: int | None) -> pa.Table:
    rng = np.random.default_rng(seed)
    idx = np.arange(rows.num_rows)
    if keep is not None:
        idx = idx[idx != keep]
    pick = np.sort(rng.choice(idx, size=min(n, idx.size), replace=False)) if idx.size else idx
    if keep is not None:
        pick = np.concatenate([[keep], pick[: max(n - 1, 0)]])
    return rows.take(pa.array(pick.astype(np.int64)))


# -- GNN ---------------------------------------------------------------------------
def _edge_name(et: tuple[str, str, str]) -> str:
    src, rel, dst = et
    if rel.startswith(REVERSE_PREFIX):
        return f"{src} → {dst} (via {dst}.{rel[len(REVERSE_PREFIX) :]})"
    return f"{src} → {dst} (via {src}.{rel})"


def _prediction(kind: str, output: float, trainer: Any = None) -> Any:
    if kind == "binary":
        return float(1.0 / (1.0 + np.exp(-output)))
    if kind == "regression" and trainer is not None:
        return float(output * trainer.y_std_ + trainer.y_mean_)
    return float(output)


def _explain_gnn(
    files: ModelFiles, snap: Snapshot, rows: pa.Table, ttype: str, at: str,
    entity_at: int | None, top: int,
) -> Explanation:  # fmt: skip
    trainer = load_trainer(files, snap)
    ga = explain_gnn(trainer, rows)
    # Global: per seed, |attribution| summed over the seed's rows of each (table, column).
    names: list[tuple[str, str]] = []
    cols: list[np.ndarray] = []
    for r in ga.rows:
        for j, c in enumerate(r.columns):
            per_seed = np.zeros(ga.n)
            np.add.at(per_seed, r.seed, r.attr[:, j])
            names.append((r.table, f"{r.table}.{c}"))
            cols.append(per_seed)
    per_row = np.stack(cols, axis=1) if cols else np.zeros((ga.n, 0))
    columns = ranked(names, per_row)
    edge_types = ranked([(et[2], _edge_name(et)) for et in ga.edge_types], ga.edge_attr)
    prob = np.asarray([_prediction(ttype, o, trainer) for o in ga.output])
    ent_table = trainer.task.entity_table
    coh = cohorts(_entity_columns(snap, trainer, rows, columns, ent_table), prob)
    local = (
        _local_gnn(snap, trainer, rows, ga, entity_at, ttype, top)
        if entity_at is not None
        else None
    )
    units = {"binary": "log-odds", "regression": "standardised target", "multiclass": "class logit"}
    return Explanation(
        model_id=files.model_id, model_kind="gnn", snapshot_id=snap.id, task_type=ttype,
        at=at, rows=ga.n, units=units.get(ttype, "output"),
        method="Integrated Gradients (Captum) on column encodings; "
        "edge types: feature ablation (Captum)",
        columns=columns[:top] if top else columns, tables=by_table(columns),
        edge_types=edge_types, cohorts=coh, entity=local,
        notes=[
            "a column's attribution sums its parts over the sampled rows of the entity's "
            "subgraph; 'removing' a column sets its encoding to zero",
        ],
    )  # fmt: skip


def _entity_columns(
    snap: Snapshot, trainer: Any, rows: pa.Table, columns: list[Any], table: str
) -> dict[str, list[Any]]:
    """The entity table's own columns (most attributed first) at the explained rows."""
    own = [a.name.split(".", 1)[1] for a in columns if a.table == table]
    if not own:
        return {}
    nodes = np.asarray(
        trainer.graph.key_to_node(table, rows.column("ENTITY").to_numpy(zero_copy_only=False))
    )
    t = snap.read_table(table, columns=own[:5])
    ok = nodes >= 0
    out: dict[str, list[Any]] = {}
    for c in t.column_names:
        vals = t.column(c).take(pa.array(np.where(ok, nodes, 0))).to_pylist()
        out[f"{table}.{c}"] = [v if k else None for v, k in zip(vals, ok, strict=True)]
    return out


def _local_gnn(
    snap: Snapshot, trainer: Any, rows: pa.Table, ga: GNNAttribution, i: int, ttype: str, top: int
) -> LocalExplanation:
    per_col: dict[tuple[str, str], float] = {}
    cands: list[tuple[float, str, int, int, int, np.ndarray, list[str]]] = []
    for r in ga.rows:
        sel = np.flatnonzero(r.seed == i)
        for j, c in enumerate(r.columns):
            per_col[(r.table, c)] = per_col.get((r.table, c), 0.0) + float(r.attr[sel, j].sum())
        for k in sel:
            cands.append(
                (
                    float(r.attr[k].sum()),
                    r.table,
                    int(r.node[k]),
                    int(r.hop[k]),
                    int(r.time[k]),
                    r.attr[k],
                    r.columns,
                )
            )
    cands.sort(key=lambda c: -abs(c[0]))
    picked = cands[:top] if top else cands
    # The values of the picked rows, read once per table.
    need: dict[str, set[int]] = {}
    for p in picked:
        need.setdefault(p[1], set()).add(p[2])
    values: dict[tuple[str, int], dict[str, Any]] = {}
    for table, nodes in need.items():
        ts = snap.schema[table]
        cols = [c for c in next(p[6] for p in picked if p[1] == table)]
        read = [x for x in [ts.primary_key, *cols] if x]
        t = snap.read_table(table, columns=list(dict.fromkeys(read)))
        order = sorted(nodes)
        sub = t.take(pa.array(order, pa.int64())).to_pylist()
        for n, rec in zip(order, sub, strict=True):
            values[(table, n)] = rec
    out_rows = []
    for total, table, node, hop, tm, attr, cols in picked:
        rec = values[(table, node)]
        pk = snap.schema[table].primary_key
        cv = sorted(
            (ColumnValue(c, rec.get(c), float(a)) for c, a in zip(cols, attr, strict=True)),
            key=lambda v: -abs(v.attribution),
        )
        out_rows.append(
            RowContribution(
                table=table,
                key=rec.get(pk) if pk else node,
                time=None if tm == NO_TIME else (_EPOCH + timedelta(seconds=tm)).isoformat(),
                hop=hop,
                attribution=total,
                columns=cv,
            )
        )
    ent_values = values_of_entity(snap, trainer, rows, i)
    cols_sorted = sorted(per_col.items(), key=lambda kv: -abs(kv[1]))
    columns = [
        ColumnValue(f"{t}.{c}", ent_values.get(c) if t == trainer.task.entity_table else None, v)
        for (t, c), v in (cols_sorted[:top] if top else cols_sorted)
    ]
    return LocalExplanation(
        entity=rows.column("ENTITY")[i].as_py(),
        anchor=str(rows.column("ANCHOR_TIMESTAMP")[i].as_py()),
        prediction=_prediction(ttype, float(ga.output[i]), trainer),
        output=float(ga.output[i]), baseline=float(ga.baseline_output[i]),
        columns=columns, rows=out_rows,
    )  # fmt: skip


def values_of_entity(snap: Snapshot, trainer: Any, rows: pa.Table, i: int) -> dict[str, Any]:
    table = trainer.task.entity_table
    node = int(trainer.graph.key_to_node(table, np.asarray([rows.column("ENTITY")[i].as_py()]))[0])
    if node < 0:
        return {}
    rec: dict[str, Any] = snap.read_table(table).slice(node, 1).to_pylist()[0]
    return rec


# -- LightGBM --------------------------------------------------------------------------
def _explain_lgbm(
    files: ModelFiles, snap: Snapshot, rows: pa.Table, ttype: str, at: str,
    entity_at: int | None, top: int,
) -> Explanation:  # fmt: skip
    from relgraph.query.table import compile_on_snapshot

    task = compile_on_snapshot(snap, files.meta["query"])
    model = load_lightgbm(files, snap, task)
    la = explain_lightgbm(model, rows)
    tables = list(snap.schema.tables)
    src = [feature_source(f, task.entity_table, tables) for f in la.features]
    names = [(t, f) for (t, _c), f in zip(src, la.features, strict=True)]
    columns = ranked(names, la.contrib)
    pred = np.asarray([_prediction(ttype, o) for o in la.output])
    feats = {
        a.name: [la.value_of(r, la.features.index(a.name)) for r in range(la.n)]
        for a in columns[:5]
    }
    local = _local_lgbm(la, rows, entity_at, src, ttype, top) if entity_at is not None else None
    units = {"binary": "log-odds", "regression": "target", "multiclass": "class score"}
    return Explanation(
        model_id=files.model_id, model_kind="lightgbm", snapshot_id=snap.id, task_type=ttype,
        at=at, rows=la.n, units=units.get(ttype, "output"),
        method="TreeSHAP (LightGBM pred_contrib)",
        columns=columns[:top] if top else columns, tables=by_table(columns),
        cohorts=cohorts(feats, pred), entity=local,
        notes=[
            "LightGBM reads aggregates of the rows that point at the entity (counts, means, "
            "last values per window), not single rows: its local view ranks those aggregates",
        ],
    )  # fmt: skip


def _local_lgbm(
    la: LGBMAttribution, rows: pa.Table, i: int, src: list[tuple[str, str]], ttype: str, top: int
) -> LocalExplanation:
    order = np.argsort(-np.abs(la.contrib[i]))
    order = order[:top] if top else order
    cols = [
        ColumnValue(la.features[j], la.value_of(i, int(j)), float(la.contrib[i, j])) for j in order
    ]
    return LocalExplanation(
        entity=rows.column("ENTITY")[i].as_py(),
        anchor=str(rows.column("ANCHOR_TIMESTAMP")[i].as_py()),
        prediction=_prediction(ttype, float(la.output[i])),
        output=float(la.output[i]), baseline=float(la.expected[i]),
        columns=cols, rows=[],
    )  # fmt: skip
