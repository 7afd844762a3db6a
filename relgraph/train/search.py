"""Budgets (Kumo's run modes) and the Optuna search over GNN settings.

Example:
    >>> Budget.preset("fast").trials
    1
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import optuna

from relgraph.errors import TrainingError
from relgraph.nn.model import ModelConfig
from relgraph.train.metrics import higher_is_better

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """How much search and time a training run may spend.

    ``base`` is the first configuration tried (RelBench's reference GNN for
    ``normal``); later trials sample the search space around it.
    """

    name: str
    trials: int
    minutes: float
    base: ModelConfig
    # At least this many optimizer steps per trial however few the training rows (a
    # small table would otherwise get a handful); early stopping still applies.
    min_steps: int = 0

    @classmethod
    def preset(
        cls, name: str, *, trials: int | None = None, minutes: float | None = None
    ) -> Budget:
        presets = {
            # A quick look: small model, few epochs.
            "fast": cls(
                "fast",
                1,
                5.0,
                ModelConfig(channels=64, fanouts=(32, 16), epochs=3, batch_size=256),
                min_steps=300,
            ),
            # RelBench's reference GNN, one run, early-stopped on validation.
            "normal": cls("normal", 1, 15.0, ModelConfig()),
            # Search around the reference.
            "best": cls("best", 8, 60.0, ModelConfig()),
        }
        if name not in presets:
            raise TrainingError(f"unknown budget '{name}'; use one of: {', '.join(presets)}")
        b = presets[name]
        if trials is not None:
            if trials < 1:
                raise TrainingError(f"--trials must be at least 1, got {trials}")
            b = replace(b, trials=trials)
        if minutes is not None:
            if minutes <= 0:
                raise TrainingError(f"--minutes must be positive, got {minutes}")
            b = replace(b, minutes=minutes)
        return b


def suggest_config(trial: optuna.Trial, base: ModelConfig) -> ModelConfig:
    """The search space: depth, width, fan-out, aggregation, attention, learning rate, dropout."""
    layers = trial.suggest_int("num_layers", 1, 3)
    first = trial.suggest_categorical("fanout", [32, 64, 128])
    fanouts = tuple(max(4, first // (2**i)) for i in range(layers))
    return base.replace(
        num_layers=layers,
        fanouts=fanouts,
        channels=trial.suggest_categorical("channels", [64, 128]),
        aggr=trial.suggest_categorical("aggr", ["sum", "mean"]),
        attention=trial.suggest_categorical("attention", [False, True]),
        lr=trial.suggest_float("lr", 1e-3, 1e-2, log=True),
        dropout=trial.suggest_float("dropout", 0.0, 0.3),
        strategy=trial.suggest_categorical("strategy", ["uniform", "recent"]),
    )


@dataclass
class TrialResult:
    number: int
    config: ModelConfig
    value: float
    seconds: float
    trainer: Any


def search(
    budget: Budget,
    metric: str,
    fit: Callable[[ModelConfig, float], tuple[float, Any]],
    *,
    seed: int = 0,
    on_trial: Callable[[TrialResult], None] | None = None,
    deadline: float | None = None,
) -> tuple[TrialResult, list[TrialResult]]:
    """Run up to ``budget.trials`` trials within ``budget.minutes``; return the best and all.

    ``fit(config, seconds_left)`` trains one model and returns (val metric, trainer).
    The first trial is always ``budget.base``. ``deadline`` (``time.monotonic()``
    seconds) overrides ``budget.minutes`` from now, for callers that spend part of
    the budget on other work.
    """
    if deadline is None:
        deadline = time.monotonic() + budget.minutes * 60
    direction: Literal["maximize", "minimize"] = (
        "maximize" if higher_is_better(metric) else "minimize"
    )
    # Before the study exists: creating it logs an INFO line the user has no use for.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    results: list[TrialResult] = []
    for i in range(budget.trials):
        # The first trial always runs (at least a batch and a validation pass), so a
        # budget eaten by features and the baseline still yields a model.
        left = max(deadline - time.monotonic(), 1.0 if i == 0 else 0.0)
        if left <= 0:
            break
        trial = study.ask()
        config = budget.base if i == 0 else suggest_config(trial, budget.base)
        # Later trials share the time that is left evenly.
        share = left / max(budget.trials - i, 1)
        start = time.monotonic()
        value, trainer = fit(config, share if budget.trials > 1 else left)
        res = TrialResult(i, config, value, time.monotonic() - start, trainer)
        results.append(res)
        study.tell(
            trial,
            value if not math.isnan(value) else None,
            state=None if not math.isnan(value) else optuna.trial.TrialState.FAIL,
        )
        if on_trial is not None:
            on_trial(res)
    if not results:
        raise TrainingError(f"no trial finished within {budget.minutes} minutes; raise --minutes")
    sign = 1.0 if direction == "maximize" else -1.0
    valid = [r for r in results if not math.isnan(r.value)] or results
    best = max(valid, key=lambda r: sign * r.value if not math.isnan(r.value) else -math.inf)
    # Keep only the best trainer in memory.
    for r in results:
        if r is not best:
            r.trainer = None
    return best, results
