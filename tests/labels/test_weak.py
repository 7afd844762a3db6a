"""Weak supervision on the real F1 database: six labeling functions (five SQL, one Python),
Snorkel's LF analysis, label model vs majority vote, scored against the withheld results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relgraph import api
from relgraph.errors import LabelError
from relgraph.labels import LabelStore
from relgraph.labels import f1_podium as f1
from relgraph.labels.sets import export
from relgraph.labels.weak import (
    SqlLF,
    analyze,
    apply_lfs,
    label_model,
    label_set_table,
    majority_vote,
)
from relgraph.store import labelsets

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"


@pytest.mark.slow
def test_label_model_and_majority_vote_on_f1_against_withheld_results(tmp_path: Path) -> None:
    src = f1.without_results(F1, tmp_path / "f1")
    snap = api.ingest(str(src), workspace=tmp_path / "ws").snapshot
    assert "results" not in snap.schema  # the ground truth is out of the LFs' reach
    votes = apply_lfs(snap, "drivers", "driverId", f1.LFS, f1.CLASSES)
    truth = f1.ground_truth(F1, votes.keys)
    report = analyze(votes, truth)
    assert [r["lf"] for r in report] == [lf.name for lf in f1.LFS]
    assert all(0 < r["coverage"] <= 1 for r in report)
    assert any(r["conflicts"] > 0 for r in report)
    probs = label_model(votes, epochs=100)
    lm = probs.argmax(axis=1)
    covered = (votes.matrix != -1).any(axis=1)
    lm = np.where(covered, lm, -1)
    mv = majority_vote(votes)
    s_lm, s_mv = f1.score(votes, lm, truth), f1.score(votes, mv, truth)
    print("label model", s_lm, "majority vote", s_mv, "LFs", report)
    # Both beat the trivial "nobody podiums" answer on podium-F1 (which is 0), and the
    # label model answers where the vote ties.
    assert s_lm["f1_podium"] > 0.5 and s_mv["f1_podium"] > 0.5
    assert s_lm["coverage"] >= s_mv["coverage"]
    # The result is a label set like any other.
    ls = LabelStore.open(tmp_path / "ws")
    ls.create_project("podium", table="drivers", schema={"classes": list(f1.CLASSES)})
    man = export(ls, "podium", "weak-v1", table=label_set_table(votes, probs), source="weak")
    assert man.rows == int(covered.sum())
    assert labelsets.read_version(tmp_path / "ws", "podium", "weak-v1")[1].source == "weak"


def test_a_bad_labeling_function_is_named(tmp_path: Path) -> None:
    from relgraph.testing.shop import shop_snapshot

    snap = shop_snapshot(tmp_path)
    with pytest.raises(LabelError, match="'bad'"):
        apply_lfs(snap, "users", "user_id", [SqlLF("bad", "no_such_column > 1", "a")], ("a", "b"))
    with pytest.raises(LabelError, match="no ';'"):
        apply_lfs(snap, "users", "user_id", [SqlLF("x", "1=1; DROP VIEW users", "a")], ("a", "b"))
    votes = apply_lfs(snap, "users", "user_id", [SqlLF("old", "t.age > 30", "a")], ("a", "b"))
    assert (votes.matrix[:, 0] == 0).sum() == sum(
        1 for r in snap.read_table("users").to_pylist() if r["age"] > 30
    )
