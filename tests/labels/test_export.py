"""Label-set export in bulk (one SQL query) gives what the per-label reading gave:
the latest stage's answer per key, majorities with overlap, means for numbers, only
completed items; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from relgraph.jobs.db import MetaDB
from relgraph.labels import LabelStore, Who
from relgraph.labels.sets import export, final_labels

ANN, BOB, EVE = Who.of("ann"), Who.of("bob"), Who.of("eve")


def reference(ls: LabelStore, project: str, who: Who | None = None) -> list[dict[str, Any]]:
    """The export as the first version computed it, label by label from ``ls.labels``."""
    info = ls.project(project, who=who)
    order = {st["name"]: i for i, st in enumerate(info["stages"])}
    done = {
        it["id"]
        for st in info["stages"]
        for it in ls.queue(project, st["name"], limit=1000, done=True, who=who)["items"]
    }
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in ls.labels(project, who=who):
        if r["item_id"] in done:
            grouped[(r["key"], r["stage"])].append(r)
    best: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    for (key, stage), labels in grouped.items():
        if key not in best or order[stage] > best[key][0]:
            best[key] = (order[stage], labels)
    number = info["schema"]["kind"] == "number"
    out = []
    for key, (_, labels) in sorted(best.items()):
        values = [lb["value"] for lb in labels]
        if number:
            value: Any = float(sum(values) / len(values))
            agree = 1.0
        else:
            top, n = Counter(values).most_common(1)[0]
            value, agree = str(top), n / len(values)
        out.append(
            {
                "key": key,
                "label": value,
                "confidence": float(agree),
                "labeler": ",".join(sorted({lb["labeler"] for lb in labels})),
                "stage": labels[-1]["stage"],
                "labeled_at": labels[-1]["at"],
            }
        )
    return out


def _classes(ls: LabelStore) -> None:
    ls.create_project("c", table="t", key="id", schema={"classes": ["x", "y", "z"]})
    ls.add_stage("c", "first", labelers=["ann"])
    ls.add_stage("c", "triple", labelers=["ann", "bob", "eve"], overlap=3)
    ls.add_stage("c", "pair", labelers=["bob", "eve"], overlap=2)
    keys = [str(k) for k in range(12)]
    for st in ("first", "triple", "pair"):
        ls.add_items("c", st, keys)
    for k in keys[:10]:
        ls.submit("c", "first", k, {"value": "xyz"[int(k) % 3]}, who=ANN)
    votes = {"ann": "xxyzzyx", "bob": "xyyzxyy", "eve": "yxyzyzz"}
    for name, vs in votes.items():
        for k, v in zip(keys[2:9], vs, strict=True):
            ls.submit("c", "triple", k, {"value": v}, who=Who.of(name))
    # "pair": a tie (x, y) on key 4, an agreement on key 5, key 6 left half done.
    for k, (b, e) in {"4": ("x", "y"), "5": ("z", "z")}.items():
        ls.submit("c", "pair", k, {"value": b}, who=BOB)
        ls.submit("c", "pair", k, {"value": e}, who=EVE)
    ls.submit("c", "pair", "6", {"value": "y"}, who=BOB)


def _numbers(ls: LabelStore) -> None:
    ls.create_project("n", table="t", key="id", schema={"kind": "number"})
    ls.add_stage("n", "s", labelers=["ann", "bob"], overlap=2)
    ls.add_items("n", "s", ["a", "b", "c"])
    for k, (x, y) in {"a": (1, 2.5), "b": (3, 3)}.items():
        ls.submit("n", "s", k, {"value": x}, who=ANN)
        ls.submit("n", "s", k, {"value": y}, who=BOB)
    ls.submit("n", "s", "c", {"value": 7}, who=ANN)  # not complete: not exported


def _check(ls: LabelStore) -> None:
    _classes(ls)
    _numbers(ls)
    got = final_labels(ls, "c").to_pylist()
    assert got == reference(ls, "c")
    assert {r["key"]: r["stage"] for r in got}["4"] == "pair"  # the later stage wins
    assert {r["key"]: r["confidence"] for r in got}["4"] == 0.5
    assert len(got) == 10
    # A labeler of one stage exports what they may see, as before.
    assert final_labels(ls, "c", who=ANN).to_pylist() == reference(ls, "c", who=ANN)
    nums = final_labels(ls, "n")
    assert nums.schema.field("label").type == pa.float64()
    assert nums.to_pylist() == reference(ls, "n")
    assert nums["label"].to_pylist() == [1.75, 3.0]
    assert export(ls, "c", "v1").rows == 10


def test_bulk_export_matches_the_label_by_label_answer(tmp_path: Path) -> None:
    _check(LabelStore(MetaDB.open(workspace=tmp_path), tmp_path))


def test_bulk_export_on_postgres(tmp_path: Path, meta_url: str) -> None:
    db = MetaDB.open(meta_url)
    try:
        _check(LabelStore(db, tmp_path))
    finally:
        db.dispose()
