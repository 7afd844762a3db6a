"""Label semantics on the tiny shop: windows, boundaries, filters, NULLs, class and list targets.

Expected rows are worked out by hand from tests/query/conftest.py's CSVs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from relgraph import api
from relgraph.query.table import make_labels
from relgraph.store.snapshot import Snapshot

D = datetime
U = "FOR EACH users.user_id"


def rows(t: pa.Table) -> list[tuple[Any, ...]]:
    return list(
        zip(
            t.column("ANCHOR_TIMESTAMP").to_pylist(),
            t.column("ENTITY").to_pylist(),
            t.column("TARGET").to_pylist(),
            strict=True,
        )
    )


CASES = [
    # Users exist from their signup on; the window (t, t+30d] excludes an order at t itself.
    (f"PREDICT COUNT(orders.*, 0, 30, days) {U}", [D(2020, 1, 31), D(2020, 3, 1)],
     [(D(2020, 1, 31), 1, 1.0), (D(2020, 1, 31), 2, 1.0),
      (D(2020, 3, 1), 1, 0.0), (D(2020, 3, 1), 2, 1.0), (D(2020, 3, 1), 3, 0.0)]),
    # The window end is included: order 103 at exactly t+22d counts.
    (f"PREDICT COUNT(orders.*, 0, 22) {U}", [D(2020, 1, 10)],
     [(D(2020, 1, 10), 1, 1.0), (D(2020, 1, 10), 2, 2.0)]),
    (f"PREDICT COUNT(orders.* WHERE orders.status = 'cancelled', 0, 30) > 0 {U}",
     [D(2020, 3, 25)],
     [(D(2020, 3, 25), 1, 0.0), (D(2020, 3, 25), 2, 0.0), (D(2020, 3, 25), 3, 0.0),
      (D(2020, 3, 25), 4, 1.0)]),
    # WHERE keeps entities with a past order (an order at t itself is in the past).
    (f"PREDICT COUNT(orders.* WHERE orders.status = 'cancelled', 0, 30) > 0 {U} "
     "WHERE COUNT(orders.*, -INF, 0) > 0", [D(2020, 3, 25), D(2020, 1, 31)],
     [(D(2020, 1, 31), 1, 0.0), (D(2020, 1, 31), 2, 0.0),
      (D(2020, 3, 25), 1, 0.0), (D(2020, 3, 25), 2, 0.0), (D(2020, 3, 25), 3, 0.0)]),
    (f"PREDICT SUM(orders.amount, 0, 30) {U} ASSUMING COUNT(orders.*, 0, 30) > 0",
     [D(2020, 1, 31), D(2020, 3, 1)],
     [(D(2020, 1, 31), 1, 8.0), (D(2020, 1, 31), 2, 8.0), (D(2020, 3, 1), 2, 40.0)]),
    # AVG of no rows is NULL: no label.
    (f"PREDICT AVG(orders.amount, 0, 30) {U}", [D(2020, 3, 1)], [(D(2020, 3, 1), 2, 40.0)]),
    # Classes are ('cancelled', 'done').
    (f"PREDICT FIRST(orders.status, 0, 60) {U}", [D(2020, 1, 10)],
     [(D(2020, 1, 10), 1, 1), (D(2020, 1, 10), 2, 0)]),
    (f"PREDICT LAST(orders.status, 0, 60) {U}", [D(2020, 1, 10)],
     [(D(2020, 1, 10), 1, 1), (D(2020, 1, 10), 2, 1)]),
    (f"PREDICT LIST_DISTINCT(orders.item_id, 0, 60) RANK TOP 2 {U}", [D(2020, 1, 10)],
     [(D(2020, 1, 10), 1, [11, 12]), (D(2020, 1, 10), 2, [10, 11, 12])]),
    (f"PREDICT LIST_DISTINCT(orders.status, 0, 60) CLASSIFY {U}", [D(2020, 1, 10)],
     [(D(2020, 1, 10), 1, [1]), (D(2020, 1, 10), 2, [0, 1])]),
    # Entity restriction and a static column in WHERE.
    ("PREDICT COUNT(orders.*, 0, 30) FOR users.user_id IN (2, 3)", [D(2020, 3, 1)],
     [(D(2020, 3, 1), 2, 1.0), (D(2020, 3, 1), 3, 0.0)]),
    (f"PREDICT COUNT(orders.*, 0, 30) {U} WHERE users.country = 'FR' AND NOT users.age IS NULL",
     [D(2020, 3, 1)], [(D(2020, 3, 1), 1, 0.0)]),
    (f"PREDICT COUNT(orders.*, 0, 30) = 0 OR users.age > 40 {U}", [D(2020, 1, 31)],
     [(D(2020, 1, 31), 1, 0.0), (D(2020, 1, 31), 2, 1.0)]),
    (f"PREDICT MAX(orders.amount, 0, 60) >= 40 AND COUNT(orders.*, 0, 60) > 2 {U}",
     [D(2020, 1, 10)], [(D(2020, 1, 10), 1, 0.0), (D(2020, 1, 10), 2, 1.0)]),
    (f"PREDICT COUNT(orders.* WHERE orders.status STARTS WITH 'canc', 0, 1, months) {U}",
     [D(2020, 1, 10)], [(D(2020, 1, 10), 1, 0.0), (D(2020, 1, 10), 2, 1.0)]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "anchors", "expected"), CASES)
def test_labels(shop: Snapshot, text: str, anchors: list[datetime], expected: list[Any]) -> None:
    assert rows(make_labels(shop, text, anchors)) == expected


def test_data_until_hides_later_rows(shop: Snapshot) -> None:
    text = f"PREDICT COUNT(orders.*, 0, 30) {U}"
    got = make_labels(shop, text, [D(2020, 1, 31)], data_until=D(2020, 2, 10))
    assert rows(got) == [(D(2020, 1, 31), 1, 0.0), (D(2020, 1, 31), 2, 1.0)]


def test_column_types_follow_the_contract(shop: Snapshot) -> None:
    t = make_labels(shop, f"PREDICT COUNT(orders.*, 0, 30) > 0 {U}", [D(2020, 3, 1)])
    assert t.schema.names == ["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]
    assert t.schema.field("ANCHOR_TIMESTAMP").type == pa.timestamp("us")
    assert t.schema.field("TARGET").type == pa.float64()
    assert t.schema.field("ENTITY").type == pa.int64()
    mc = make_labels(shop, f"PREDICT FIRST(orders.status, 0, 60) {U}", [D(2020, 1, 10)])
    assert mc.schema.field("TARGET").type == pa.int64()
    empty = make_labels(shop, f"PREDICT COUNT(orders.*, 0, 30) {U}", [])
    assert empty.num_rows == 0 and empty.schema == t.schema


def test_static_target_splits_labelled_rows(shop: Snapshot) -> None:
    tables = api.training_tables("PREDICT users.age FOR EACH users.user_id", snapshot=shop)
    assert not tables.task.temporal
    labelled = sorted(
        [*tables.train.table.to_pylist(), *tables.val.table.to_pylist(),
         *tables.test_labels().to_pylist()],
        key=lambda r: r["ENTITY"],
    )  # fmt: skip
    assert [(r["ENTITY"], r["TARGET"]) for r in labelled] == [(1, 31.0), (2, 45.0), (4, 22.0)]
    assert "TARGET" not in tables.test.table.column_names


def test_static_condition_leaves_null_unlabelled(shop: Snapshot) -> None:
    tables = api.training_tables("PREDICT users.age > 30 FOR EACH users.user_id", snapshot=shop)
    assert tables.task.task_type.value == "binary" and not tables.task.temporal
    labelled = [*tables.train.table.to_pylist(), *tables.val.table.to_pylist(),
                *tables.test_labels().to_pylist()]  # fmt: skip
    assert sorted((r["ENTITY"], r["TARGET"]) for r in labelled) == [(1, 1.0), (2, 1.0), (4, 0.0)]


def test_training_tables_default_cutoffs(shop: Snapshot) -> None:
    tables = api.training_tables(f"PREDICT COUNT(orders.*, 0, 7) {U}", snapshot=shop)
    assert tables.val_cutoff < tables.test_cutoff
    assert "TARGET" not in tables.test.table.column_names
    assert tables.test_labels().schema.names == ["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]
    for split in ("train", "val"):
        t = tables.split(split).table
        assert t.num_rows > 0
        order = list(
            zip(
                t.column("ANCHOR_TIMESTAMP").to_pylist(),
                t.column("ENTITY").to_pylist(),
                strict=True,
            )
        )
        assert order == sorted(order)
    assert max(tables.train.table.column("ANCHOR_TIMESTAMP").to_pylist()) < tables.val_cutoff


def test_training_tables_accepts_a_compiled_task(shop: Snapshot) -> None:
    text = f"PREDICT COUNT(orders.*, 0, 7) > 0 {U}"
    task = api.compile_query(text, snapshot=shop)
    a = api.training_tables(task, snapshot=shop, val_cutoff="2020-02-20", test_cutoff="2020-03-10")
    b = api.training_tables(text, snapshot=shop, val_cutoff="2020-02-20", test_cutoff="2020-03-10")
    assert a.task == b.task == task
    assert a.train.table.equals(b.train.table) and a.test_labels().equals(b.test_labels())
    assert repr(a).startswith("TaskTables(binary, train=")


def test_cutoffs_accept_dates_strings_and_aware_times(shop: Snapshot) -> None:
    from datetime import date

    text = f"PREDICT COUNT(orders.*, 0, 7) > 0 {U}"
    a = api.training_tables(text, snapshot=shop, val_cutoff=date(2020, 2, 20),
                            test_cutoff="2020-03-10")  # fmt: skip
    b = api.training_tables(
        text, snapshot=shop, val_cutoff=D(2020, 2, 20, tzinfo=UTC),
        test_cutoff=D(2020, 3, 10),
    )  # fmt: skip
    assert (a.val_cutoff, a.test_cutoff) == (b.val_cutoff, b.test_cutoff) == (
        D(2020, 2, 20), D(2020, 3, 10)
    )  # fmt: skip
    assert a.train.table.equals(b.train.table)
