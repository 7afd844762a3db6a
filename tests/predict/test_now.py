"""The rows of a "now" prediction honour the query's entity filters.

relgraph.testing's shop: users 1-4 (Ada UK 36, Grace US 45, Linus FI 28, Margaret US
52, no time column), orders from 2024-01-03 to 2024-03-09 16:20 ("now"). Orders in
the 20 days up to now (after 2024-02-18 16:20): 106 (user 4, 03-01) and 107 (user 2,
at now itself, which is in the past window).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from relgraph.predict.run import _Task, now_table
from relgraph.query import compile_task
from relgraph.store.snapshot import Snapshot
from relgraph.testing import shop_snapshot

NOW = datetime(2024, 3, 9, 16, 20)
TARGET = "PREDICT COUNT(orders.*, 0, 30, days) > 0"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    return shop_snapshot(Path(tmp_path_factory.mktemp("shop")))


@pytest.mark.parametrize(
    ("rest", "users"),
    [
        ("FOR EACH users.user_id", [1, 2, 3, 4]),
        ("FOR EACH users.user_id WHERE COUNT(orders.*, -20, 0, days) > 0", [2, 4]),
        ("FOR EACH users.user_id WHERE COUNT(orders.*, -20, 0, days) = 0", [1, 3]),
        ("FOR users.user_id IN (1, 3)", [1, 3]),
        ("FOR users.user_id = 2", [2]),
        ("FOR EACH users.user_id WHERE users.country = 'US' AND users.age > 50", [4]),
        # ASSUMING speaks of the future, which "now" cannot see: it is assumed, not
        # checked (checking it would leave no row at all, nobody has ordered after now).
        ("FOR EACH users.user_id ASSUMING COUNT(orders.*, 0, 30, days) > 0", [1, 2, 3, 4]),
        (
            "FOR EACH users.user_id WHERE users.country = 'US' "
            "ASSUMING COUNT(orders.*, 0, 30, days) > 0",
            [2, 4],
        ),
    ],
)
def test_now_rows_follow_the_query(shop: Snapshot, rest: str, users: list[int]) -> None:
    task, _ = compile_task(f"{TARGET} {rest}", shop.schema)
    rows = now_table(shop, _Task(task.to_dict()))
    assert rows.column_names == ["ENTITY", "ANCHOR_TIMESTAMP"]
    assert rows.column("ENTITY").to_pylist() == users
    assert set(rows.column("ANCHOR_TIMESTAMP").to_pylist()) == {NOW}


def test_now_rows_of_a_static_target(shop: Snapshot) -> None:
    text = "PREDICT users.country FOR EACH users.user_id WHERE users.age < 40"
    task, _ = compile_task(text, shop.schema)
    assert now_table(shop, _Task(task.to_dict())).column("ENTITY").to_pylist() == [1, 3]
