"""Numbers stored as text (F1's clock times "1:26.572") in targets and filters; DuckDB errors.

F1's ``qualifying.q1`` is text in the CSV, numerical in the schema. Expected values are
read off ``examples/f1/qualifying.csv`` by hand (race 18, the 2008 Australian GP, on
2008-03-16 04:30; qualifying is dated a day earlier) or recomputed below from the CSVs
with a parser written here, independent of the SQL macro.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from relgraph.errors import QueryError
from relgraph.query import TaskType, compile_task
from relgraph.query.table import label_error, make_labels
from relgraph.store.snapshot import Snapshot

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"
BEFORE_RACE_18 = datetime(2008, 3, 14)


def labels(t: pa.Table) -> dict[Any, Any]:
    return dict(zip(t.column("ENTITY").to_pylist(), t.column("TARGET").to_pylist(), strict=True))


def test_min_of_clock_times_is_in_seconds(f1: Snapshot) -> None:
    text = (
        "PREDICT MIN(qualifying.q1, 0, 2, days) FOR EACH drivers.driverId "
        "ASSUMING COUNT(qualifying.*, 0, 2, days) > 0"
    )
    got = labels(make_labels(f1, text, [BEFORE_RACE_18]))
    assert len(got) == 22  # the 22 drivers who qualified for race 18
    assert got[1] == pytest.approx(86.572)  # 1:26.572
    assert got[5] == pytest.approx(85.664)  # 1:25.664, the fastest q1
    assert got[19] == pytest.approx(89.059)  # 1:29.059, the slowest


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # Drivers 5 (1:25.664) and 2 (1:25.960) were under 86 s, driver 1 (1:26.572) not.
        ("COUNT(qualifying.* WHERE qualifying.q1 < 86, 0, 2, days)", {1: 0.0, 2: 1.0, 5: 1.0}),
        ("MIN(qualifying.q1, 0, 2, days) < 86", {1: 0.0, 2: 1.0, 5: 1.0}),
        ("COUNT(qualifying.* WHERE qualifying.q1 >= 85.96, 0, 2, days)", {1: 1.0, 2: 1.0, 5: 0.0}),
    ],
)
def test_clock_times_compare_with_numbers(
    f1: Snapshot, target: str, expected: dict[int, float]
) -> None:
    text = f"PREDICT {target} FOR drivers.driverId IN (1, 2, 5)"
    assert labels(make_labels(f1, text, [BEFORE_RACE_18])) == expected


def _seconds(text: str) -> float | None:
    """'1:26.572' -> 86.572; missing values ('\\N', '') -> None."""
    if text in ("\\N", ""):
        return None
    minutes, _, seconds = text.rpartition(":")
    return (int(minutes) * 60 if minutes else 0) + float(seconds)


def _reference_avg_q1(anchor: datetime, days: int) -> dict[int, float]:
    """AVG(q1) per driver over qualifying rows in (anchor, anchor + days], from the CSVs."""
    with (F1 / "races.csv").open(newline="") as f:
        race_time = {
            int(r["raceId"]): datetime.fromisoformat(
                r["date"] + " " + (r["time"] if r["time"] != "\\N" else "00:00:00")
            )
            for r in csv.DictReader(f)
        }
    values: dict[int, list[float]] = {}
    with (F1 / "qualifying.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            when = race_time[int(r["raceId"])] - timedelta(days=1)
            q1 = _seconds(r["q1"])
            if anchor < when <= anchor + timedelta(days=days) and q1 is not None:
                values.setdefault(int(r["driverId"]), []).append(q1)
    return {d: sum(v) / len(v) for d, v in values.items()}


def test_avg_of_clock_times_matches_the_csv(f1: Snapshot) -> None:
    anchor = datetime(2008, 1, 1)
    text = "PREDICT AVG(qualifying.q1, 0, 365, days) FOR EACH drivers.driverId"
    got = labels(make_labels(f1, text, [anchor]))
    want = _reference_avg_q1(anchor, 365)
    assert len(want) > 20
    assert got == pytest.approx(want)


def test_clock_time_compared_with_text_is_refused(f1: Snapshot) -> None:
    text = (
        "PREDICT COUNT(qualifying.* WHERE qualifying.q1 < '1:26', 0, 30) FOR EACH drivers.driverId"
    )
    with pytest.raises(QueryError, match=r"qualifying\.q1 is a number; compare it with a number"):
        make_labels(f1, text, [BEFORE_RACE_18])


def test_duckdb_failure_names_the_column(shop: Snapshot) -> None:
    # The stored type no longer fits the schema (here: a view that turns amounts into
    # text): DuckDB's binder error comes back as a QueryError pointing at the column.
    con = shop.duckdb()
    path = str(shop.table_path("orders")).replace("'", "''")
    con.execute(
        "CREATE OR REPLACE VIEW orders AS SELECT * REPLACE (CAST(amount AS VARCHAR) AS amount) "
        f"FROM read_parquet('{path}')"
    )
    text = "PREDICT SUM(orders.amount, 0, 30) FOR EACH users.user_id"
    with pytest.raises(QueryError, match=r"column 'orders\.amount' \(stored as double") as info:
        make_labels(shop, text, [datetime(2020, 1, 31)], con=con)
    assert (info.value.line, info.value.col) == (1, 13)
    assert "sum(VARCHAR)" in str(info.value)


def test_static_clock_time_target_is_regression_in_seconds(f1: Snapshot) -> None:
    text = "PREDICT qualifying.q1 FOR EACH qualifying.qualifyId"
    task, _ = compile_task(text, f1.schema)
    assert task.task_type is TaskType.regression
    later = [datetime(2030, 1, 1)]
    got = labels(make_labels(f1, text, later))
    assert got[1] == pytest.approx(86.572) and got[3] == pytest.approx(85.664)
    assert len(got) == sum(1 for v in _q1_column() if v is not None)  # NULL q1: no label
    # A static WHERE compares the seconds too: 1:26.572 is not under 86 s, 1:25.664 is.
    fast = labels(make_labels(f1, f"{text} WHERE qualifying.q1 < 86", later))
    assert 1 not in fast and fast[3] == pytest.approx(85.664)
    assert len(fast) == sum(1 for v in _q1_column() if v is not None and v < 86)


def _q1_column() -> list[float | None]:
    with (F1 / "qualifying.csv").open(newline="") as f:
        return [_seconds(r["q1"]) for r in csv.DictReader(f)]


def test_duckdb_failure_without_a_clue_lists_the_columns_read(shop: Snapshot) -> None:
    text = (
        "PREDICT SUM(orders.amount WHERE orders.status = 'done', 0, 30) FOR EACH users.user_id "
        "WHERE users.age > 30"
    )
    task, _ = compile_task(text, shop.schema)
    err = label_error(task, duckdb.ConversionException("Conversion Error: out of range"))
    message = str(err)
    for column in ("'orders.amount'", "'orders.status'", "'users.age'"):
        assert column in message
    assert "Conversion Error: out of range" in message
    assert (err.line, err.col) == (1, 13)  # the first column read: the target's
