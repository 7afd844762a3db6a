"""Temporal correctness: labels never read past the window end, entity filters never past t.

For random anchors t, every label (target and ASSUMING) must be unchanged when
every row dated after t+Δ is deleted from the database, and every WHERE
decision unchanged when every row dated after t is deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.audit.future import hidden_after
from relgraph.query.table import make_labels
from relgraph.store.snapshot import Snapshot

F1_LABELS = [
    # (query, horizon in days: the latest window end it reads)
    ("PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) > 0 "
     "FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 30, days) > 0", 30),
    ("PREDICT MIN(qualifying.position, 0, 30, days) <= 3 FOR EACH drivers.driverId "
     "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0", 30),
    ("PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH drivers.driverId "
     "ASSUMING COUNT(results.*, 0, 90, days) > 1", 90),
    ("PREDICT LIST_DISTINCT(results.constructorId, 0, 2, months) RANK TOP 3 "
     "FOR EACH drivers.driverId", 62),
    ("PREDICT SUM(driver_standings.points, 7, 14, days) FOR EACH drivers.driverId "
     "WHERE COUNT(results.*, -365, 0, days) > 2", 14),
]  # fmt: skip
# Targets that are never NULL, so the rows kept are exactly the WHERE decisions.
F1_FILTERS = [
    "PREDICT COUNT(results.*, 0, 30) FOR EACH drivers.driverId "
    "WHERE COUNT(results.* WHERE results.positionOrder <= 3, -365, 0, days) > 0",
    "PREDICT COUNT(results.*, 0, 30) FOR EACH drivers.driverId "
    "WHERE COUNT(qualifying.*, -INF, 0) >= 10 AND NOT drivers.nationality = 'British'",
    "PREDICT COUNT(results.*, 0, 30) FOR EACH drivers.driverId "
    "WHERE MAX(results.points, -2, 0, months) > 0 OR COUNT(pit_stops.*, -30, -1) > 0",
]


def same(a: pa.Table, b: pa.Table) -> bool:
    return a.to_pylist() == b.to_pylist()


anchors = st.datetimes(min_value=datetime(1955, 1, 1), max_value=datetime(2024, 6, 1)).map(
    lambda t: t.replace(microsecond=0)
)


@settings(max_examples=8, deadline=None)
@given(anchors, st.sampled_from(F1_LABELS))
def test_labels_ignore_rows_after_window_end(
    f1: Snapshot, t: datetime, case: tuple[str, int]
) -> None:
    text, horizon = case
    full = make_labels(f1, text, [t])
    cut = make_labels(f1, text, [t], con=hidden_after(f1, t + timedelta(days=horizon)))
    assert same(full, cut)


@settings(max_examples=8, deadline=None)
@given(anchors, st.sampled_from(F1_FILTERS))
def test_entity_filter_ignores_rows_after_anchor(f1: Snapshot, t: datetime, text: str) -> None:
    full = make_labels(f1, text, [t])
    cut = make_labels(f1, text, [t], con=hidden_after(f1, t))
    assert full.column("ENTITY").to_pylist() == cut.column("ENTITY").to_pylist()


def test_the_check_can_fail(f1: Snapshot) -> None:
    # Controls: hiding rows *inside* the window changes labels, and a condition that does
    # look forward (ASSUMING) changes the entity set, so the tests above have teeth.
    t = datetime(2008, 5, 1)
    text = F1_LABELS[0][0]
    inside = hidden_after(f1, t + timedelta(days=10))
    assert not same(make_labels(f1, text, [t]), make_labels(f1, text, [t], con=inside))
    fwd = (
        "PREDICT COUNT(results.*, 0, 30) FOR EACH drivers.driverId "
        "ASSUMING COUNT(results.*, 0, 30) > 0"
    )
    assert not same(make_labels(f1, fwd, [t]), make_labels(f1, fwd, [t], con=hidden_after(f1, t)))


def test_shop_labels_ignore_the_future(shop: Snapshot) -> None:
    text = (
        "PREDICT COUNT(orders.* WHERE orders.status = 'done', 0, 20) > 0 FOR EACH users.user_id "
        "WHERE COUNT(orders.*, -INF, 0) > 0 ASSUMING COUNT(orders.*, 0, 20) > 0"
    )
    for day in range(0, 100, 11):
        t = datetime(2020, 1, 1) + timedelta(days=day, hours=7)
        full = make_labels(shop, text, [t])
        assert same(
            full, make_labels(shop, text, [t], con=hidden_after(shop, t + timedelta(days=20)))
        )
