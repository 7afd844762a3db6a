"""Fill a stage's queue from a model's predictions (``relgraph.api.predict`` output).

Orders (lowest priority first):

- ``uncertainty``: least sure first — the margin between the two most probable classes
  (``margin``), or the predictive ``entropy`` (``measure=``);
- ``disagreement``: where two candidates (e.g. the GNN and LightGBM, ``other=``) differ
  most in the probability of their top class, disagreeing top classes first;
- ``stratified``: ``n`` keys drawn per predicted class, at random (seeded).

Every item carries the model's answer as a pre-filled suggestion ``{value, score, model}``.
Binary predictions (``PREDICTION``, ``TRUE_PROB``) map to the project's classes through
``positive`` (the class a ``True`` means; the other class is ``False``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import LabelError
from relgraph.labels.access import Who
from relgraph.labels.store import AddResult, LabelStore

ORDERS = ("uncertainty", "disagreement", "stratified")


@dataclass(frozen=True)
class Scored:
    """Per entity key: the class probabilities a model gave."""

    keys: list[str]
    probs: list[dict[str, float]]
    model: str


def read_predictions(
    pred: pa.Table | str | Path, classes: tuple[str, ...], positive: str | None
) -> Scored:
    t = pred if isinstance(pred, pa.Table) else pq.read_table(pred)
    cols = set(t.column_names)
    model = str(t["MODEL_ID"][0]) if "MODEL_ID" in cols and t.num_rows else "model"
    if "TRUE_PROB" in cols:
        if len(classes) != 2:
            raise LabelError("binary predictions seed a project of two classes only")
        pos = positive if positive is not None else classes[1]
        if pos not in classes:
            raise LabelError(
                f"positive class '{pos}' is not a class of this project ({', '.join(classes)})"
            )
        neg = classes[0] if pos == classes[1] else classes[1]
        keys = [str(k) for k in t["ENTITY"].to_pylist()]
        p = [float(x) for x in t["TRUE_PROB"].to_pylist()]
        return Scored(keys, [{pos: x, neg: 1 - x} for x in p], model)
    if {"CLASS", "SCORE"} <= cols:
        by: dict[str, dict[str, float]] = {}
        for k, c, sc in zip(
            t["ENTITY"].to_pylist(), t["CLASS"].to_pylist(), t["SCORE"].to_pylist(), strict=True
        ):
            by.setdefault(str(k), {})[str(c)] = float(sc)
        return Scored(list(by), list(by.values()), model)
    raise LabelError(
        "seeding needs classification predictions (TRUE_PROB, or CLASS and SCORE columns); "
        f"these have {', '.join(t.column_names)}"
    )


def _uncertainty(p: dict[str, float], measure: str) -> float:
    v = sorted(p.values(), reverse=True)
    if measure == "entropy":
        return -sum(x * math.log(x) for x in v if x > 0)
    return 1.0 - (v[0] - (v[1] if len(v) > 1 else 0.0))


def seed(
    ls: LabelStore,
    project: str,
    stage: str,
    predictions: pa.Table | str | Path,
    *,
    order: str = "uncertainty",
    measure: str = "margin",
    other: pa.Table | str | Path | None = None,
    n: int | None = None,
    positive: str | None = None,
    seed: int = 0,
    who: Who | None = None,
) -> AddResult:
    """Queue the predicted entities in ``order`` with the model's suggestion pre-filled."""
    if order not in ORDERS:
        raise LabelError(f"unknown seeding order '{order}'; use {', '.join(ORDERS)}")
    if measure not in ("margin", "entropy"):
        raise LabelError("uncertainty is measured by 'margin' or 'entropy'")
    classes = tuple(ls.schema(project, who).classes)
    if not classes:
        raise LabelError("seeding by predictions needs a project with classes")
    sc = read_predictions(predictions, classes, positive)
    top = [max(p, key=p.__getitem__) for p in sc.probs]
    if order == "uncertainty":
        # Higher uncertainty first: priority is its negation.
        prio = [-_uncertainty(p, measure) for p in sc.probs]
        idx = list(range(len(sc.keys)))
    elif order == "disagreement":
        if other is None:
            raise LabelError("disagreement seeding needs a second model's predictions (other=)")
        o = read_predictions(other, classes, positive)
        op = dict(zip(o.keys, o.probs, strict=True))
        prio, idx = [], []
        for i, (k, p) in enumerate(zip(sc.keys, sc.probs, strict=True)):
            if k not in op:
                continue
            differ = top[i] != max(op[k], key=op[k].__getitem__)
            gap = max(abs(p.get(c, 0.0) - op[k].get(c, 0.0)) for c in classes)
            prio.append(-(gap + (1.0 if differ else 0.0)))
            idx.append(i)
    else:
        rng = np.random.default_rng(seed)
        per = n or 10
        idx = []
        for c in classes:
            members = [i for i, t in enumerate(top) if t == c]
            take = rng.permutation(len(members))[:per]
            idx += [members[j] for j in take]
        prio = [float(r) for r in rng.permutation(len(idx))]
        n = None
    pairs = sorted(zip(prio, idx, strict=True))
    if n is not None:
        pairs = pairs[:n]
    keys = [sc.keys[i] for _, i in pairs]
    sugg = [
        {"value": top[i], "score": sc.probs[i][top[i]], "model": sc.model, "probs": sc.probs[i]}
        for _, i in pairs
    ]
    return ls.add_items(
        project, stage, keys, priorities=[p for p, _ in pairs], suggestions=sugg, who=who
    )
