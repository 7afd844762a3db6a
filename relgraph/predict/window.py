"""A rolling window of predictions: the last N days of every stored prediction file.

Daily refreshes leave one predictions file per run (``outputs/<model>/predictions-*.parquet``
from ``relgraph predict``, ``outputs/**/predictions.parquet`` from pipeline jobs). A
downstream system usually wants one table of the recent ones: this gathers every such
file in the workspace, keeps the rows whose ``ANCHOR_TIMESTAMP`` lies in the ``days``
before the newest anchor (or before ``now``), and writes them to one Parquet or CSV
file, atomically (a reader sees the old window or the new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from relgraph.errors import RelgraphError
from relgraph.store import atomic

ANCHOR = "ANCHOR_TIMESTAMP"


@dataclass(frozen=True)
class WindowResult:
    rows: int
    files: int
    start: str | None
    end: str | None
    destination: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def prediction_files(workspace: str | Path) -> list[Path]:
    """Every predictions Parquet file under the workspace's ``outputs/``."""
    root = Path(workspace) / "outputs"
    if not root.is_dir():
        return []
    found = [
        p
        for p in sorted(root.rglob("predictions*.parquet"))
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
        and ".tmp" not in p.name
    ]
    return found


def rolling_window(
    workspace: str | Path, days: float, *, now: datetime | None = None, model: str | None = None
) -> tuple[pa.Table, int, datetime | None]:
    """(rows of the window, files read, window end) from the workspace's prediction files."""
    if days <= 0:
        raise RelgraphError("--days must be a positive number of days")
    files = prediction_files(workspace)
    tables = [t for t in (pq.read_table(f) for f in files) if ANCHOR in t.column_names]
    if model is not None:  # a model id or a prefix of one
        tables = [
            t.filter(pc.starts_with(t.column("MODEL_ID"), model))
            for t in tables
            if "MODEL_ID" in t.column_names
        ]
    if not tables or not sum(t.num_rows for t in tables):
        return pa.table({}), len(files), None
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise RelgraphError(
            f"the prediction files do not share their columns' types ({e}); "
            "export one model at a time (--model)"
        ) from e
    anchors = table.column(ANCHOR).cast(pa.timestamp("us"))
    newest = pc.max(anchors).as_py()
    end = now.replace(tzinfo=None) if now is not None else newest
    if end is None:
        return table.slice(0, 0), len(files), None
    start = end - timedelta(days=days)
    keep = pc.and_(pc.greater(anchors, pa.scalar(start, pa.timestamp("us"))),
                   pc.less_equal(anchors, pa.scalar(end, pa.timestamp("us"))))  # fmt: skip
    window = table.filter(keep)
    order = [(ANCHOR, "ascending")]
    if "ENTITY" in window.column_names:
        order.append(("ENTITY", "ascending"))
    return window.sort_by(order), len(files), end


def export_window(
    workspace: str | Path,
    days: float,
    to: str | Path,
    *,
    now: datetime | None = None,
    model: str | None = None,
) -> WindowResult:
    """Write the rolling window to ``to`` (``.parquet`` or ``.csv``), replacing it atomically."""
    dest = Path(to)
    if dest.suffix.lower() not in (".parquet", ".csv"):
        raise RelgraphError(f"the window goes to a .parquet or .csv file, not '{dest.name}'")
    window, n_files, end = rolling_window(workspace, days, now=now, model=model)
    sink = pa.BufferOutputStream()
    if dest.suffix.lower() == ".csv":
        flat = window.select(
            [c for c in window.column_names if not pa.types.is_nested(window.schema.field(c).type)]
        )
        pacsv.write_csv(flat, sink)
    else:
        pq.write_table(window, sink)
    atomic.write_bytes(dest, bytes(sink.getvalue()))
    start = end - timedelta(days=days) if end is not None else None
    return WindowResult(
        rows=window.num_rows,
        files=n_files,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        destination=str(dest),
    )
