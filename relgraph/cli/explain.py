"""``relgraph explain``: why a stored model predicts what it does (global, cohorts, an entity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, fail, out, workspace_option
from relgraph.errors import RelgraphError


def _v(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return escape("" if x is None else str(x))[:40]


@app.command()
def explain(
    model: str = typer.Argument(..., help="Model id or a unique prefix (see `relgraph models`)."),
    entity: str | None = typer.Option(
        None, "--entity", help="A key of the entity table: explain its prediction too."
    ),
    workspace: Path = workspace_option(),
    model_kind: str | None = typer.Option(
        None, "--model-kind", help="gnn | lightgbm (default: the candidate chosen at training)."
    ),
    at: str = typer.Option("test", "--at", help="test | now | an ISO date: the anchor explained."),
    sample: int = typer.Option(64, "--sample", help="Rows of the global view (seeded sample)."),
    top: int = typer.Option(10, "--top", help="Inputs, rows and columns to list."),
    snapshot: str | None = typer.Option(None, "--snapshot", help="Explain on another snapshot."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Explain a model: inputs ranked by attribution (SHAP / Integrated Gradients), cohorts,
    and with --entity the columns and sampled rows behind one prediction."""
    try:
        e = api.explain(
            model, workspace=workspace, entity=entity, model_kind=model_kind, at=at,
            sample=sample, top=top, snapshot=snapshot,
        )  # fmt: skip
    except RelgraphError as err:
        fail(err, as_json)
    if as_json:
        emit_json(e.to_dict())
        return
    out.print(
        f"[bold]{e.model_kind}[/] of {e.model_id} · {e.rows} rows at {escape(e.at)} · "
        f"attributions in {e.units} · {escape(e.method)}"
    )
    t = Table(title="inputs (mean |attribution| over the rows)")
    t.add_column("input", overflow="fold")
    for c in ("table", "mean |attr|", "mean", "share"):
        t.add_column(c)
    for a in e.columns:
        t.add_row(escape(a.name), escape(a.table), _v(a.mean_abs), _v(a.mean), f"{a.share:.0%}")
    out.print(t)
    t = Table(title="tables")
    for c in ("table", "mean |attr|", "share"):
        t.add_column(c)
    for a in e.tables:
        t.add_row(escape(a.table), _v(a.mean_abs), f"{a.share:.0%}")
    out.print(t)
    if e.edge_types:
        t = Table(title="edge types (ablation: output with − without)")
        for c in ("edge type", "mean |attr|", "mean"):
            t.add_column(c)
        for a in e.edge_types:
            t.add_row(escape(a.name), _v(a.mean_abs), _v(a.mean))
        out.print(t)
    if e.cohorts:
        t = Table(title="cohorts (mean prediction)")
        t.add_column("cohort", overflow="fold")
        for c in ("rows", "mean", "rest", "mean (rest)", "difference"):
            t.add_column(c)
        for ch in e.cohorts:
            t.add_row(escape(ch.cohort), str(ch.with_rows), _v(ch.with_mean),
                      str(ch.without_rows), _v(ch.without_mean), _v(ch.difference))  # fmt: skip
        out.print(t)
    if e.entity is not None:
        loc = e.entity
        out.print(
            f"\n[bold]entity {_v(loc.entity)}[/] at {_v(loc.anchor)}: prediction "
            f"{_v(loc.prediction)} (output {_v(loc.output)}, baseline {_v(loc.baseline)})"
        )
        t = Table(title="its inputs")
        t.add_column("input", overflow="fold")
        for c in ("value", "attribution"):
            t.add_column(c)
        for cv in loc.columns:
            t.add_row(escape(cv.column), _v(cv.value), _v(cv.attribution))
        out.print(t)
        if loc.rows:
            t = Table(title="sampled rows that moved the output most")
            for c in ("table", "key", "time", "hop", "attribution", "top columns"):
                t.add_column(c)
            for r in loc.rows:
                cols = ", ".join(
                    f"{cv.column}={_v(cv.value)} ({cv.attribution:+.3g})" for cv in r.columns[:3]
                )
                t.add_row(
                    escape(r.table), _v(r.key), _v(r.time), str(r.hop), _v(r.attribution), cols
                )
            out.print(t)
    for n in e.notes:
        out.print(f"[dim]{escape(n)}[/]")


@app.command()
def drift(
    new: str | None = typer.Argument(None, help="The new snapshot (default: the latest)."),
    workspace: Path = workspace_option(),
    old: str | None = typer.Option(
        None, "--from", help="The old snapshot (default: the model's training snapshot)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Also compare this model's scores (and its query's labels)."
    ),
    query: str | None = typer.Option(None, "--query", help="Labels of this query (no model)."),
    top: int = typer.Option(15, "--top", help="Columns to list, most drifted first."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Drift between snapshots: label rate, column distributions (PSI), a model's scores."""
    try:
        r = api.drift(new, workspace=workspace, old_snapshot=old, model=model, query=query)
    except RelgraphError as err:
        fail(err, as_json)
    if as_json:
        emit_json(r.to_dict())
        return
    out.print(f"drift {r.old_snapshot} → {r.new_snapshot}")
    for tag in ("old", "new"):
        if tag in r.labels:
            out.print(f"labels ({tag}): {escape(str(r.labels[tag]))}")
    if r.scores:
        s = r.scores
        out.print(
            f"scores of {s['model_id']}: mean {_v(s['old']['mean'])} → {_v(s['new']['mean'])}, "
            f"PSI {_v(s['psi'])} ({s['level']})"
        )
    t = Table(title="columns (population stability index)")
    for c in ("table", "column", "PSI", "level", "nulls old → new", "mean old → new", "new values"):
        t.add_column(c, overflow="fold")
    for d in r.columns[:top]:
        t.add_row(
            escape(d.table), escape(d.column), _v(d.psi), d.level,
            f"{d.null_rate_old:.1%} → {d.null_rate_new:.1%}",
            "" if d.mean_old is None else f"{_v(d.mean_old)} → {_v(d.mean_new)}",
            str(d.new_values or ""),
        )  # fmt: skip
    out.print(t)
    for n in r.notes:
        out.print(f"[dim]{escape(n)}[/]")
