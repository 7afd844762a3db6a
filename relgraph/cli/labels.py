"""``relgraph labels``: label projects, stages, items, labels, label sets, weak supervision.

Every command prints one JSON object on stdout. The caller is trusted as a project admin
(they can read the workspace's metadata DB anyway); the REST service is where roles apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from relgraph.cli.app import app, emit_json, fail, workspace_option
from relgraph.errors import LabelError, RelgraphError

labels_app = typer.Typer(
    help="Human labels: projects, stages, queues, label sets.", no_args_is_help=True
)
app.add_typer(labels_app, name="labels")

WorkspaceOpt = workspace_option()
MetaOpt = typer.Option(None, "--meta", help="Metadata DB URL (default: sqlite in the workspace).")


def _run(fn: Callable[[Any], Any], workspace: Path, meta: str | None) -> None:
    from relgraph.labels import LabelStore

    try:
        emit_json(fn(LabelStore.open(workspace, meta)))
    except RelgraphError as e:
        fail(e, True)
    finally:
        from relgraph.labels import notify

        notify.flush()


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise typer.BadParameter(f"{what} is JSON: {e}") from None


@labels_app.command("create")
def create(
    name: str,
    table: str = typer.Option(..., "--table", help="The entity table."),
    classes: str = typer.Option(None, "--classes", help="Comma-separated classes (else a number)."),
    key: str = typer.Option(None, "--key", help="Key column (default: the table's primary key)."),
    guidelines: str = typer.Option("", "--guidelines"),
    webhook: str = typer.Option(None, "--webhook", help="URL that receives project events."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Create a label project on an entity table."""
    schema: dict[str, Any] = (
        {"classes": [c.strip() for c in classes.split(",")]} if classes else {"kind": "number"}
    )
    _run(
        lambda ls: ls.create_project(
            name, table=table, key=key, schema=schema, guidelines=guidelines, webhook=webhook
        ),
        workspace,
        meta,
    )


@labels_app.command("stage")
def stage(
    project: str,
    name: str,
    labelers: str = typer.Option("", "--labelers", help="Comma-separated labeler names."),
    watches: str = typer.Option(
        None, "--watches", help="The stage whose completed items come here."
    ),
    filter: str = typer.Option(None, "--filter", help='JSON, e.g. {"confidence_lt": 0.8}.'),
    overlap: int = typer.Option(1, "--overlap", help="Labelers per item."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Add a stage (a queue) to a project."""
    f = _json(filter, "--filter") if filter else None
    names = [n for n in labelers.split(",") if n]
    _run(
        lambda ls: ls.add_stage(
            project, name, labelers=names, watches=watches, filter=f, overlap=overlap
        ),
        workspace,
        meta,
    )


@labels_app.command("add")
def add(
    project: str,
    stage: str,
    keys: list[str] = typer.Argument(..., help="Entity keys to queue."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Queue entity keys (unknown keys are reported, not dropped)."""
    _run(lambda ls: ls.add_items(project, stage, keys).to_dict(), workspace, meta)


@labels_app.command("seed")
def seed_cmd(
    project: str,
    stage: str,
    predictions: Path = typer.Option(..., "--predictions", help="Parquet from relgraph predict."),
    order: str = typer.Option(
        "uncertainty", "--order", help="uncertainty, disagreement, stratified"
    ),
    other: Path = typer.Option(
        None, "--other", help="A second model's predictions (disagreement)."
    ),
    n: int = typer.Option(None, "--n", help="At most this many items (per class when stratified)."),
    positive: str = typer.Option(None, "--positive", help="The class a True prediction means."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Fill a queue from a model's predictions, suggestions pre-filled."""
    from relgraph.labels.seed import seed

    _run(
        lambda ls: seed(
            ls, project, stage, predictions, order=order, other=other, n=n, positive=positive
        ).to_dict(),
        workspace,
        meta,
    )


@labels_app.command("next")
def next_cmd(
    project: str,
    stage: str,
    labeler: str = typer.Option("local", "--as"),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """The next item for a labeler."""
    from relgraph.labels import Who

    _run(
        lambda ls: {"item": ls.next_item(project, stage, who=Who.of(labeler, admin=True))},
        workspace,
        meta,
    )


@labels_app.command("queue")
def queue_cmd(
    project: str,
    stage: str,
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Items on the page."),
    after: str = typer.Option(
        None, "--after", help="The 'next' token the page before printed (keyset paging)."
    ),
    done: bool = typer.Option(None, "--done/--open", help="Only completed / only open items."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """One page of a stage's queue; pass its 'next' as --after for the page that follows."""
    _run(lambda ls: ls.queue(project, stage, limit=limit, after=after, done=done), workspace, meta)


@labels_app.command("label")
def label_cmd(
    project: str,
    stage: str,
    key: str,
    value: str,
    labeler: str = typer.Option("local", "--as", help="Whose label this is."),
    attributes: str = typer.Option(None, "--attributes", help="JSON object."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Save one label (a number project takes a number)."""
    from relgraph.labels import Who

    def go(ls: Any) -> Any:
        v: Any = value
        if ls.schema(project).kind == "number":
            try:
                v = float(value)
            except ValueError:
                raise LabelError(f"this project's label is a number, not {value!r}") from None
        attrs = _json(attributes, "--attributes") if attributes else {}
        return ls.submit(
            project, stage, key, {"value": v, "attributes": attrs}, who=Who.of(labeler, admin=True)
        )

    _run(go, workspace, meta)


@labels_app.command("progress")
def progress(project: str, stage: str, workspace: Path = WorkspaceOpt, meta: str = MetaOpt) -> None:
    """Items done of total in a stage."""
    _run(lambda ls: ls.progress(project, stage), workspace, meta)


@labels_app.command("agreement")
def agreement_cmd(
    project: str,
    stage: str,
    gold: str = typer.Option("gold", "--gold"),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Cohen's/Fleiss' kappa and per-labeler accuracy against a gold label set."""
    from relgraph.labels.agreement import agreement

    _run(lambda ls: agreement(ls, project, stage, gold=gold), workspace, meta)


@labels_app.command("export")
def export_cmd(
    project: str,
    version: str,
    parent: str = typer.Option(None, "--parent"),
    to: Path = typer.Option(None, "--to", help="Also copy the Parquet file here."),
    workspace: Path = WorkspaceOpt,
    meta: str = MetaOpt,
) -> None:
    """Export an immutable, content-hashed label set version (v1, gold, ...)."""
    from relgraph.labels.sets import export

    def go(ls: Any) -> Any:
        man = export(ls, project, version, parent=parent)
        if to is not None:
            import pyarrow.parquet as pq

            from relgraph.store import labelsets

            pq.write_table(labelsets.read_version(ls.workspace, project, version)[0], to)
        return man.to_dict()

    _run(go, workspace, meta)


@labels_app.command("list")
def list_cmd(workspace: Path = WorkspaceOpt, meta: str = MetaOpt) -> None:
    """Label projects and their stages."""
    _run(lambda ls: {"projects": [ls.project(p["id"]) for p in ls.projects()]}, workspace, meta)
