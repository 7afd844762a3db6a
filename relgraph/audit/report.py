"""``relgraph audit QUERY``: every leakage check on one query, as one report.

Checks, each passed or failed with its evidence:
1. static columns that encode the future (:mod:`relgraph.audit.static`);
2. delete-the-future on the as-of features, rolling and frozen inputs
   (:mod:`relgraph.audit.future`);
3. the temporal sampler: no node newer than its seed;
4. split separation: every training label window ends by the validation cut-off and
   every validation window by the test cut-off;
5. with a model: does what ``predict`` uses beat the best trivial baseline on test?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.audit.future import check_features, check_sampler, sample_rows
from relgraph.audit.static import DEFAULT_THRESHOLD, future_static_columns
from relgraph.store.snapshot import Snapshot


@dataclass
class AuditCheck:
    name: str
    passed: bool
    detail: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class AuditReport:
    """All checks of one query on one snapshot."""

    query: str
    snapshot_id: str
    checks: list[AuditCheck]
    static: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __repr__(self) -> str:
        failed = [c.name for c in self.checks if not c.passed]
        return f"AuditReport(passed={self.passed}, failed={failed})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "snapshot_id": self.snapshot_id,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "static_columns": self.static,
        }


def _split_check(tables: Any) -> AuditCheck:
    window = tables.task.window or timedelta(0)
    out = AuditCheck("splits: label windows end before the next split starts", True)
    for split, until in (("train", tables.val_cutoff), ("val", tables.test_cutoff)):
        t = tables.split(split).table
        if t.num_rows == 0:
            continue
        last = pc.max(t.column("ANCHOR_TIMESTAMP")).as_py()
        if last + window > until:
            out.passed = False
            out.detail.append(
                f"a {split} label window ends {last + window:%Y-%m-%d}, after the next "
                f"split's cut-off {until:%Y-%m-%d}"
            )
    return out


def _baseline_check(workspace: str | Path, model_id: str) -> AuditCheck:
    from relgraph.train.artifacts import load_model
    from relgraph.train.metrics import higher_is_better

    meta = load_model(workspace, model_id).meta
    cands, metric = meta.get("candidates") or {}, str(meta.get("metric"))
    protocol, selected = str(meta.get("protocol", "rolling")), str(meta.get("selected", "gnn"))
    check = AuditCheck(f"model {model_id}: beats the trivial baselines on test", True)
    if not cands:
        check.passed = False
        check.detail.append("the model records no candidates (trained before baselines existed)")
        return check

    def test(name: str) -> float:
        return float(cands[name]["scores"][protocol]["test"].get(metric, float("nan")))

    trivial = [n for n in cands if n.startswith("trivial:")]
    if not trivial or selected.startswith("trivial:"):
        check.detail.append(f"predict uses '{selected}' (no learned model won on validation)")
        return check
    up = higher_is_better(metric)
    best = max(trivial, key=lambda n: test(n) if up else -test(n))
    s, b = test(selected), test(best)
    check.passed = s > b if up else s < b
    check.detail.append(
        f"'{selected}' test {metric} {s:.4g} vs best trivial '{best}' {b:.4g} ({protocol})"
    )
    return check


def audit_query(
    snapshot: Snapshot,
    query: str,
    *,
    val_cutoff: Any = None,
    test_cutoff: Any = None,
    sample: int = 40,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    workspace: str | Path | None = None,
    model_id: str | None = None,
) -> AuditReport:
    """Run every check on ``query`` (see the module docstring)."""
    from relgraph.query import build_task_tables
    from relgraph.train.protocol import as_of

    tables = build_task_tables(snapshot, query, val_cutoff=val_cutoff, test_cutoff=test_cutoff)
    task = tables.task
    checks: list[AuditCheck] = []
    # 1. Static columns.
    static = future_static_columns(snapshot, threshold=threshold)
    flagged = [f for f in static if f.flagged]
    checks.append(
        AuditCheck(
            "static columns: none encodes the future", not flagged, [f.message() for f in flagged]
        )
    )
    # 2. Delete-the-future on sampled rows of every split, and the frozen test inputs.
    parts = [tables.train.table, tables.val.table, tables.test.table]
    rows = pa.concat_tables(
        [p.select(["ENTITY", "ANCHOR_TIMESTAMP"]) for p in parts if p.num_rows],
        promote_options="permissive",
    )
    picked = sample_rows(rows, sample, seed)
    frozen = as_of(sample_rows(tables.test.table, max(sample // 4, 1), seed), "frozen",
                   tables.test_cutoff)  # fmt: skip
    for name, r in (("rolling", picked), ("frozen test", frozen)):
        if r.num_rows == 0:
            continue
        fc = check_features(snapshot, task, r)
        checks.append(AuditCheck(f"{fc.name} ({name}, {fc.rows} rows)", fc.passed, fc.mismatches))
    # 3. The sampler.
    sc = check_sampler(snapshot, task, picked, seed=seed)
    checks.append(AuditCheck(f"{sc.name} ({sc.rows} rows)", sc.passed, sc.mismatches))
    # 4. Splits.
    checks.append(_split_check(tables))
    # 5. The model against the trivial baselines.
    if model_id is not None and workspace is not None:
        checks.append(_baseline_check(workspace, model_id))
    return AuditReport(
        query=query,
        snapshot_id=snapshot.id,
        checks=checks,
        static=[f.to_dict() for f in static[:10]],
    )
