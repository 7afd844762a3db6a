"""The leakage audit: it catches planted leaks and passes on F1 without drivers.number."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from relgraph import api
from relgraph.audit.future import check_features
from relgraph.audit.report import audit_query
from relgraph.audit.static import future_static_columns
from relgraph.query import build_task_tables
from relgraph.train.baseline import compute_features
from relgraph.train.protocol import INPUT_TIMESTAMP, as_of

F1_DNF = (
    "PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) > 0 "
    "FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 30, days) > 0"
)
PLANTED_Q = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


def _write_leaky_shop(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """Users ordering over 2019-2024; ``tier`` is set only for users still ordering in 2023.

    ``age`` is honest noise. ``tier`` is what a CRM export looks like when a field was
    introduced late: it is there only for those who were still around to get it.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2019, 1, 1)
    users, orders, oid = [], [], 0
    for u in range(n):
        first = rng.uniform(0, 1400)
        last = min(first + rng.exponential(500), 2000)
        for d in np.sort(rng.uniform(first, last, int(rng.integers(3, 12)))):
            t = start + timedelta(days=float(d))
            orders.append(f"{oid},{u},{t:%Y-%m-%d %H:%M:%S}")
            oid += 1
        late = start + timedelta(days=float(last)) >= datetime(2023, 1, 1)
        users.append(f"{u},{int(rng.integers(18, 80))},{'gold' if late else ''}")
    (folder / "users.csv").write_text("user_id,age,tier\n" + "\n".join(users) + "\n")
    (folder / "orders.csv").write_text("order_id,user_id,ordered_at\n" + "\n".join(orders) + "\n")
    (folder / "schema.yaml").write_text(
        "tables:\n  users: {primary_key: user_id, time: null, "
        "columns: {age: numerical, tier: categorical}}\n"
        "  orders: {primary_key: order_id, time: ordered_at, foreign_keys: {user_id: users}}\n"
    )
    return folder


def test_static_audit_flags_the_planted_column_not_the_honest_one(tmp_path: Path) -> None:
    snap = api.ingest(str(_write_leaky_shop(tmp_path / "src")), workspace=tmp_path).snapshot
    found = {f.column: f for f in future_static_columns(snap)}
    assert found["tier"].flagged and found["tier"].how == "nullness"
    assert found["tier"].auroc > 0.95
    assert not found["age"].flagged and found["age"].auroc < 0.75
    report = audit_query(snap, PLANTED_Q, sample=10)
    assert not report.passed
    (static,) = [c for c in report.checks if c.name.startswith("static")]
    assert not static.passed and "users.tier" in static.detail[0]
    assert "drop: [tier]" in static.detail[0]


def _leaky_features(snapshot, task, table, *, con=None):  # type: ignore[no-untyped-def]
    """As-of features that forgot the as-of: every row is visible, whatever the anchor."""
    t = table.append_column(
        INPUT_TIMESTAMP, pa.array([datetime(2100, 1, 1)] * table.num_rows, pa.timestamp("us"))
    ) if INPUT_TIMESTAMP not in table.column_names else table  # fmt: skip
    return compute_features(snapshot, task, t, con=con)


def test_delete_the_future_catches_features_that_read_ahead(tmp_path: Path) -> None:
    snap = api.ingest(str(_write_leaky_shop(tmp_path / "src")), workspace=tmp_path).snapshot
    tables = build_task_tables(snap, PLANTED_Q)
    rows = tables.train.table.slice(0, 15)
    assert check_features(snap, tables.task, rows).passed
    leaky = check_features(snap, tables.task, rows, features=_leaky_features)
    assert not leaky.passed
    assert "without the rows after the anchor" in leaky.mismatches[0]


def test_frozen_inputs_see_only_rows_up_to_the_cutoff(f1_dir: Path, tmp_path: Path) -> None:
    snap = api.ingest(str(f1_dir), workspace=tmp_path).snapshot
    tables = build_task_tables(snap, F1_DNF, val_cutoff="2005-01-01", test_cutoff="2010-01-01")
    test = tables.test.table
    last = pc.max(test.column("ANCHOR_TIMESTAMP"))
    rows = test.filter(pc.equal(test.column("ANCHOR_TIMESTAMP"), last)).slice(0, 5)
    frozen = as_of(rows, "frozen", tables.test_cutoff)
    assert all(t <= datetime(2010, 1, 1) for t in frozen.column(INPUT_TIMESTAMP).to_pylist())
    assert check_features(snap, tables.task, frozen).passed
    # The frozen features are those of the cut-off: nothing after 2010 counts.
    f = compute_features(snap, tables.task, frozen).to_pylist()
    g = compute_features(snap, tables.task, rows).to_pylist()
    assert f != g
    col = "results.driverId.all.count"
    assert all(a[col] <= b[col] for a, b in zip(f, g, strict=True))


@pytest.mark.slow
def test_f1_audit_passes_without_number_and_flags_it_when_kept(
    f1_dir: Path, tmp_path: Path
) -> None:
    snap = api.ingest(str(f1_dir), workspace=tmp_path / "ws").snapshot
    assert not snap.schema["drivers"].has_column("number")
    report = audit_query(snap, F1_DNF, val_cutoff="2005-01-01", test_cutoff="2010-01-01", sample=10)
    # Every check passes but one: drivers.code encodes the future as well (it is set
    # exactly for the drivers who raced in 2005 or later), and the audit says so.
    failed = [c for c in report.checks if not c.passed]
    assert [c.name for c in failed] == ["static columns: none encodes the future"]
    assert len(failed[0].detail) == 1 and "'drivers.code'" in failed[0].detail[0]
    keep = tmp_path / "f1keep"
    shutil.copytree(f1_dir, keep)
    (keep / "schema.yaml").write_text(
        "tables:\n  qualifying:\n    time: {inherit: raceId, offset: -1 day}\n"
    )
    snap2 = api.ingest(str(keep), workspace=tmp_path / "ws2").snapshot
    flagged = [f for f in future_static_columns(snap2, tables=["drivers"]) if f.flagged]
    assert [f.column for f in flagged] == ["number", "code"]
    assert flagged[0].how == "nullness" and flagged[0].cut == datetime(2014, 1, 1)
