"""``relgraph run``, ``relgraph jobs`` (list, show, cancel, retry)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import RelgraphError

# relgraph.jobs is imported inside each command: it pulls in SQLAlchemy and Alembic, which
# 'relgraph --help' and the data commands do not need.

WorkspaceOpt = workspace_option(None, "Workspace folder (default: the spec's, then .relgraph).")
MetaOpt = typer.Option(
    None, "--meta", help="Metadata DB URL (default: sqlite in the workspace), e.g. postgresql://…"
)
ExecutorOpt = typer.Option(
    "local", "--executor", "-x", help="local, local:N, ray, or ray://host:port"
)
JsonOpt = typer.Option(False, "--json", help="Print one JSON object on stdout, nothing else.")

_STYLE = {
    "succeeded": "green",
    "skipped": "cyan",
    "failed": "red",
    "blocked": "yellow",
    "cancelled": "magenta",
    "running": "bold blue",
    "queued": "blue",
    "pending": "dim",
}

jobs_app = typer.Typer(
    help="List, inspect, cancel and retry jobs.", invoke_without_command=True, no_args_is_help=False
)
app.add_typer(jobs_app, name="jobs")


def _ws(workspace: Path | None) -> Path:
    return workspace or Path(".relgraph")


def _table(jobs: list[dict[str, Any]]) -> Table:
    t = Table(show_lines=False)
    for col in ("id", "run", "job", "type", "status", "progress", "time", "note"):
        t.add_column(col)
    for j in jobs:
        st = j["status"]
        prog = j.get("progress")
        note = j.get("error") or j.get("progress_message") or ""
        if j.get("reused_from"):
            note = f"reused job {j['reused_from']}"
        t.add_row(
            str(j["id"]),
            str(j["run_id"]),
            j["name"],
            j["type"],
            f"[{_STYLE.get(st, '')}]{st}[/]",
            f"{prog * 100:.0f}%" if prog is not None else "",
            f"{j['duration_s']:.1f}s" if j.get("duration_s") is not None else "",
            str(note)[:80],
        )
    return t


@app.command()
def run(
    spec: Path = typer.Argument(..., help="Pipeline spec (YAML)."),
    workspace: Path | None = WorkspaceOpt,
    meta: str | None = MetaOpt,
    executor: str = ExecutorOpt,
    webhook: str | None = typer.Option(
        None, "--webhook", help="POST every job state change here (JSON)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run a pipeline: skip jobs whose inputs are unchanged, run the rest in dependency order."""
    import relgraph.jobs

    try:
        if as_json:
            result = relgraph.jobs.run_pipeline(
                spec, workspace=workspace, meta=meta, executor=executor, webhook=webhook
            )
        else:
            with Live(Table(), console=err, refresh_per_second=4, transient=False) as live:

                def show(jobs: list[Any]) -> None:
                    live.update(_table([relgraph.jobs.runner.job_dict(j) for j in jobs]))

                result = relgraph.jobs.run_pipeline(
                    spec,
                    workspace=workspace,
                    meta=meta,
                    executor=executor,
                    webhook=webhook,
                    on_update=show,
                )
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
    else:
        counts: dict[str, int] = {}
        for j in result.jobs:
            counts[j.status] = counts.get(j.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        colour = "green" if result.ok else "red"
        out.print(f"[{colour}]run {result.run_id} {result.status}[/]: {summary}")
    if not result.ok:
        raise typer.Exit(10)


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    workspace: Path | None = WorkspaceOpt,
    meta: str | None = MetaOpt,
    run_id: int | None = typer.Option(None, "--run", help="Only this run's jobs."),
    watch: bool = typer.Option(False, "--watch", help="Refresh until no job is running."),
    as_json: bool = JsonOpt,
) -> None:
    """List jobs with their status and progress (newest run first)."""
    if ctx.invoked_subcommand is not None:
        return
    import relgraph.jobs

    try:
        rows = relgraph.jobs.list_jobs(workspace=_ws(workspace), meta=meta, run_id=run_id)
        if as_json:
            emit_json({"jobs": rows})
            return
        if not watch:
            out.print(_table(rows))
            return
        with Live(_table(rows), console=out, refresh_per_second=2) as live:
            while any(r["status"] in ("pending", "queued", "running") for r in rows):
                time.sleep(0.5)
                rows = relgraph.jobs.list_jobs(workspace=_ws(workspace), meta=meta, run_id=run_id)
                live.update(_table(rows))
    except RelgraphError as e:
        fail(e, as_json)


@jobs_app.command("show")
def jobs_show(
    job_id: int = typer.Argument(..., help="Job id (from 'relgraph jobs')."),
    workspace: Path | None = WorkspaceOpt,
    meta: str | None = MetaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One job: params, inputs hash, outputs, events, lineage and logs."""
    import relgraph.jobs

    try:
        j = relgraph.jobs.show_job(job_id, workspace=_ws(workspace), meta=meta)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(j)
        return
    t = Table(
        title=f"job {j['id']} '{j['name']}' ({j['type']}), run {j['run_id']}",
        show_header=False,
    )
    t.add_column("field", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")  # ids and hashes fold, never cut
    t.add_row("status", f"[{_STYLE.get(j['status'], '')}]{j['status']}[/]")
    t.add_row("attempts", str(j["attempts"]))
    for k in (
        "params",
        "needs",
        "input_hash",
        "worker",
        "started_at",
        "finished_at",
        "duration_s",
        "outputs",
        "error",
    ):
        if j.get(k) not in (None, [], {}):
            v = j[k]
            shown = json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
            t.add_row(k, escape(shown))
    out.print(t)
    if j["events"]:
        ev_table = Table(title="events")
        for c in ("at", "status", "message"):
            ev_table.add_column(c, overflow="fold")
        for ev in j["events"]:
            ev_table.add_row(str(ev["at"]), ev["status"], escape(ev["message"] or ""))
        out.print(ev_table)
    for edge in j["lineage"]:
        out.print(f"  lineage {edge['from']} → {edge['to']}", highlight=False, markup=False)
    if j.get("logs"):
        out.print("[bold]logs[/]")
        out.print(j["logs"], markup=False, highlight=False)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: int = typer.Argument(...),
    workspace: Path | None = WorkspaceOpt,
    meta: str | None = MetaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ask a pending or running job to stop (its runner stops it and blocks its dependents)."""
    import relgraph.jobs

    try:
        j = relgraph.jobs.cancel_job(job_id, workspace=_ws(workspace), meta=meta)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(j)
    else:
        out.print(f"cancel requested for job {job_id} ('{j['name']}')")


@jobs_app.command("retry")
def jobs_retry(
    job_id: int = typer.Argument(...),
    workspace: Path | None = WorkspaceOpt,
    meta: str | None = MetaOpt,
    executor: str = ExecutorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Re-run a failed, cancelled or blocked job and the jobs it blocked, in its run."""
    import relgraph.jobs

    try:
        result = relgraph.jobs.retry_job(
            job_id, workspace=_ws(workspace), meta=meta, executor=executor
        )
    except RelgraphError as e:
        fail(e, as_json)
    queued = result.status == "queued"  # a service job: back in the queue of `relgraph serve`
    if as_json:
        emit_json(result.to_dict())
    else:
        out.print(_table(result.to_dict()["jobs"]))
        if queued:
            err.print(f"job {job_id} is queued again; a 'relgraph serve' on the workspace runs it")
    if not result.ok and not queued:
        raise typer.Exit(10)
