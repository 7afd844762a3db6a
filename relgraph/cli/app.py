"""The Typer app, output helpers and error handling shared by every command."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from relgraph.errors import QueryError, RelgraphError
from relgraph.redact import redact

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


def workspace_folder(value: Path | None) -> Path | None:
    """``--workspace`` check: a folder, or a path where one can be made.

    ``-w /dev/null`` (or a path under a file) would otherwise fail deep inside
    a command with a traceback; this says so before the command starts.
    """
    if value is None:
        return None
    probe = value
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is" if probe == value else f"lies under '{probe}', which is"
        raise typer.BadParameter(
            f"workspace '{value}' {where} not a folder; give a folder (it is made if missing)"
        )
    return value


def workspace_option(
    default: Path | None = Path(".relgraph"), help: str = "Workspace folder."
) -> Any:
    """The ``--workspace/-w`` option every command takes, checked by :func:`workspace_folder`."""
    return typer.Option(default, "--workspace", "-w", help=help, callback=workspace_folder)


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
        TextColumn("{task.fields[count]}{task.fields[item]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as prog:
        task = prog.add_task(description, total=None, item="", count="")

        def update(name: str, done: int, total: int) -> None:
            # total 0: a stage of unknown length (a pulsing bar, no count).
            count = f"{done}/{total} " if total else ""
            prog.update(task, completed=done, total=total or None, item=name, count=count)

        yield update


def fail(e: RelgraphError, as_json: bool) -> None:
    """Report a relgraph error and exit with its code."""
    if as_json:
        payload: dict[str, Any] = {"error": type(e).__name__, "message": redact(e.message)}
        for k in ("table", "column", "row", "line", "col"):
            if getattr(e, k, None) is not None:
                payload[k] = getattr(e, k)
        emit_json(payload)
    else:
        err.print(f"[bold red]error:[/] {redact(e.message)}", highlight=False)
        if isinstance(e, QueryError) and e.pointer():
            err.print(e.pointer(), highlight=False, markup=False)
    raise typer.Exit(e.exit_code)


def main() -> None:
    # What relgraph writes (workspace, meta.db, logs, secret store) is its user's only:
    # files 0600, folders 0700. ``chmod`` what is meant to be shared.
    os.umask(0o077)
    app()
