"""Semantic checks against a snapshot schema, and task-type inference."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relgraph import api
from relgraph.errors import QueryError
from relgraph.query import TaskType
from relgraph.store.snapshot import Snapshot


@pytest.mark.parametrize(
    ("text", "col", "match"),
    [
        ("PREDICT COUNT(order.*, 0, 30) > 0 FOR EACH users.user_id", 15,
         r"unknown table 'order' \(did you mean 'orders'\?\)"),
        ("PREDICT SUM(orders.amout, 0, 30) FOR EACH users.user_id", 13,
         r"unknown column 'orders.amout' \(did you mean 'orders.amount'\?\)"),
        ("PREDICT COUNT(orders.*, 0, 30) FOR EACH users.userid", 41,
         r"did you mean 'users.user_id'"),
        ("PREDICT COUNT(orders.*, 0, 30) FOR EACH users.name", 41, "not the primary key"),
        ("PREDICT SUM(orders.status, 0, 30) FOR EACH users.user_id", 9,
         "cannot SUM the categorical column 'orders.status'"),
        ("PREDICT COUNT(items.*, 0, 30) FOR EACH users.user_id", 15, "no time column"),
        ("PREDICT COUNT(orders.*, -30, 0) FOR EACH users.user_id", 9, "start must be >= 0"),
        ("PREDICT COUNT(orders.*, 0, 30) FOR EACH users.user_id WHERE COUNT(orders.*, -5, 5) > 0",
         61, "window end must be <= 0"),
        ("PREDICT COUNT(orders.*, 0, 30) FOR EACH items.item_id WHERE orders.amount > 1", 61,
         "not a column of the entity table 'items'"),
        ("PREDICT COUNT(orders.* WHERE users.age > 3, 0, 30) FOR EACH users.user_id", 30,
         "may only use columns of 'orders'"),
        ("PREDICT COUNT(orders.*, 0, 30) > 'many' FOR EACH users.user_id", 9, "is a number"),
        ("PREDICT COUNT(orders.* WHERE orders.status = 1, 0, 9) FOR EACH users.user_id", 30,
         "is text; quote the constant"),
        ("PREDICT COUNT(orders.* WHERE orders.amount LIKE 'x', 0, 9) FOR EACH users.user_id", 30,
         "LIKE needs a text operand"),
        ("PREDICT LIST_DISTINCT(orders.item_id, 0, 9) FOR EACH users.user_id", 9,
         "needs RANK TOP k"),
        ("PREDICT LIST_DISTINCT(orders.amount, 0, 9) RANK TOP 3 FOR EACH users.user_id", 23,
         "not a foreign key"),
        ("PREDICT SUM(orders.amount, 0, 9) RANK TOP 3 FOR EACH users.user_id", 9,
         "needs a LIST_DISTINCT"),
        ("PREDICT orders.amount FOR EACH users.user_id", 9, "static target must be a column of"),
        ("PREDICT users.user_id FOR EACH users.user_id", 9, "cannot predict the primary key"),
        ("PREDICT users.age FOR EACH users.user_id = 'x'", 28, "is a number"),
        ("PREDICT users.age FOR EACH users.user_id WHERE users.signup > 'last week'", 48,
         "is a time; compare it with a quoted date"),
        ("PREDICT users.age FOR EACH users.user_id WHERE users.signup > 2020", 48,
         "is a time"),
    ],
)  # fmt: skip
def test_semantic_errors(shop: Snapshot, text: str, col: int, match: str) -> None:
    with pytest.raises(QueryError, match=match) as info:
        api.compile_query(text, snapshot=shop)
    assert (info.value.line, info.value.col) == (1, col)


def test_entity_table_needs_primary_key(f1: Snapshot) -> None:
    with pytest.raises(QueryError, match="'pit_stops' has no primary key"):
        api.compile_query("PREDICT pit_stops.lap FOR EACH pit_stops.stop", snapshot=f1)


def test_aggregated_table_must_reach_entity(f1: Snapshot) -> None:
    with pytest.raises(QueryError, match="'races' has no foreign key to the entity table"):
        api.compile_query("PREDICT COUNT(races.*, 0, 30) FOR EACH drivers.driverId", snapshot=f1)


def test_ambiguous_path_is_refused() -> None:
    from relgraph.query.parser import parse
    from relgraph.query.validate import validate
    from relgraph.schema.types import Column, ForeignKey, Schema, SType, TableSchema

    def table(name: str, *fks: tuple[str, str], time: str | None = None) -> TableSchema:
        cols = [Column("id", "int64", SType.id)] + [Column(c, "int64", SType.id) for c, _ in fks]
        if time:
            cols.append(Column(time, "timestamp[us]", SType.timestamp))
        return TableSchema(
            name, tuple(cols), "id", tuple(ForeignKey(c, t) for c, t in fks), time_column=time
        )

    # A transfer points at its sender and its receiver: which user does it belong to?
    schema = Schema(
        {"users": table("users"),
         "transfers": table("transfers", ("sender", "users"), ("receiver", "users"), time="ts")}
    )  # fmt: skip
    text = "PREDICT COUNT(transfers.*, 0, 30) FOR EACH users.id"
    with pytest.raises(
        QueryError, match=r"in several ways \(transfers.sender; transfers.receiver\)"
    ):
        validate(parse(text), schema, text)


@pytest.mark.parametrize(
    ("text", "task_type", "metric", "window_days"),
    [
        ("PREDICT COUNT(orders.*, 0, 30) > 0 FOR EACH users.user_id", TaskType.binary, "auroc", 30),
        ("PREDICT MIN(orders.amount, 0, 7) <= 3 FOR EACH users.user_id", TaskType.binary,
         "auroc", 7),
        ("PREDICT SUM(orders.amount, 0, 2, weeks) FOR EACH users.user_id", TaskType.regression,
         "mae", 14),
        ("PREDICT COUNT(orders.*, 0, 30) FOR EACH users.user_id", TaskType.regression, "mae", 30),
        ("PREDICT FIRST(orders.status, 0, 30) FOR EACH users.user_id", TaskType.multiclass,
         "accuracy", 30),
        ("PREDICT LIST_DISTINCT(orders.item_id, 0, 30) RANK TOP 2 FOR EACH users.user_id",
         TaskType.link, "map@k", 30),
        ("PREDICT LIST_DISTINCT(orders.status, 0, 30) CLASSIFY FOR EACH users.user_id",
         TaskType.multilabel, "macro_auroc", 30),
        ("PREDICT users.age FOR EACH users.user_id", TaskType.regression, "mae", None),
        ("PREDICT users.country FOR EACH users.user_id", TaskType.multiclass, "accuracy", None),
    ],
)  # fmt: skip
def test_task_inference(
    shop: Snapshot, text: str, task_type: TaskType, metric: str, window_days: int | None
) -> None:
    task = api.compile_query(text, snapshot=shop)
    assert (task.task_type, task.metric) == (task_type, metric)
    assert task.window == (timedelta(days=window_days) if window_days else None)
    assert task.temporal is (window_days is not None)
    assert (task.entity_table, task.entity_column) == ("users", "user_id")


def test_task_details(shop: Snapshot) -> None:
    link = api.compile_query(
        "PREDICT LIST_DISTINCT(orders.item_id, 0, 30) RANK TOP 2 FOR EACH users.user_id",
        snapshot=shop,
    )
    assert (link.k, link.target_entity_table, link.target_table) == (2, "items", "orders")
    mc = api.compile_query(
        "PREDICT FIRST(orders.status, 0, 30) FOR EACH users.user_id", snapshot=shop
    )
    assert mc.classes == ("cancelled", "done")
    assert repr(mc) == "Task(multiclass, users.user_id, metric=accuracy, window=30d)"
