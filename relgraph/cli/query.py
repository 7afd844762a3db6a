"""``relgraph query``: compile a predictive query and report its training tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.syntax import Syntax
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import QueryError, RelgraphError
from relgraph.query.parser import split_queries
from relgraph.query.table import SPLITS, TaskTables, split_stats


def _report(tables: TaskTables, explain: bool) -> dict[str, Any]:
    splits = {s: tables.split(s).table for s in SPLITS}
    splits["test"] = tables.test_labels()  # the CLI reports test label statistics too
    report: dict[str, Any] = {
        "task": tables.task.to_dict(),
        "val_cutoff": str(tables.val_cutoff),
        "test_cutoff": str(tables.test_cutoff),
        "splits": {s: split_stats(tables.task, t) for s, t in splits.items()},
    }
    if explain:
        report["sql"] = {"train_val": tables.sql["train"], "test": tables.sql["test"]}
    report["warnings"] = split_warnings(report["splits"])
    return report


def split_warnings(splits: dict[str, dict[str, Any]]) -> list[str]:
    """Say so when a split is empty: a query with no rows must not pass in silence."""
    empty = [s for s, st in splits.items() if not st.get("rows")]
    if len(empty) == len(splits):
        return [
            "every split is empty: no (anchor, entity) row passes the query's WHERE/ASSUMING "
            "filters (or the entity table has no rows in time); loosen them or check the "
            "cut-offs with --explain"
        ]
    return [
        f"the {s} split is empty: move --val-cutoff/--test-cutoff so that it holds anchors"
        for s in empty
    ]


def _print(name: str | None, report: dict[str, Any]) -> None:
    task = report["task"]
    head = f"[bold]{name}[/]: " if name else ""
    window = task["window_seconds"]
    win = f", window {window / 86400:g} days" if window else ", static"
    out.print(
        f"{head}[bold]{task['task_type']}[/] on {task['entity_table']}.{task['entity_column']}"
        f", metric [bold]{task['metric']}[/]{win}; cut-offs val {report['val_cutoff']}"
        f", test {report['test_cutoff']}",
        highlight=False,
    )
    if "sql" in report:
        for title, key in (("train / validation labels", "train_val"), ("test labels", "test")):
            out.print(f"[dim]-- {title}[/]")
            if out.is_terminal:
                out.print(Syntax(report["sql"][key], "sql", word_wrap=True))
            else:
                # Piped or redirected: the SQL as written, unwrapped, so it can be pasted.
                out.out(report["sql"][key], highlight=False)
    keys: list[str] = []
    for stats in report["splits"].values():
        keys += [k for k in stats if k not in keys and k not in ("first_anchor", "last_anchor")]
    t = Table("split", *keys, "anchors from", "to")
    for split, stats in report["splits"].items():
        cells = [_cell(stats.get(k)) for k in keys]
        t.add_row(split, *cells, str(stats.get("first_anchor", ""))[:10],
                  str(stats.get("last_anchor", ""))[:10])  # fmt: skip
    out.print(t)
    for w in report.get("warnings", []):
        out.print(f"[yellow]warning[/]: {w}", highlight=False)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k}:{c}" for k, c in list(v.items())[:5])
    return str(v)


@app.command()
def query(
    text: str | None = typer.Argument(None, help='The query, e.g. "PREDICT … FOR EACH …".'),
    workspace: Path = workspace_option(help="Workspace."),
    snapshot: str | None = typer.Option(None, "--snapshot", help="Snapshot id (default: latest)."),
    explain: bool = typer.Option(False, "--explain", help="Show the generated label SQL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    val_cutoff: str | None = typer.Option(None, "--val-cutoff", help="e.g. 2005-01-01"),
    test_cutoff: str | None = typer.Option(None, "--test-cutoff", help="e.g. 2010-01-01"),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="Run the queries of a .pql file (one per paragraph)."
    ),
    name: str | None = typer.Option(None, "--name", help="With --file: only this query."),
) -> None:
    """Compile a predictive query: task type, metric, label SQL, rows per split."""
    try:
        queries: list[tuple[str | None, str]]
        if file is not None:
            try:
                content = file.read_text()
            except OSError as e:
                raise QueryError(f"cannot read query file '{file}': {e}") from e
            named = split_queries(content)
            if name is not None:
                named = [(n, t) for n, t in named if n == name]
                if not named:
                    known = ", ".join(n for n, _ in split_queries(content))
                    raise QueryError(f"no query named '{name}' in '{file}'; it has: {known}")
            queries = [(n, t) for n, t in named]
        elif text is not None:
            queries = [(None, text)]
        else:
            err.print('give a query ("PREDICT …") or --file queries.pql')
            raise typer.Exit(2)
        snap = api.snapshot(snapshot, workspace=workspace)
        reports = []
        for qname, qtext in queries:
            tables = api.training_tables(
                qtext, workspace=workspace, snapshot=snap, val_cutoff=val_cutoff,
                test_cutoff=test_cutoff,
            )  # fmt: skip
            reports.append((qname, _report(tables, explain)))
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        if file is None:
            emit_json(reports[0][1])
        else:
            emit_json({"queries": {n: r for n, r in reports}})
        return
    for qname, report in reports:
        _print(qname, report)
