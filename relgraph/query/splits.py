"""Anchor times per split (RelBench's protocol) and default cut-offs.

With target horizon Δ, validation cut-off *v* and test cut-off *T*:
- train anchors: *v−Δ, v−2Δ, …* back to the first row of the database, so the
  last training window ends exactly at *v* and no training label reads a row
  that a validation label reads;
- validation anchors: *v, v+Δ, …*, at most 40, while the anchor is ``<= T−Δ``
  (every validation window ends by *T*);
- test anchors: *T, T+Δ, …*, at most 40, while the anchor is ``<= last row−Δ``
  (every test window is complete).
Train and validation see the database only up to *T* (``data_until``); with the
anchors above that hides nothing their targets need, but it does cut an
ASSUMING window that reaches past Δ, which is the point: no train/val row may
depend on what happened after the test cut-off.

Example:
    >>> from datetime import datetime
    >>> s = anchor_times((30, "days"), datetime(2005, 1, 1), datetime(2005, 3, 2),
    ...                  datetime(2004, 10, 1), datetime(2006, 1, 1))
    >>> [t.date().isoformat() for t in s.train]
    ['2004-10-03', '2004-11-02', '2004-12-02']
    >>> [t.date().isoformat() for t in s.val]
    ['2005-01-01', '2005-01-31']
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from relgraph.query.ast import unit_delta

NUM_EVAL_ANCHORS = 40


def shift(t: datetime, n: int, unit: str) -> datetime:
    """``t`` moved by ``n`` units; months are calendar months (day clipped to the month's end)."""
    if unit != "months":
        return t + unit_delta(n, unit)
    month0 = t.month - 1 + n
    year, month = t.year + month0 // 12, month0 % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Anchors:
    """The anchor times of each split, oldest first."""

    train: tuple[datetime, ...]
    val: tuple[datetime, ...]
    test: tuple[datetime, ...]
    val_cutoff: datetime
    test_cutoff: datetime

    def __repr__(self) -> str:
        return (
            f"Anchors(train={len(self.train)}, val={len(self.val)}, test={len(self.test)}, "
            f"val_cutoff={self.val_cutoff:%Y-%m-%d}, test_cutoff={self.test_cutoff:%Y-%m-%d})"
        )


def anchor_times(
    delta: tuple[int, str],
    val_cutoff: datetime,
    test_cutoff: datetime,
    data_min: datetime,
    data_max: datetime,
    num_eval: int = NUM_EVAL_ANCHORS,
) -> Anchors:
    """Anchors for each split; see the module docstring for the rules."""
    n, unit = delta
    train: list[datetime] = []
    k = 1
    while (t := shift(val_cutoff, -k * n, unit)) >= data_min:
        train.append(t)
        k += 1
    val = []
    for k in range(num_eval):
        t = shift(val_cutoff, k * n, unit)
        if shift(t, n, unit) > test_cutoff:
            break
        val.append(t)
    test = []
    for k in range(num_eval):
        t = shift(test_cutoff, k * n, unit)
        if shift(t, n, unit) > data_max:
            break
        test.append(t)
    return Anchors(tuple(reversed(train)), tuple(val), tuple(test), val_cutoff, test_cutoff)


def default_cutoffs(
    q80: datetime, q90: datetime, data_max: datetime, delta: tuple[int, str]
) -> tuple[datetime, datetime]:
    """Cut-offs from the data: roughly 80/10/10 of the target table's rows, at midnight.

    ``q80``/``q90`` are the 80th/90th percentiles of the target rows' times. The
    test cut-off moves back so at least one full Δ fits after it, and the
    validation cut-off so at least one fits between the two.
    """
    n, unit = delta

    def day(t: datetime) -> datetime:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)

    test = min(day(q90), day(shift(data_max, -n, unit)))
    val = min(day(q80), day(shift(test, -n, unit)))
    return val, test
