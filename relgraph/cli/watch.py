"""``relgraph watch``: ingest a source when it changes and run a pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from relgraph.cli.app import app, emit_json, fail, out, workspace_option
from relgraph.errors import RelgraphError

WorkspaceOpt = workspace_option(None, "Workspace folder (default: the spec's, then .relgraph).")


@app.command()
def watch(
    source: str = typer.Argument(..., help="A folder of data files or sqlite:///file.db"),
    pipeline: Path | None = typer.Option(
        None, "--pipeline", "-p", help="Pipeline spec (YAML) to run after each ingest."
    ),
    workspace: Path | None = WorkspaceOpt,
    interval: float = typer.Option(60.0, "--interval", help="Seconds between looks."),
    settle: float | None = typer.Option(
        None, "--settle", help="Seconds the files must hold still (default: min(interval, 2))."
    ),
    marker: str | None = typer.Option(
        None, "--marker", help="Ingest only once the folder holds this file (e.g. _SUCCESS)."
    ),
    cron: str | None = typer.Option(
        None,
        "--cron",
        help="Look at these times instead (five cron fields, UTC); default: the spec's schedule:.",
    ),
    max_runs: int | None = typer.Option(
        None, "--max-runs", help="Stop after handling this many changes."
    ),
    once: bool = typer.Option(False, "--once", help="Look once, handle a change, stop."),
    max_failures: int | None = typer.Option(
        None, "--max-failures", help="Give up after this many failed looks in a row."
    ),
    executor: str = typer.Option("local", "--executor", "-x", help="local, local:N, ray, …"),
    as_json: bool = typer.Option(False, "--json", help="Print the events as one JSON object."),
) -> None:
    """Watch SOURCE; when its data changed (and holds still), ingest it and run the pipeline."""
    from relgraph.jobs.schedule import parse_schedule
    from relgraph.jobs.spec import PipelineSpec
    from relgraph.jobs.watch import Watcher, WatchEvent

    def show(e: WatchEvent) -> None:
        if not as_json:
            style = {"run": "green", "unreachable": "red", "error": "red"}.get(e.kind, "")
            text = f"{e.at} {e.kind}: {e.message}"
            out.print(f"[{style}]{text}[/]" if style else text, highlight=False)

    try:
        schedule = parse_schedule(cron, where="--cron") if cron is not None else None
        if pipeline is not None:
            spec = PipelineSpec.load(pipeline)
            if workspace is None and spec.workspace:
                workspace = Path(spec.resolve_path(spec.workspace))
            schedule = schedule or spec.schedule  # --cron wins over the spec's schedule:
        w = Watcher(
            source,
            pipeline=pipeline,
            workspace=workspace or Path(".relgraph"),
            interval=interval,
            settle=settle,
            marker=marker,
            schedule=schedule,
            max_runs=max_runs,
            max_polls=1 if once else None,
            max_failures=max_failures,
            executor=executor,
            on_event=show,
        )
        result = w.run()
    except RelgraphError as e:
        fail(e, as_json)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if as_json:
        emit_json(result.to_dict())


@app.command("export-window")
def export_window(
    days: float = typer.Option(..., "--days", help="Keep predictions anchored in the last N days."),
    to: Path = typer.Option(..., "--to", help="The window file (.parquet or .csv), replaced."),
    model: str | None = typer.Option(None, "--model", help="Only this model (id or prefix)."),
    workspace: Path = workspace_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write the last N days of every stored prediction file to one file (a rolling window)."""
    from relgraph import api

    try:
        r = api.export_window(days, to, workspace=workspace, model=model)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(r)
        return
    span = f"{r['start']} .. {r['end']}" if r["end"] else "no predictions"
    out.print(f"wrote {r['rows']:,} rows from {r['files']} file(s) ({span}) to {r['destination']}")
