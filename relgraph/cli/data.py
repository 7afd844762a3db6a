"""``relgraph ingest``, ``relgraph schema``, ``relgraph snapshots``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, err, fail, out, progress_bar, workspace_option
from relgraph.errors import RelgraphError, StoreError
from relgraph.schema.overrides import schema_to_yaml
from relgraph.schema.types import Schema
from relgraph.schema.validate import ValidationReport
from relgraph.sources import redact
from relgraph.store.atomic import write_text

WorkspaceOpt = workspace_option()
JsonOpt = typer.Option(False, "--json", help="Print one JSON object on stdout, nothing else.")


@app.command()
def ingest(
    source: str = typer.Argument(
        ..., help="Folder/file, sqlite:///file.db, postgresql://…, s3://bucket/prefix"
    ),
    workspace: Path = WorkspaceOpt,
    schema: Path | None = typer.Option(None, "--schema", help="Schema overrides (YAML)."),
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", help="S3-compatible endpoint URL."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat validation warnings as errors."),
    as_json: bool = JsonOpt,
) -> None:
    """Read a source, infer its schema, validate it and store a versioned snapshot."""
    try:
        with progress_bar(not as_json, "reading") as progress:
            result = api.ingest(
                source,
                workspace=workspace,
                schema_file=schema,
                s3_endpoint=s3_endpoint,
                strict=strict,
                progress=progress,
            )
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    snap = result.snapshot
    _print_schema(snap.schema, snap.manifest.row_counts)
    _print_report(result.report)
    verb = "stored new snapshot" if result.created else "unchanged: snapshot already stored"
    if result.created:
        for note in snap.manifest.notes:
            out.print(f"[yellow]note:[/] {note}")
        kinds = snap.manifest.storage
        deltas = [n for n, k in kinds.items() if k == "delta"]
        if deltas:
            out.print(f"stored as deltas of {snap.manifest.parent}: {', '.join(deltas)}")
    out.print(f"[green]{verb}[/] [bold]{snap.id}[/] in {workspace}")


@app.command()
def schema(
    source: str | None = typer.Argument(None, help="Infer from this source instead of a snapshot."),
    workspace: Path = WorkspaceOpt,
    snapshot: str | None = typer.Option(None, "--snapshot", help="Snapshot id (default: latest)."),
    overrides: Path | None = typer.Option(None, "--schema", help="Apply these overrides first."),
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", help="S3-compatible endpoint URL."
    ),
    write: Path | None = typer.Option(None, "--write", help="Write the editable YAML here."),
    explain: bool = typer.Option(
        False, "--explain", help="Say why each key, link and time column was chosen."
    ),
    check: bool = typer.Option(
        False, "--check", help="List only the doubtful choices (exit 1 when there are any)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Show the schema graph (keys, links, time columns, semantic types)."""
    report: ValidationReport | None = None
    try:
        if source is not None:
            inferred = api.read_and_infer(source, schema_file=overrides, s3_endpoint=s3_endpoint)
            sch, report = inferred.schema, inferred.report
            rows = {n: t.num_rows for n, t in inferred.source.tables.items()}
            summary = {
                "source": redact(source),
                "tables": {n: sch[n].to_dict() | {"rows": rows[n]} for n in sch.tables},
                "links": [str(link) for link in sch.links],
                # What ingest would say: a schema it refuses is not shown as fine.
                "validation": report.to_dict(),
            }
        else:
            snap = api.snapshot(snapshot, workspace=workspace)
            sch, rows = snap.schema, snap.manifest.row_counts
            summary = api.snapshot_summary(snap)
    except RelgraphError as e:
        fail(e, as_json)
    if write is not None:
        write_text(write, schema_to_yaml(sch))
        err.print(f"wrote {write}: edit it, then pass it with --schema {write}")
    doubts = [(n, x) for n, t in sch.tables.items() for x in t.explanations if x.doubtful]
    if as_json:
        extra: dict[str, Any] = {}
        if check:
            extra = {"doubtful": [{"table": n} | x.to_dict() for n, x in doubts]}
        emit_json(summary | extra)
    elif check:
        for n, x in doubts:
            out.print(f"[yellow]doubtful[/] {n}.{x}", highlight=False)
        if report is not None:
            _print_report(report)
        if not doubts and not (report and report.errors):
            out.print("[green]no doubtful choices[/]")
    elif write is None:
        _print_schema(sch, rows)
        if explain:
            _print_explanations(sch)
        if report is not None:
            _print_report(report)
    if report is not None and report.errors and not as_json:
        err.print("[red]ingest would refuse this schema[/]: fix the errors above first")
    if check and (doubts or (report is not None and report.errors)):
        raise typer.Exit(1)


