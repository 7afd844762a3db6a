"""Anchor times per split and default cut-offs."""

from __future__ import annotations

from datetime import datetime, timedelta

from relgraph.query.splits import anchor_times, default_cutoffs, shift

D = datetime


def test_relbench_protocol_30_days() -> None:
    a = anchor_times((30, "days"), D(2005, 1, 1), D(2010, 1, 1), D(1950, 5, 13), D(2025, 12, 7))
    d = timedelta(days=30)
    # Train runs back from v−Δ to the first row; its last window ends exactly at v.
    assert a.train[-1] == D(2005, 1, 1) - d and a.train[-1] + d == a.val_cutoff
    assert a.train[0] >= D(1950, 5, 13) > a.train[0] - d
    assert all(b - x == d for x, b in zip(a.train, a.train[1:], strict=False))
    # Validation: 40 anchors from v (all windows end before T); test: 40 from T.
    assert a.val[0] == D(2005, 1, 1) and len(a.val) == 40 and a.val[-1] + d <= a.test_cutoff
    assert a.test[0] == D(2010, 1, 1) and len(a.test) == 40


def test_val_stops_before_test_minus_delta_and_test_before_data_end() -> None:
    a = anchor_times((10, "days"), D(2020, 1, 1), D(2020, 1, 31), D(2019, 12, 1), D(2020, 2, 20))
    assert a.val == (D(2020, 1, 1), D(2020, 1, 11), D(2020, 1, 21))  # 01-21 + 10d = T
    assert a.test == (D(2020, 1, 31), D(2020, 2, 10))  # 02-10 + 10d = last row
    assert a.train == (D(2019, 12, 2), D(2019, 12, 12), D(2019, 12, 22))


def test_calendar_months() -> None:
    assert shift(D(2020, 1, 31), 1, "months") == D(2020, 2, 29)
    assert shift(D(2020, 3, 31), -13, "months") == D(2019, 2, 28)
    a = anchor_times((1, "months"), D(2020, 6, 1), D(2020, 9, 1), D(2020, 3, 15), D(2021, 1, 1))
    assert a.train == (D(2020, 4, 1), D(2020, 5, 1))
    assert a.val == (D(2020, 6, 1), D(2020, 7, 1), D(2020, 8, 1))


def test_default_cutoffs_leave_room_for_a_window() -> None:
    v, t = default_cutoffs(D(2020, 8, 3, 15), D(2020, 9, 9, 1), D(2021, 1, 1), (30, "days"))
    assert (v, t) == (D(2020, 8, 3), D(2020, 9, 9))
    # Data too short after the 90% quantile: the test cut-off moves back, then validation.
    v, t = default_cutoffs(D(2020, 12, 20), D(2020, 12, 30), D(2021, 1, 1), (30, "days"))
    assert t == D(2020, 12, 2) and v == D(2020, 11, 2)
