"""Labeling at scale: a project with 1M items and 100k labels on the SQLite metadata DB.

Prints ``next-item p99 N ms`` (target < 20 ms), ``queue page p99`` (< 100 ms, keyset pages
of 50 after an item at a random depth of the whole queue; the first page, which also
counts the queue, is printed apart), ``export of 100k labels`` (< 5 s) and
``label-model fit on 1M × 20 votes`` (< 60 s, Snorkel's LabelModel, 100 epochs).

The items and labels are bulk-inserted (setup, not measured); the measured calls are the
ones the CLI, SDK and REST routes make (``LabelStore.next_item``, ``queue``,
``relgraph.labels.sets.export``, ``relgraph.labels.weak.label_model``).

    python benchmarks/labels_scale.py [--items 1000000] [--labels 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from relgraph.jobs.models import Label, LabelItem, utcnow
from relgraph.labels import LabelStore, Who
from relgraph.labels.sets import export
from relgraph.labels.store import encode_cursor
from relgraph.labels.weak import Votes, label_model


def p99(ms: list[float]) -> float:
    return float(np.percentile(ms, 99))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--labels", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="rg-labels-scale-"))
    ls = LabelStore.open(ws)
    ls.create_project("big", table="customers", key="id", schema={"classes": ["a", "b", "c"]})
    ls.add_stage("big", "first", labelers=["ann", "bob"])
    stage_id = ls.project("big")["stages"][0]["id"]
    t0 = time.perf_counter()
    now = utcnow()
    rng = random.Random(0)

    def fill(s: object) -> None:
        conn = s.connection()  # type: ignore[attr-defined]
        for start in range(0, args.items, 50_000):
            conn.execute(
                insert(LabelItem),
                [
                    {
                        "project_id": "big",
                        "stage_id": stage_id,
                        "key": str(i),
                        "priority": float(i),
                        "n_labels": int(i < args.labels),
                        "done": i < args.labels,
                        "created_at": now,
                    }
                    for i in range(start, min(start + 50_000, args.items))
                ],
            )
        for start in range(0, args.labels, 50_000):
            conn.execute(
                insert(Label),
                [
                    {
                        "project_id": "big",
                        "stage_id": stage_id,
                        "item_id": i + 1,
                        "key": str(i),
                        "labeler": "ann",
                        "value": {"value": rng.choice("abc"), "attributes": {}},
                        "created_at": now,
                    }
                    for i in range(start, min(start + 50_000, args.labels))
                ],
            )

    ls.db.write(fill)
    print(f"setup: {args.items} items, {args.labels} labels in {time.perf_counter() - t0:.1f} s")

    bob = Who.of("bob")
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        ls.next_item("big", "first", who=bob)
        times.append((time.perf_counter() - t) * 1000)
    print(f"next-item p99 {p99(times):.1f} ms (median {np.median(times):.1f} ms; target 20 ms)")

    # Keyset pages: continue after an item at a random depth of the queue (item i has
    # priority i and id i + 1 here), as a client following 'next' tokens does.
    times = []
    for _ in range(args.calls):
        at = rng.randrange(0, args.items - 50)
        token = encode_cursor(float(at), at + 1)
        t = time.perf_counter()
        page = ls.queue("big", "first", limit=50, after=token)
        times.append((time.perf_counter() - t) * 1000)
        assert page["items"][0]["key"] == str(at + 1)
    print(f"queue page p99 {p99(times):.1f} ms (median {np.median(times):.1f} ms; target 100 ms)")
    times = []
    for done in (None, False, True) * 10:
        t = time.perf_counter()
        ls.queue("big", "first", limit=50, done=done)
        times.append((time.perf_counter() - t) * 1000)
    print(
        f"queue first page (with the count) p99 {p99(times):.1f} ms "
        f"(median {np.median(times):.1f} ms; counted once per listing)"
    )

    t = time.perf_counter()
    man = export(ls, "big", "v1")
    print(f"export of {man.rows} labels {time.perf_counter() - t:.2f} s (target 5 s)")

    gen = np.random.default_rng(0)
    n, m = 1_000_000, 20
    truth = gen.integers(0, 3, n)
    acc = gen.uniform(0.55, 0.9, m)
    cover = gen.uniform(0.1, 0.6, m)
    right = gen.random((n, m)) < acc
    wrong = (truth[:, None] + gen.integers(1, 3, (n, m))) % 3
    L = np.where(right, truth[:, None], wrong)
    L = np.where(gen.random((n, m)) < cover, L, -1)
    votes = Votes(keys=[], matrix=L, names=[f"lf{j}" for j in range(m)], classes=("a", "b", "c"))
    t = time.perf_counter()
    probs = label_model(votes, epochs=100)
    took = time.perf_counter() - t
    answered = (L != -1).any(axis=1)
    acc_lm = float((probs.argmax(1)[answered] == truth[answered]).mean())
    print(
        f"label-model fit on 1M × 20 votes {took:.1f} s (accuracy on planted truth {acc_lm:.3f}; "
        "target 60 s)"
    )


if __name__ == "__main__":
    main()
