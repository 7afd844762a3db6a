"""Weak supervision shown on a real public database: F1 drivers, "has this driver ever
finished on the podium?".

The ground truth (the "hand labels") is not made by a person: it is the real
``results`` table of the public F1 database (CC0), **withheld** from the snapshot the
labeling functions run on — a driver is ``podium`` when any of their results has
``position`` 1, 2 or 3. The LFs see the other tables (qualifying, standings, drivers)
only. Used by ``tests/labels/test_weak.py`` and ``benchmarks/labels_scale.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from relgraph.labels.weak import PythonLF, SqlLF, Votes

CLASSES = ("no_podium", "podium")
WITHHELD = ("results.csv", "sprint_results.csv")


def _born_after_1995(row: dict[str, Any]) -> str | None:
    dob = row.get("dob")
    return "no_podium" if dob is not None and str(dob)[:4] > "1995" else None


LFS = (
    SqlLF(
        "front_row_qualifier",
        't."driverId" IN (SELECT "driverId" FROM qualifying WHERE "position" <= 2)',
        "podium",
    ),
    SqlLF(
        "won_a_race_in_standings",
        't."driverId" IN (SELECT "driverId" FROM driver_standings WHERE "wins" > 0)',
        "podium",
    ),
    SqlLF(
        "top3_in_standings",
        't."driverId" IN (SELECT "driverId" FROM driver_standings WHERE "position" <= 3)',
        "podium",
    ),
    SqlLF(
        "never_scored",
        't."driverId" NOT IN (SELECT "driverId" FROM driver_standings WHERE "points" > 0)',
        "no_podium",
    ),
    SqlLF(
        "few_points",
        't."driverId" IN (SELECT "driverId" FROM driver_standings '
        'GROUP BY "driverId" HAVING max("points") BETWEEN 0.5 AND 5)',
        "no_podium",
    ),
    PythonLF("born_after_1995", _born_after_1995),
)


def without_results(f1: Path, dest: Path) -> Path:
    """A copy of the F1 CSVs without the tables the ground truth comes from."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in f1.glob("*.csv"):
        if p.name not in WITHHELD:
            shutil.copy(p, dest / p.name)
    return dest


def ground_truth(f1: Path, keys: list[str]) -> np.ndarray:
    """1 where the withheld results show a podium, else 0 (class indices of CLASSES)."""
    opts = pacsv.ConvertOptions(
        null_values=["\\N"],
        column_types={"position": "int64"},
        include_columns=["driverId", "position"],
    )
    t = pacsv.read_csv(f1 / "results.csv", convert_options=opts)
    podium = t.filter(pc.less_equal(t["position"], 3))
    winners = {str(k) for k in podium["driverId"].to_pylist()}
    return np.array([1 if k in winners else 0 for k in keys], dtype=np.int64)


def score(votes: Votes, pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy and podium-F1 over all drivers (an abstain counts as wrong) and coverage."""
    from sklearn.metrics import f1_score

    answered = pred >= 0
    return {
        "coverage": float(answered.mean()),
        "accuracy": float((pred == truth).mean()),
        "accuracy_answered": float((pred[answered] == truth[answered]).mean()),
        "f1_podium": float(f1_score(truth, np.where(answered, pred, 0))),
    }
