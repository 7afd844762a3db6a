"""Progress that only moves forward: weighted stages declared up front, and an ETA."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relgraph.jobs.kinds import JobContext, stage_progress
from relgraph.jobs.progress import (
    PRETRAIN_STAGES,
    SEARCH_REPORTS,
    TRAIN_STAGES,
    StagedProgress,
    eta_seconds,
)

ROOT = Path(__file__).resolve().parents[2]


def _trainer_reports(trials: int = 2, epochs: int = 4) -> list[tuple[str, dict[str, Any]]]:
    """What relgraph.train.train_task says, in its order: the baseline before the graph,
    then trials whose epochs count from 1 again."""
    out: list[tuple[str, dict[str, Any]]] = [
        ("labels", {}),
        ("lightgbm", {}),
        ("lightgbm (gap)", {}),
        ("graph", {}),
        ("features", {}),
    ]
    for _ in range(trials):
        out.append(("trial", {"config": {}}))
        out += [("epoch", {"epoch": e, "epochs": epochs, "loss": 0.5}) for e in range(1, 5)]
    return [*out, ("evaluate", {}), ("candidates", {})]


class _ServiceCtx:
    surface = "service"

    def __init__(self) -> None:
        self.seen: list[float] = []

    def log(self, line: str) -> None:
        pass

    def report(self, fraction: float, message: str = "") -> None:
        self.seen.append(fraction)


def test_a_service_train_job_only_moves_forward() -> None:
    # The old fixed fractions went 0.744 (lightgbm) → 0.096 (graph) → 0.72 (evaluate).
    ctx = _ServiceCtx()
    say = stage_progress(ctx, TRAIN_STAGES, 0.0, 0.8)  # type: ignore[arg-type]
    for stage, info in _trainer_reports():
        say(stage, info)
    assert ctx.seen == sorted(ctx.seen)
    assert ctx.seen[0] == 0.0 and 0.7 < ctx.seen[-1] <= 0.8
    # Weighted: the baseline and the graph are a small share, the search the most of it.
    i_graph = [s for s, _ in _trainer_reports()].index("graph")
    assert ctx.seen[i_graph] < 0.2


def test_a_pipeline_train_job_reports_one_forward_fraction(tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    ctx = JobContext(
        job_id=1,
        name="train",
        type="train",
        workspace=tmp_path,
        params={},
        inputs={},
        out_dir=tmp_path,
        out_rel="outputs/train/x",
        report=lambda fraction, message: seen.append((fraction, message)),
    )
    say = stage_progress(ctx, TRAIN_STAGES)
    for stage, info in _trainer_reports():
        say(stage, info)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    # Before, each stage's own counter was the job's progress: 4/4 then 1/4 again.
    assert ("epoch 4/4" in [m for _, m in seen]) and fractions[-1] > fractions[0]


def test_stages_never_step_back_and_unknown_ones_hold_still() -> None:
    p = StagedProgress((("a", 1.0), ("b", 3.0)), start=0.2, end=0.6)
    assert p.enter("a") == pytest.approx(0.2)
    assert p.within("b", 0.5) == pytest.approx(0.2 + 0.1 + 0.15)
    assert p.enter("a") == pytest.approx(0.45)  # an earlier stage, late: no step back
    assert p.enter("something new") == pytest.approx(0.45)
    assert p.within("b", 7.0) == pytest.approx(0.6)  # never past its end


@pytest.mark.parametrize(
    ("path", "function", "stages"),
    [
        ("relgraph/train/run.py", "train_task", TRAIN_STAGES),
        ("relgraph/train/pretrain.py", "pretrain_trunk", PRETRAIN_STAGES),
    ],
)
def test_every_stage_a_trainer_reports_has_a_declared_weight(
    path: str, function: str, stages: Any
) -> None:
    # A stage without a weight would hold the bar still for its whole length.
    tree = ast.parse((ROOT / path).read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    said = {
        n.args[0].value
        for n in ast.walk(fn)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "say"
        and n.args
        and isinstance(n.args[0], ast.Constant)
    }
    assert said, f"found no say(...) reports in {path}:{function}"
    declared = {name for name, _ in stages} | set(SEARCH_REPORTS)
    assert said <= declared, f"stages without a weight: {sorted(said - declared)}"


def test_eta_from_the_pace_so_far() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    started = now - timedelta(seconds=30)
    assert eta_seconds(0.25, started, now, running=True) == pytest.approx(90.0)
    # SQLite hands back naive UTC times.
    assert eta_seconds(0.5, started.replace(tzinfo=None), now, running=True) == 30.0
    assert eta_seconds(0.001, started, now, running=True) is None  # too early to tell
    assert eta_seconds(0.5, started, now, running=False) is None
