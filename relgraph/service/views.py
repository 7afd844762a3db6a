"""Read-only views the dashboard draws: column histograms, a snapshot diff, a model's
evaluation (candidates, curves, importance) and predictions joined to entity names.

Everything here is derived from immutable files (snapshots, a model's artefacts, its
test predictions), so each answer is cached for the process's life, keyed by ids.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from relgraph import api
from relgraph._sql import quote_ident, quote_literal
from relgraph.errors import QueryError
from relgraph.jobs import outputs
from relgraph.schema.names import MAX_NAME_LENGTH
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import Paging, ServiceState, editor, json_value, paging, state, viewer
from relgraph.store.snapshot import Snapshot

router = APIRouter(prefix="/views", tags=["views"])

_SNAPSHOT = {"min_length": 1, "max_length": 64, "pattern": r"^([0-9a-f]+|latest)$"}
# One Path() per parameter: FastAPI binds a shared instance to the first name it meets.
SnapshotId = Path(..., **_SNAPSHOT)  # type: ignore[arg-type]
BeforeId = Path(..., **_SNAPSHOT)  # type: ignore[arg-type]
AfterId = Path(..., **_SNAPSHOT)  # type: ignore[arg-type]
TableName = Path(..., min_length=1, max_length=MAX_NAME_LENGTH)
ColumnName = Path(..., min_length=1, max_length=MAX_NAME_LENGTH)
ModelId = Path(..., min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")
OutputId = Path(..., min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")

# Columns the store adds for its own bookkeeping; never shown as data.
INTERNAL_PREFIX = "_rg_"
# String columns of an entity table shown beside its predictions (names, codes).
MAX_NAME_COLUMNS = 3
CURVE_POINTS = 200

_cache: OrderedDict[tuple[str, ...], Any] = OrderedDict()
_lock = threading.Lock()
_CACHE_MAX = 128


def _cached(key: tuple[str, ...], make: Callable[[], Any]) -> Any:
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = make()
    with _lock:
        _cache[key] = value
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return value


def _snap(st: ServiceState, snapshot_id: str) -> Snapshot:
    return api.snapshot(None if snapshot_id == "latest" else snapshot_id, workspace=st.workspace)


# -- tables ------------------------------------------------------------------------------
@router.get(
    "/snapshots/{snapshot_id}/tables/{table}/histogram/{column}",
    summary="A column's histogram: numeric bins, or the most frequent values",
)
def histogram(
    snapshot_id: str = SnapshotId,
    table: str = TableName,
    column: str = ColumnName,
    bins: int = Query(20, ge=2, le=100),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snap = _snap(st, snapshot_id)
    path = snap.table_path(table)  # StoreError (404) for an unknown table
    names = pq.read_schema(path).names
    if column not in names:
        raise HTTPException(404, f"table '{table}' has no column '{column[:80]}'")
    return dict(
        _cached(
            ("hist", snap.id, table, column, str(bins)),
            lambda: _histogram(str(path), column, bins),
        )
    )


def _histogram(path: str, column: str, bins: int) -> dict[str, Any]:
    col = quote_ident(column)
    src = f"read_parquet({quote_literal(path)})"
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT typeof({col}) FROM {src} LIMIT 1").fetchone()
        ctype = str(row[0]).upper() if row else ""
        temporal = "DATE" in ctype or "TIMESTAMP" in ctype
        numeric = any(t in ctype for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC"))
        nulls = con.execute(f"SELECT count(*) FROM {src} WHERE {col} IS NULL").fetchone()
        n_null = int(nulls[0]) if nulls else 0
        if numeric or temporal:
            # Dates and times are binned on their epoch seconds, edges handed back as ISO.
            expr = f"epoch({col})::DOUBLE" if temporal else f"{col}::DOUBLE"
            lo_hi = con.execute(f"SELECT min({expr}), max({expr}) FROM {src}").fetchone()
            lo, hi = lo_hi or (None, None)
            kind = "temporal" if temporal else "numeric"
            if lo is None or hi is None:
                return {"kind": kind, "edges": [], "counts": [], "nulls": n_null}
            width = (hi - lo) / bins if hi > lo else 1.0
            rows = con.execute(
                f"SELECT least(floor(({expr} - ?) / ?)::BIGINT, ?) AS b, count(*) "
                f"FROM {src} WHERE {col} IS NOT NULL GROUP BY b ORDER BY b",
                [lo, width, bins - 1],
            ).fetchall()
            counts = [0] * bins
            for b, n in rows:
                counts[int(b)] = int(n)
            edges: list[Any] = [lo + i * width for i in range(bins + 1)]
            if temporal:
                edges = [
                    datetime.fromtimestamp(e, tz=UTC).replace(tzinfo=None).isoformat()
                    for e in edges
                ]
            return {"kind": kind, "edges": edges, "counts": counts, "nulls": n_null}
        rows = con.execute(
            f"SELECT {col}::VARCHAR AS v, count(*) AS n FROM {src} WHERE {col} IS NOT NULL "
            f"GROUP BY v ORDER BY n DESC, v LIMIT ?",
            [bins],
        ).fetchall()
        distinct = con.execute(f"SELECT count(DISTINCT {col}) FROM {src}").fetchone()
        return {
            "kind": "categorical",
            "values": [r[0] for r in rows],
            "counts": [int(r[1]) for r in rows],
            "distinct": int(distinct[0]) if distinct else 0,
            "nulls": n_null,
        }
    finally:
        con.close()


@router.get(
    "/snapshots/{snapshot_id}/tables/{table}/rows",
    summary="A page of a table's rows: searched (q, any column), filtered, sorted",
)
def table_rows(
    snapshot_id: str = SnapshotId,
    table: str = TableName,
    q: str = Query("", max_length=200, description="Text any shown column contains"),
    sort: str = Query("", max_length=MAX_NAME_LENGTH, description="Column to sort by"),
    desc: bool = Query(False),
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snap = _snap(st, snapshot_id)
    path = snap.table_path(table)
    columns = [c for c in pq.read_schema(path).names if not c.startswith(INTERNAL_PREFIX)]
    if sort and sort not in columns:
        raise HTTPException(422, f"table '{table}' has no column '{sort[:80]}' to sort by")
    cols = ", ".join(quote_ident(c) for c in columns)
    sql = f"FROM read_parquet({quote_literal(str(path))})"
    params: list[Any] = []
    if q.strip():
        sql += " WHERE " + " OR ".join(
            f"CAST({quote_ident(c)} AS VARCHAR) ILIKE ?" for c in columns
        )
        params += [f"%{q.strip()}%"] * len(columns)
    con = duckdb.connect()
    try:
        total_row = con.sql(f"SELECT count(*) {sql}", params=params).fetchall()[0]
        order = (
            f" ORDER BY {quote_ident(sort)} {'DESC' if desc else 'ASC'} NULLS LAST" if sort else ""
        )
        t = con.sql(
            f"SELECT {cols} {sql}{order} LIMIT ? OFFSET ?",
            params=[*params, page.limit, page.offset],
        ).to_arrow_table()
    finally:
        con.close()
    items = [{k: json_value(v) for k, v in r.items()} for r in t.to_pylist()]
    body = page.page(items, int(total_row[0]) if total_row else 0)
    body["columns"] = columns
    return body


@router.get(
    "/snapshots/{before}/diff/{after}", summary="What changed between two snapshots (by key)"
)
def diff(
    before: str = BeforeId,
    after: str = AfterId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    a, b = _snap(st, before), _snap(st, after)
    return dict(
        _cached(
            ("diff", a.id, b.id),
            lambda: json_value(api.diff_snapshots(a.id, b.id, workspace=st.workspace).to_dict()),
        )
    )


# -- models ------------------------------------------------------------------------------
@router.get(
    "/models/{model_id}/evaluation",
    summary="A model's candidates, learning curve, importance and test-split curves",
)
def evaluation(
    model_id: str = ModelId, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    d = outputs.model_dir(st.workspace, model_id)
    key = ("eval", model_id, str((d / "model.json").stat().st_mtime_ns))
    return dict(_cached(key, lambda: _evaluation(st.workspace, model_id, d)))


def _evaluation(workspace: FsPath, model_id: str, d: FsPath) -> dict[str, Any]:
    model = json.loads((d / "model.json").read_text())
    task = model.get("task") or {}
    out: dict[str, Any] = {
        "model_id": model_id,
        "metric": model.get("metric"),
        "task_type": task.get("task_type"),
        "selected": model.get("selected"),
        "protocol": model.get("protocol"),
        "rows": model.get("rows"),
        "candidates": _candidates(model),
        "history": (model.get("gnn_state") or {}).get("history") or [],
        "importance": _importance(d, model),
        "test": None,
    }
    pred = workspace / "outputs" / model_id / "predictions-test.parquet"
    if pred.is_file():
        out["test"] = _test_curves(workspace, model, pred)
    return dict(json_value(out))


def _candidates(model: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, c in (model.get("candidates") or {}).items():
        row: dict[str, Any] = {"model": name, "seconds": c.get("seconds")}
        for protocol, splits in (c.get("scores") or {}).items():
            for split, scores in (splits or {}).items():
                for metric, v in (scores or {}).items():
                    row[f"{protocol}.{split}.{metric}"] = v
        rows.append(row)
    return rows


def _importance(d: FsPath, model: dict[str, Any]) -> list[dict[str, Any]]:
    """LightGBM's gain per feature, and summed per source table (features are named
    ``table.column…`` or ``own__column``)."""
    f = d / "lightgbm.txt"
    if not f.is_file():
        return []
    import lightgbm  # here: only this view needs it, and it is slow to import

    booster = lightgbm.Booster(model_file=str(f))
    gains = booster.feature_importance(importance_type="gain")
    names = booster.feature_name()
    entity = (model.get("task") or {}).get("entity_table") or "entity"
    items: list[dict[str, Any]] = []
    for name, g in zip(names, gains, strict=True):
        table = entity if name.startswith("own__") else name.split(".", 1)[0]
        items.append({"feature": name, "table": table, "gain": float(g)})
    items.sort(key=lambda r: -float(r["gain"]))
    return items


def _test_curves(workspace: FsPath, model: dict[str, Any], pred: FsPath) -> dict[str, Any] | None:
    """ROC, PR and calibration (binary) or residuals (regression) of the selected model on
    the test split: its stored predictions joined to labels recomputed from the snapshot
    with the model's own cut-offs."""
    task_type = (model.get("task") or {}).get("task_type")
    if task_type not in ("binary", "regression"):
        return None
    tables = api.training_tables(
        model["query"],
        workspace=workspace,
        snapshot=model.get("snapshot_id"),
        val_cutoff=model.get("val_cutoff"),
        test_cutoff=model.get("test_cutoff"),
    )
    labels = tables.test_labels()
    p = pq.read_table(
        pred,
        columns=["ENTITY", "ANCHOR_TIMESTAMP", "PREDICTION"]
        + (["TRUE_PROB"] if task_type == "binary" else []),
    )
    con = duckdb.connect()
    try:
        con.register("p", p)
        con.register("l", labels)
        score = "p.TRUE_PROB" if task_type == "binary" else "p.PREDICTION"
        joined = con.execute(
            f"SELECT {score}::DOUBLE, l.TARGET::DOUBLE FROM p JOIN l "
            "ON p.ENTITY = l.ENTITY AND p.ANCHOR_TIMESTAMP = l.ANCHOR_TIMESTAMP "
            "WHERE l.TARGET IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    if not joined:
        return None
    s = np.array([r[0] for r in joined], dtype=float)
    y = np.array([r[1] for r in joined], dtype=float)
    if task_type == "regression":
        idx = np.linspace(0, len(s) - 1, min(len(s), 2000)).astype(int)
        return {
            "kind": "regression",
            "n": len(s),
            "predicted": s[idx].tolist(),
            "actual": y[idx].tolist(),
            "mae": float(np.mean(np.abs(s - y))),
        }
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    if len(set(y.tolist())) < 2:
        return None
    fpr, tpr, _ = roc_curve(y, s)
    prec, rec, _ = precision_recall_curve(y, s)
    frac, mean_pred = calibration_curve(y, s, n_bins=10, strategy="quantile")
    cm = confusion_matrix(y, s >= 0.5, labels=[0, 1])
    return {
        "kind": "binary",
        "n": len(s),
        "positives": int(y.sum()),
        "auroc": float(roc_auc_score(y, s)),
        "ap": float(average_precision_score(y, s)),
        "roc": _thin({"fpr": fpr, "tpr": tpr}),
        "pr": _thin({"recall": rec, "precision": prec}),
        "calibration": {"predicted": mean_pred.tolist(), "observed": frac.tolist()},
        "confusion": {"threshold": 0.5, "matrix": cm.tolist(), "labels": ["false", "true"]},
    }


def _thin(curve: dict[str, np.ndarray]) -> dict[str, list[float]]:
    n = len(next(iter(curve.values())))
    idx = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).astype(int))
    return {k: v[idx].tolist() for k, v in curve.items()}