@app.command()
def snapshots(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """List the workspace's snapshots, oldest first."""
    try:
        snaps = api.snapshots(workspace)
        names: dict[str, list[str]] = {}
        for tag_name, sid in api.snapshot_tags(workspace).items():
            names.setdefault(sid, []).append(tag_name)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(
            {
                "snapshots": [
                    {
                        "id": s.id,
                        "snapshot_id": s.id,
                        "parent": s.manifest.parent,
                        "source": s.manifest.source,
                        "created": s.manifest.created,
                        "tables": len(s.table_names),
                        "rows": sum(s.manifest.row_counts.values()),
                        "tags": names.get(s.id, []),
                    }
                    for s in snaps
                ]
            }
        )
        return
    t = Table("snapshot", "tags", "created", "source", "tables", "rows", "parent")
    t.columns[0].no_wrap = True  # an id to copy: never cut
    for s in snaps:
        m = s.manifest
        t.add_row(
            s.id,
            ", ".join(names.get(s.id, [])),
            m.created[:19],
            m.source,
            str(len(s.table_names)),
            f"{sum(m.row_counts.values()):,}",
            (m.parent or "")[:16],
        )
    out.print(t)


@app.command()
def tag(
    snapshot: str | None = typer.Argument(None, help="Snapshot id, unique prefix or tag."),
    name: str | None = typer.Argument(None, help="The name to give it (v1, gold, 2026-12-01)."),
    workspace: Path = WorkspaceOpt,
    delete: str | None = typer.Option(None, "--delete", help="Remove this tag."),
    as_json: bool = JsonOpt,
) -> None:
    """Name a snapshot (then use the name wherever an id goes); with no argument, list tags."""
    try:
        if delete is not None:
            api.untag_snapshot(delete, workspace=workspace)
        elif snapshot is not None:
            if name is None:
                raise StoreError("give the tag's name: relgraph tag SNAPSHOT NAME")
            api.tag_snapshot(snapshot, name, workspace=workspace)
        tags = api.snapshot_tags(workspace)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json({"tags": tags})
        return
    t = Table("tag", "snapshot")
    for k, v in tags.items():
        t.add_row(k, v)
    out.print(t)


@app.command()
def diff(
    before: str = typer.Argument(..., help="Snapshot id, unique prefix or tag."),
    after: str | None = typer.Argument(None, help="Another one (default: the latest)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """What changed between two snapshots: tables, rows (by key) and schema."""
    try:
        d = api.diff_snapshots(before, after, workspace=workspace)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(d.to_dict())
        return
    t = Table(
        "table",
        "status",
        "rows before",
        "rows after",
        "added",
        "removed",
        "changed",
        "schema",
        title=f"{d.before} → {d.after}",
    )
    for td in d.tables:
        t.add_row(
            td.name,
            td.status,
            f"{td.rows_before:,}",
            f"{td.rows_after:,}",
            f"{td.rows_added:,}",
            f"{td.rows_removed:,}",
            "—" if td.rows_changed is None else f"{td.rows_changed:,}",
            "; ".join(td.schema_changes),
        )
    out.print(t)
    if not d.changed:
        out.print("[green]no changes[/]")


@app.command()
def gc(
    workspace: Path = WorkspaceOpt,
    keep_last: int | None = typer.Option(
        None,
        "--keep-last",
        help="Also delete snapshots older than the newest N of their source that no tag, "
        "latest ref or model references.",
    ),
    delete: bool = typer.Option(
        False, "--delete", help="Really delete (without it: a dry run that lists what would go)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Remove unreferenced data: killed writers' leftovers, stray files, orphan caches."""
    try:
        r = api.collect_garbage(workspace=workspace, keep_last=keep_last, delete=delete)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(r)
        return
    verb = "deleted" if delete else "would delete"
    for sid in r["snapshots"]:
        out.print(f"{verb} snapshot {sid}")
    for key, what in (
        ("stray_files", "stray file"),
        ("stale", "leftover"),
        ("orphan_caches", "cache"),
    ):
        for path in r[key]:
            out.print(f"{verb} {what} {path}")
    for sid, why in r["kept"].items():
        if why != "kept":
            out.print(f"[dim]kept snapshot {sid} ({why})[/]")
    freed = r["bytes_freed"] / 2**20
    if not delete:
        nothing = not any(r[k] for k in ("snapshots", "stray_files", "stale", "orphan_caches"))
        out.print("nothing to collect" if nothing else
                  f"dry run: {freed:.2f} MiB would be freed; run again with --delete")  # fmt: skip
    else:
        out.print(f"[green]freed {freed:.2f} MiB[/]")


def _print_schema(sch: Schema, rows: dict[str, int]) -> None:
    t = Table("table", "rows", "primary key", "time", "links")
    for name, ts in sch.tables.items():
        if ts.time_spec is not None and ts.time_spec.kind == "inherit":
            time = f"via {ts.time_spec.via}"
        elif ts.time_spec is not None and ts.time_spec.kind == "combine":
            time = f"{ts.time_spec.date_column}+{ts.time_spec.clock_column}"
        else:
            time = ts.time_column or ""
        links = ", ".join(f"{fk.column}→{fk.target}" for fk in ts.foreign_keys)
        t.add_row(name, f"{rows.get(name, 0):,}", ts.primary_key or "", time, links)
    out.print(t)


def _print_explanations(sch: Schema) -> None:
    t = Table("table", "choice", "rule", "confidence", "why")
    for name, ts in sch.tables.items():
        if ts.unique_key and not any(e.subject == "unique_key" for e in ts.explanations):
            t.add_row(name, "unique_key", "", "", ", ".join(ts.unique_key))
        for e in ts.explanations:
            subject = e.subject
            if subject == "unique_key":
                subject = "unique_key (" + ", ".join(ts.unique_key) + ")"
            colour = "yellow" if e.doubtful else ""
            t.add_row(
                name,
                subject,
                e.rule,
                f"[{colour}]{e.confidence:.2f}[/]" if colour else f"{e.confidence:.2f}",
                e.detail,
            )
    out.print(t)


def _print_report(report: ValidationReport) -> None:
    for f in report.findings:
        colour = {"error": "red", "warning": "yellow"}.get(f.severity, "cyan")
        out.print(f"[{colour}]{f.severity}[/]: {f.message}", highlight=False)
