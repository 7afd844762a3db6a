"""The Typer app, output helpers and error handling shared by every command."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from relgraph.errors import QueryError, RelgraphError

app = typer.Typer(
    name="relgraph",
    help="Predictions from relational data: ingest tables, ask a predictive query, train, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Human output goes to stderr so that --json keeps stdout to one JSON object.
err = Console(stderr=True)
out = Console()


def emit_json(obj: Any) -> None:
    """One JSON object on stdout; NaN/inf (an AUROC of one class) become null, as JSON has none."""
    sys.stdout.write(json.dumps(finite(obj), indent=2, default=str, allow_nan=False) + "\n")


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (lists, tuples, dicts)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


@contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar on stderr; yields a ``progress(name, done, total)`` callback."""
    if not enabled:
        yield lambda name, done, total: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[item]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as prog:
        task = prog.add_task(description, total=None, item="")

        def update(name: str, done: int, total: int) -> None:
            prog.update(task, completed=done, total=total, item=name)

        yield update


def fail(e: RelgraphError, as_json: bool) -> None:
    """Report a relgraph error and exit with its code."""
    if as_json:
        payload: dict[str, Any] = {"error": type(e).__name__, "message": e.message}
        for k in ("table", "column", "row", "line", "col"):
            if hasattr(e, k):
                payload[k] = getattr(e, k)
        emit_json(payload)
    else:
        err.print(f"[bold red]error:[/] {e.message}", highlight=False)
        if isinstance(e, QueryError) and e.pointer():
            err.print(e.pointer(), highlight=False, markup=False)
    raise typer.Exit(e.exit_code)


def main() -> None:
    app()