# -- predictions joined to entity names -----------------------------------------------------
def _predictions_table(st: ServiceState, output_id: str) -> tuple[pa.Table, list[str]]:
    """The prediction rows (embeddings dropped) with the entity table's name columns."""
    out = outputs.find_output(st.workspace, output_id, "predictions")
    if out.data is None:
        raise HTTPException(404, f"predictions '{output_id}' have no rows")
    data = out.data
    key = ("pred", output_id, str(data.stat().st_mtime_ns))
    table, names = _cached(key, lambda: _join_names(st, data))
    return table, names


def _join_names(st: ServiceState, path: FsPath) -> tuple[pa.Table, list[str]]:
    t = pq.read_table(path)
    keep = [c for c in t.column_names if c != "EMBEDDING"]
    t = t.select(keep)
    model_id = t.column("MODEL_ID")[0].as_py() if "MODEL_ID" in keep and t.num_rows else None
    name_cols: list[str] = []
    if model_id:
        try:
            model = json.loads(
                (outputs.model_dir(st.workspace, model_id) / "model.json").read_text()
            )
            task = model.get("task") or {}
            snap = api.snapshot(model.get("snapshot_id"), workspace=st.workspace)
            etable, ecol = str(task["entity_table"]), str(task["entity_column"])
            ts = snap.schema.tables[etable]
            candidates = [
                c.name
                for c in ts.columns
                if c.stype.value in ("text", "categorical")
                and c.name != ecol
                and not c.name.startswith(INTERNAL_PREFIX)
            ]
            # Columns called *name* first (forename, surname), then codes and the rest.
            candidates.sort(key=lambda n: "name" not in n.lower())
            name_cols = candidates[:MAX_NAME_COLUMNS]
            if name_cols:
                cols = ", ".join(f"e.{quote_ident(c)}" for c in name_cols)
                con = duckdb.connect()
                try:
                    con.register("p", t)
                    src = quote_literal(str(snap.table_path(etable)))
                    t = con.sql(
                        f"SELECT p.*, {cols} FROM p LEFT JOIN read_parquet({src}) e "
                        f"ON p.ENTITY = e.{quote_ident(ecol)} ORDER BY p.ENTITY, p.ANCHOR_TIMESTAMP"
                    ).to_arrow_table()
                finally:
                    con.close()
        except (KeyError, OSError, ValueError, duckdb.Error):
            name_cols = []  # names are a convenience: the predictions stand without them
    return t, name_cols


