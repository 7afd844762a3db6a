"""Drift between snapshots: PSI, columns, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relgraph import api
from relgraph.explain.drift import column_drift, label_drift, numeric_psi, psi
from relgraph.testing import write_planted

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)
    assert numeric_psi(a, b) < 0.02
    assert numeric_psi(a, b + 1.5) > 0.25
    assert psi(np.array([50, 50]), np.array([50, 50])) == 0.0


def test_a_grown_snapshot_shows_its_shifted_column_and_new_category(tmp_path: Path) -> None:
    data = write_planted(tmp_path / "src", num_users=60, seed=0)
    old = api.ingest(str(data.folder), workspace=tmp_path / "ws").snapshot
    lines = (data.folder / "users.csv").read_text().splitlines()
    # 60 new users, all older than anyone before, in a new segment.
    grown = lines + [f"{1000 + i},{90 + i % 5},z" for i in range(60)]
    (data.folder / "users.csv").write_text("\n".join(grown) + "\n")
    new = api.ingest(str(data.folder), workspace=tmp_path / "ws").snapshot
    cols, rows = column_drift(old, new)
    by = {(d.table, d.column): d for d in cols}
    assert rows["users"] == {"old": 60, "new": 120}
    assert by[("users", "age")].level == "large" and by[("users", "segment")].new_values == 1
    assert by[("orders", "quantity")].psi < 1e-9  # orders did not change
    labels = label_drift(old, new, QUERY)
    assert labels["old"]["rows"] > 0 and 0.0 < labels["old"]["rate"] < 1.0
