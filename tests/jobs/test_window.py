"""relgraph export-window: the last N days of every stored prediction file, in one file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.predict.sinks import write_parquet

DAY0 = datetime(2026, 1, 1)


def _daily_predictions(ws: Path) -> None:
    """Ten daily refreshes of two models, as predict writes them (Kumo's columns)."""
    for day in range(10):
        for model in ("churn-a1", "churn-b2"):
            anchor = DAY0 + timedelta(days=day)
            t = pa.table({
                "ENTITY": pa.array([1, 2, 3], pa.int64()),
                "ANCHOR_TIMESTAMP": pa.array([anchor] * 3, pa.timestamp("us")),
                "TARGET_PRED": pa.array([0.1 * day] * 3),
                "MODEL_ID": pa.array([model] * 3),
                "SNAPSHOT_ID": pa.array([f"{day:016x}"] * 3),
            })  # fmt: skip
            write_parquet(t, ws / "outputs" / f"{model}-d{day}" / "predictions-now.parquet")


def test_window_keeps_the_last_days_of_every_file(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _daily_predictions(ws)
    (ws / "outputs" / "x").mkdir()
    (ws / "outputs" / "x" / ".predictions-now.tmp.parquet").write_bytes(b"half")  # ignored
    dest = tmp_path / "sink" / "recent.parquet"
    args = ["export-window", "--days", "3", "--to", str(dest), "--workspace", str(ws)]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["files"] == 20 and info["rows"] == 3 * 2 * 3  # days 7, 8, 9; two models
    got = pq.read_table(dest)
    days = sorted({a.day for a in got.column("ANCHOR_TIMESTAMP").to_pylist()})
    assert days == [8, 9, 10]  # Jan 8..10 = days 7..9
    # One model, as CSV; again: the file is replaced, not appended to.
    csv = tmp_path / "recent.csv"
    for _ in range(2):
        r = CliRunner().invoke(app, ["export-window", "--days", "1", "--to", str(csv),
                                     "--model", "churn-b", "--workspace", str(ws)])  # fmt: skip
        assert r.exit_code == 0, r.output
    rows = pacsv.read_csv(csv)
    assert rows.num_rows == 3 and set(rows.column("MODEL_ID").to_pylist()) == {"churn-b2"}
    bad = CliRunner().invoke(app, [*args[:3], "--to", str(tmp_path / "x.txt"), "-w", str(ws)])
    assert bad.exit_code != 0 and ".parquet or .csv" in bad.output
