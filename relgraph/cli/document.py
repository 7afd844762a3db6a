"""``relgraph document``: business-term suggestions for undocumented columns."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import RelgraphError

WorkspaceOpt = workspace_option()


@app.command()
def document(
    snapshots: list[str] = typer.Argument(None, help="Snapshot ids or tags (default: the latest)."),
    mapping: Path = typer.Option(..., "--mapping", help="CSV column,term (database.table.column)."),
    glossary: Path | None = typer.Option(None, "--glossary", help="CSV term,definition[,parent]."),
    lineage: list[Path] = typer.Option(
        [], "--lineage", help="Lineage file: CSV/JSON edges or OpenLineage events (repeatable)."
    ),
    sql: list[Path] = typer.Option([], "--sql", help="SQL transformation script (repeatable)."),
    dialect: str | None = typer.Option(None, "--dialect", help="SQL dialect of --sql (sqlglot's)."),
    views: list[str] = typer.Option(
        [], "--views", help="sqlite:///… or postgresql://… whose view definitions give lineage."
    ),
    to: Path = typer.Option(Path("documentation.parquet"), "--out", help="Suggestions (Parquet)."),
    holdout: list[str] = typer.Option(
        [], "--holdout", help="Also score on the mapped columns of this database (repeatable)."
    ),
    embed_names: bool = typer.Option(
        False, "--embed-names", help="Add the packaged sentence-embedding model on names."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, max=5000),
    workspace: Path = WorkspaceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Suggest the top-2 business terms, with evidence, for every unmapped column."""
    try:
        res = api.document(
            mapping,
            snapshots=list(snapshots or []),
            workspace=workspace,
            glossary=glossary,
            lineage_files=[str(p) for p in lineage],
            sql_scripts=[str(p) for p in sql],
            sql_dialect=dialect,
            view_sources=list(views),
            out=to,
            holdout_databases=list(holdout),
            embed_names=embed_names,
            epochs=epochs,
        )
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(res)
        return
    out.print(
        f"{res['columns']} columns in {', '.join(res['databases'])}; {res['mapped']} mapped to "
        f"{res['terms']} terms; edges {res['edges']}",
        highlight=False,
    )
    if res["unmatched_lineage_count"]:
        err.print(f"{res['unmatched_lineage_count']} lineage edge(s) named no known column")
    if res["scores"]:
        t = Table("model", "top-1", "top-2", "macro-F1", "ECE", "n")
        for name, s in res["scores"].items():
            t.add_row(
                name,
                f"{s['top1']:.3f}",
                f"{s['top2']:.3f}",
                f"{s['macro_f1']:.3f}",
                f"{s['ece']:.3f}",
                str(int(s["n"])),
            )
        out.print(t)
    out.print(f"wrote {res['suggestions']} suggestions to {res['output']}", highlight=False)
