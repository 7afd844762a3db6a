"""``relgraph audit``: leakage checks for a query (exit status 1 when one fails)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, fail, out
from relgraph.errors import RelgraphError


@app.command()
def audit(
    query: str = typer.Argument(..., help="A predictive query (as for `relgraph train`)."),
    workspace: Path = typer.Option(Path(".relgraph"), "--workspace", "-w", help="Workspace."),
    snapshot: str | None = typer.Option(None, "--snapshot", help="Snapshot id (default: latest)."),
    val_cutoff: str | None = typer.Option(None, "--val-cutoff", help="As for `train`."),
    test_cutoff: str | None = typer.Option(None, "--test-cutoff", help="As for `train`."),
    model: str | None = typer.Option(
        None, "--model", help="Also check that this model beats the trivial baselines on test."
    ),
    sample: int = typer.Option(40, "--sample", help="Rows to check delete-the-future on."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Leakage audit: future-encoding static columns, delete-the-future, sampler, splits."""
    try:
        report = api.audit(
            query, workspace=workspace, snapshot=snapshot, val_cutoff=val_cutoff,
            test_cutoff=test_cutoff, model=model, sample=sample,
        )  # fmt: skip
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(report.to_dict())
    else:
        t = Table(title=f"audit of {report.snapshot_id}")
        t.add_column("check")
        t.add_column("result")
        t.add_column("evidence", overflow="fold")
        for c in report.checks:
            t.add_row(
                c.name,
                "[green]pass[/]" if c.passed else "[red]FAIL[/]",
                escape("\n".join(c.detail[:5])),
            )
        out.print(t)
        s = Table(title="static columns, most suspicious first (AUROC: still active after 'at')")
        for col in ("column", "by", "AUROC", "at", "flagged"):
            s.add_column(col)
        for f in report.static[:6]:
            s.add_row(
                f"{f['table']}.{f['column']}", f["how"], f"{f['auroc']:.3f}", f["cut"][:10],
                "yes" if f["flagged"] else "",
            )  # fmt: skip
        out.print(s)
    if not report.passed:
        raise typer.Exit(1)