@router.get(
    "/predictions/{output_id}/rows",
    summary="A page of predictions with the entity's name columns; q finds an entity",
)
def prediction_rows(
    output_id: str = OutputId,
    q: str = Query("", max_length=200, description="An entity id, or part of a name"),
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    t, name_cols = _predictions_table(st, output_id)
    if q.strip():
        t = _search(t, name_cols, q.strip())
    rows = t.slice(page.offset, page.limit).to_pylist()
    body = page.page([{k: json_value(v) for k, v in r.items()} for r in rows], t.num_rows)
    body["columns"] = t.column_names
    body["name_columns"] = name_cols
    return body


def _search(t: pa.Table, name_cols: list[str], q: str) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("t", t)
        conds = ["CAST(ENTITY AS VARCHAR) = ?"]
        params: list[Any] = [q]
        for c in name_cols:
            conds.append(f"CAST({quote_ident(c)} AS VARCHAR) ILIKE ?")
            params.append(f"%{q}%")
        return con.sql(
            f"SELECT * FROM t WHERE {' OR '.join(conds)}", params=params
        ).to_arrow_table()
    finally:
        con.close()


@router.get("/predictions/{output_id}/download", summary="All predictions as CSV or Parquet")
def download(
    output_id: str = OutputId,
    format: Literal["csv", "parquet"] = Query("csv"),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    t, _names = _predictions_table(st, output_id)
    buf = io.BytesIO()
    if format == "csv":
        pacsv.write_csv(t, buf)
        media = "text/csv"
    else:
        pq.write_table(t, buf)
        media = "application/vnd.apache.parquet"
    return Response(
        buf.getvalue(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{output_id}.{format}"'},
    )


# -- label statistics at chosen cut-offs --------------------------------------------------------
class LabelStatsRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=20_000)
    snapshot: str | None = Field(None, max_length=64, pattern=r"^[0-9a-f]+$")
    val_cutoff: str | None = Field(None, max_length=40, pattern=r"^[0-9T:. +-]+$")
    test_cutoff: str | None = Field(None, max_length=40, pattern=r"^[0-9T:. +-]+$")


@router.post(
    "/label-stats",
    summary="Labels per split at the given cut-offs (the ones a train job would use)",
)
def label_stats(
    body: LabelStatsRequest, st: ServiceState = Depends(state), _: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    """The query editor's numbers when cut-offs are typed: the 'label-stats' job splits at
    the data's default cut-offs only. Counting labels takes seconds on data the size of F1,
    hence editors only, and a thread (a sync route) rather than the event loop."""
    try:
        tables = api.training_tables(
            body.query,
            workspace=st.workspace,
            snapshot=body.snapshot,
            val_cutoff=body.val_cutoff,
            test_cutoff=body.test_cutoff,
        )
    except (ValueError, TypeError) as e:
        if isinstance(e, QueryError):
            raise
        raise HTTPException(422, f"bad cut-off: {str(e)[:200]}") from e
    splits = {
        "train": _target_stats(tables.train.table),
        "val": _target_stats(tables.val.table),
        "test": _target_stats(tables.test_labels()),
    }
    return {
        "splits": splits,
        "val_cutoff": str(tables.val_cutoff),
        "test_cutoff": str(tables.test_cutoff),
    }


def _target_stats(table: pa.Table) -> dict[str, Any]:
    n = table.num_rows
    out: dict[str, Any] = {"rows": n}
    if not n:
        return out
    if "ANCHOR_TIMESTAMP" in table.column_names:
        out["anchors"] = len(set(table.column("ANCHOR_TIMESTAMP").to_pylist()))
    if "TARGET" in table.column_names:
        col = table.column("TARGET")
        if (
            pa.types.is_boolean(col.type)
            or pa.types.is_integer(col.type)
            or pa.types.is_floating(col.type)
        ):
            arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)
            arr = arr[np.isfinite(arr)]
            if arr.size:
                out |= {"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max())}
                values, counts = np.unique(arr, return_counts=True)
                if values.size <= 20:
                    out["distribution"] = {
                        str(v if v % 1 else int(v)): int(c)
                        for v, c in zip(values, counts, strict=True)
                    }
    return out
