"""What each entity already has, for link tasks: to exclude from its recommendations.

A ranker asked "which items will this user rate next" puts the items the user rated
before near the top — they look like the user — and on ratings data, where an item is
rated once, every such slot is lost (42% of top-10 slots once). The items an entity
already has are the target table's rows linked to it **up to the row's input time**
(``INPUT_TIMESTAMP``, else the anchor): nothing after the anchor is read, so the
exclusion is as temporally sound as the features.

Whether to exclude (``exclude_seen``): ``always``, ``never``, or ``auto``, which
measures on the *training* labels how often a target item was already had (the
repeat rate) and excludes when repeats are rare. Excluding can lose at most that share
of the hits (the repeats become unreachable) while it frees every slot the ranker
would spend on owned items; on purchase data with many repeats it is not worth it.

Example:
    >>> decide("auto", 0.02), decide("auto", 0.4), decide("never", 0.0)
    (True, False, False)
    >>> repeat_rate([[1, 2], [3]], [[2], []])
    0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relgraph.errors import TrainingError
from relgraph.query.ast import Aggregate, Window
from relgraph.query.parser import parse
from relgraph.query.sql import label_sql
from relgraph.query.table import compile_on_snapshot, run_labels
from relgraph.store.snapshot import Snapshot
from relgraph.train.protocol import input_times

EXCLUDE_SEEN = ("auto", "always", "never")
# ``auto`` excludes when fewer than this share of training target items were already
# had: the hits exclusion can cost are then few, the slots it frees many.
AUTO_MAX_REPEAT = 0.1


def check_mode(mode: str) -> str:
    if mode not in EXCLUDE_SEEN:
        raise TrainingError(f"unknown exclude_seen '{mode}'; use one of: {', '.join(EXCLUDE_SEEN)}")
    return mode


def decide(mode: str, rate: float) -> bool:
    """Whether to exclude owned items under ``mode`` given the training repeat rate."""
    check_mode(mode)
    if mode == "auto":
        return bool(np.isfinite(rate) and rate < AUTO_MAX_REPEAT)
    return mode == "always"


def repeat_rate(targets: Sequence[Sequence[Any]], seen: Sequence[Sequence[Any]]) -> float:
    """Share of target items (over all rows) the entity already had; NaN with none."""
    hits = total = 0
    for t, s in zip(targets, seen, strict=True):
        t = list(t or ())
        total += len(t)
        hits += len(set(t) & set(s or ()))
    return hits / total if total else float("nan")


@dataclass
class ExcludeSeen:
    """The decision recorded in the train report and the model's metadata."""

    mode: str
    repeat_rate: float
    exclude: bool

    def to_dict(self) -> dict[str, Any]:
        rate = self.repeat_rate
        return {
            "mode": self.mode,
            "repeat_rate": round(rate, 4) if np.isfinite(rate) else None,
            "exclude": self.exclude,
            "auto_max_repeat": AUTO_MAX_REPEAT,
        }


class SeenItems:
    """Per row (``ENTITY``, anchor/``INPUT_TIMESTAMP``): the target keys it already has.

    Built from a link query's target ``LIST_DISTINCT(fact.fk, …)``: the same rows and
    path to the entity as the labels, over the window (-INF, 0] — everything up to the
    row's input time — without the target's or the query's conditions (an item rated
    badly is still had).
    """

    def __init__(self, snapshot: Snapshot, query: str) -> None:
        self.snapshot = snapshot
        self.task = compile_on_snapshot(snapshot, query)
        q = parse(query)
        target = q.target
        if not isinstance(target, Aggregate) or target.func != "LIST_DISTINCT":
            raise TrainingError("owned items are defined for LIST_DISTINCT(...) RANK targets only")
        past = replace(target, window=Window(None, 0, target.window.unit), where=None)
        self.sql = label_sql(replace(q, target=past, where=None, assuming=None), snapshot.schema)

    def __repr__(self) -> str:
        return f"SeenItems({self.task.entity_table} -> {self.task.target_entity_table})"

    def lists(self, rows: pa.Table) -> list[list[Any]]:
        """The target keys each row's entity had by the row's input time."""
        if rows.num_rows == 0:
            return []
        times = input_times(rows)
        anchors = sorted(set(times.to_pylist()))
        con = self.snapshot.duckdb()
        try:
            had = run_labels(
                con, self.sql, anchors, self.task, None, anchors[0] or datetime(2000, 1, 1),
                self.snapshot.schema,
            )  # fmt: skip
            con2 = duckdb.connect()
            try:
                con2.register("h", had)
                con2.register(
                    "r",
                    pa.table(
                        {
                            "_rid": pa.array(np.arange(rows.num_rows, dtype=np.int64)),
                            "ENTITY": rows.column("ENTITY"),
                            "t": times,
                        }
                    ),
                )
                got = con2.sql(
                    "SELECT h.TARGET FROM r LEFT JOIN h "
                    "ON h.ENTITY = r.ENTITY AND h.ANCHOR_TIMESTAMP = r.t ORDER BY r._rid"
                ).to_arrow_table()
            finally:
                con2.close()
        finally:
            con.close()
        return [list(v or ()) for v in got.column(0).to_pylist()]

    def pairs(self, rows: pa.Table, key_to_node: Any) -> tuple[np.ndarray, np.ndarray]:
        """(row, target node) pairs of owned items; ``key_to_node(keys) -> node ids``."""
        lists = self.lists(rows)
        counts = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
        r = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
        flat = [k for v in lists for k in v]
        nodes = np.asarray(key_to_node(np.asarray(flat)) if flat else [], dtype=np.int64)
        keep = nodes >= 0
        return r[keep], nodes[keep]
