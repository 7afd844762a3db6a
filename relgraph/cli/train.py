"""``relgraph train``, ``relgraph predict``, ``relgraph models``, ``relgraph demo``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from relgraph import api
from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import RelgraphError, StoreError

WorkspaceOpt = workspace_option()
JsonOpt = typer.Option(False, "--json", help="Print one JSON object on stdout, nothing else.")


@contextmanager
def _train_progress(enabled: bool) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """A Rich bar on stderr fed by the trainer's ``progress(stage, info)`` callback."""
    if not enabled:
        yield lambda stage, info: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as prog:
        bar = prog.add_task("labels", total=None, info="")

        def update(stage: str, info: dict[str, Any]) -> None:
            if stage == "epoch":
                extra = ", ".join(
                    f"{k} {v:.4f}"
                    for k, v in info.items()
                    if k not in ("epoch", "epochs") and isinstance(v, float)
                )
                prog.update(
                    bar,
                    description="training GNN",
                    completed=info["epoch"],
                    total=info["epochs"],
                    info=extra,
                )
            elif stage == "trial":
                prog.update(bar, description="training GNN", completed=0, total=None, info="")
            else:
                prog.update(bar, description=stage, total=None, info="")

        yield update


def _fmt(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def results_table(result: Any) -> Table:
    """Every candidate, best first on validation, with val/test under both protocols."""
    if not getattr(result, "candidates", None):
        return _legacy_table(result)
    m, sel = result.metric, result.protocol
    # Fits 80 columns: names and ids are never cut, the metric is named once.
    t = Table(
        title=f"{result.model_id} — {m}, candidates ranked on validation ({sel} protocol; "
        f"rows: {result.rows})",
        caption="* the model predict uses",
    )
    t.add_column("#", no_wrap=True)
    t.add_column("model", no_wrap=True)
    for proto in ("frozen", "rolling"):
        for split in ("val", "test"):
            t.add_column(f"{proto}\n{split}", justify="right", no_wrap=True)
    t.add_column("train s", justify="right")
    for i, c in enumerate(result.ranking(), 1):
        chosen = c.name == result.selected
        t.add_row(
            f"{i}*" if chosen else str(i),
            c.name,
            *[_fmt(c.value(p, s, m)) for p in ("frozen", "rolling") for s in ("val", "test")],
            f"{c.seconds:.0f}" if c.seconds else "—",
            style="bold" if chosen else None,
        )
    return t


def _legacy_table(result: Any) -> Table:
    """GNN and LightGBM metrics side by side (a result without candidates)."""
    t = Table(title=f"{result.model_id} — {result.metric} (rows: {result.rows})")
    t.add_column("model")
    t.add_column("split")
    metrics: list[str] = []
    for scores in (result.gnn, result.baseline):
        if scores is not None:
            for d in (scores.val, scores.test):
                metrics += [m for m in d if m not in metrics]
    for m in metrics:
        t.add_column(m, justify="right", style="bold" if m == result.metric else None)
    t.add_column("train s", justify="right")
    for name, scores in (("GNN", result.gnn), ("LightGBM", result.baseline)):
        if scores is None:
            continue
        for split in ("val", "test"):
            d = getattr(scores, split)
            t.add_row(name, split, *[_fmt(d.get(m)) for m in metrics], f"{scores.seconds:.0f}")
    return t


def pretraining_table(result: Any) -> Table:
    """The GNN from the pretrained trunk, the same run from scratch, and the difference."""
    p = result.pretraining
    t = Table(title=f"GNN with pretrained trunk {p.pretrained_id} ({p.loaded} tensors loaded)")
    t.add_column("split")
    t.add_column("metric")
    for c in ("from pretrained", "from scratch", "delta"):
        t.add_column(c, justify="right")
    for split in ("val", "test"):
        for m, d in p.delta[split].items():
            t.add_row(
                split,
                m,
                _fmt(getattr(result.gnn, split).get(m)),
                _fmt(getattr(p.scratch, split).get(m)),
                "—" if math.isnan(d) else f"{d:+.4f}",
                style="bold" if m == result.metric else None,
            )
    return t


@app.command()
def pretrain(
    workspace: Path = WorkspaceOpt,
    snapshot: str | None = typer.Option(None, "--snapshot", help="Snapshot id (default: latest)."),
    budget: str = typer.Option(
        "fast",
        "--budget",
        help="Architecture preset: fast | normal (training from the trunk keeps its width "
        "and depth).",
    ),
    steps: int = typer.Option(300, "--steps", help="Mini-batches to train on."),
    batch_size: int = typer.Option(64, "--batch-size", help="Seed rows per mini-batch."),
    minutes: float = typer.Option(5.0, "--minutes", help="Stop after this many minutes."),
    until: str | None = typer.Option(
        None, "--until", help="See no row after this date (use the tasks' test cut-off)."
    ),
    table: list[str] | None = typer.Option(
        None, "--table", help="Seed rows from this table (repeatable; default: every table)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (runs are repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Pretrain a GNN trunk without labels (masked-feature reconstruction) for --from-pretrained."""
    try:
        with _train_progress(not as_json) as progress:
            result = api.pretrain(
                workspace=workspace, snapshot=snapshot, budget=budget, steps=steps,
                batch_size=batch_size, minutes=minutes, until=until, tables=table, seed=seed,
                progress=progress,
            )  # fmt: skip
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    out.print(
        f"reconstruction loss on probe batches {result.loss_start:.4f} → "
        f"{result.loss_end:.4f} after {result.steps} steps ({len(result.tables)} tables)"
    )
    out.print(
        f"[green]trunk stored:[/] [bold]{result.pretrained_id}[/] ({result.seconds:.0f} s); "
        f"use it with `relgraph train ... --from-pretrained {result.pretrained_id}`"
    )


@app.command()
def embed(
    model: str = typer.Option(..., "--model", help="Model id (see `relgraph models`)."),
    workspace: Path = WorkspaceOpt,
    table: str | None = typer.Option(
        None, "--table", help="Table to embed (default: the model's entity table)."
    ),
    at: str = typer.Option("now", "--at", help="now | test | an ISO date (the anchor time)."),
    to: Path | None = typer.Option(None, "--to", help="FILE.parquet (default: in the workspace)."),
    snapshot: str | None = typer.Option(None, "--snapshot", help="Embed on another snapshot."),
    as_json: bool = JsonOpt,
) -> None:
    """GNN entity embeddings from a trained model: one row per entity, to Parquet."""
    try:
        result = api.embed_entities(
            model, workspace=workspace, table=table, at=at, to=to, snapshot=snapshot
        )
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    out.print(
        f"[green]{result.rows} embeddings[/] of {result.entity_table} ({result.dim} wide, "
        f"as of {result.anchor:%Y-%m-%d %H:%M}) → {result.destination}"
    )


@app.command()
def train(
    query: str = typer.Argument(
        ...,
        help='A predictive query, e.g. "PREDICT COUNT(orders.*, 0, 30, days) > 0 '
        'FOR EACH users.user_id".',
    ),
    workspace: Path = WorkspaceOpt,
    snapshot: str | None = typer.Option(None, "--snapshot", help="Snapshot id (default: latest)."),
    budget: str = typer.Option("normal", "--budget", help="fast | normal | best"),
    trials: int | None = typer.Option(
        None, "--trials", help="Search at most this many GNN configurations."
    ),
    minutes: float | None = typer.Option(
        None, "--minutes", help="Stop the search after this many minutes."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (runs are repeatable)."),
    val_cutoff: str | None = typer.Option(
        None, "--val-cutoff", help="First validation anchor, e.g. 2005-01-01."
    ),
    test_cutoff: str | None = typer.Option(
        None, "--test-cutoff", help="First test anchor, e.g. 2010-01-01."
    ),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the LightGBM baseline."),
    from_pretrained: str | None = typer.Option(
        None,
        "--from-pretrained",
        help="Start the GNN from a pretrained trunk (see `relgraph pretrain`); the report "
        "adds the same run from scratch and the difference.",
    ),
    protocol: str = typer.Option(
        "rolling",
        "--protocol",
        help="frozen (RelBench's: no input after the test cut-off) | rolling (inputs up "
        "to each anchor): the protocol whose validation figures choose the model.",
    ),
    exclude_seen: str = typer.Option(
        "auto",
        "--exclude-seen",
        help="Link tasks: leave items the entity already has out of its ranking: auto "
        "(when the training labels rarely repeat an owned item) | always | never.",
    ),
    warm_start: str | None = typer.Option(
        None,
        "--warm-start",
        help="Continue this stored model's GNN (same query and config) on the snapshot, "
        "e.g. a newer one.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Train the GNN, LightGBM and trivial baselines; rank them on validation."""
    try:
        with _train_progress(not as_json) as progress:
            result = api.train(
                query, workspace=workspace, snapshot=snapshot, budget=budget, trials=trials,
                minutes=minutes, seed=seed, val_cutoff=val_cutoff, test_cutoff=test_cutoff,
                baseline=not no_baseline, progress=progress, from_pretrained=from_pretrained,
                protocol=protocol, exclude_seen=exclude_seen, warm_start=warm_start,
            )  # fmt: skip
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    out.print(results_table(result))
    if result.pretraining is not None:
        out.print(pretraining_table(result))
    if result.exclude_seen is not None:
        ex = result.exclude_seen.to_dict()
        rate = "n/a" if ex["repeat_rate"] is None else f"{ex['repeat_rate']:.1%}"
        out.print(
            f"owned items {'excluded from' if ex['exclude'] else 'kept in'} rankings "
            f"(--exclude-seen {ex['mode']}; training repeat rate {rate})"
        )
    out.print(_selected_line(result))
    out.print(f"[green]model stored:[/] [bold]{result.model_id}[/] ({result.seconds:.0f} s)")


def _selected_line(result: Any) -> str:
    from relgraph.train.candidates import is_trivial

    if is_trivial(result.selected):
        return (
            f"[yellow]predict will use the trivial baseline '{result.selected}'[/]: no learned "
            f"model beat it on validation {result.metric} ({result.protocol} protocol)"
        )
    return (
        f"predict will use [bold]{result.selected}[/] (best on validation {result.metric}, "
        f"{result.protocol} protocol); `--model-kind` picks another"
    )


@app.command()
def predict(
    model: str = typer.Argument(..., help="Model id or a unique prefix (see `relgraph models`)."),
    workspace: Path = WorkspaceOpt,
    to: str | None = typer.Option(
        None,
        "--to",
        help="FILE.parquet, sqlite:///file.db or postgresql://…[?schema=s], "
        "optionally ending in #table or #schema.table.",
    ),
    now: bool = typer.Option(
        False, "--now", help="Predict for every entity as of the latest data."
    ),
    snapshot: str | None = typer.Option(None, "--snapshot", help="Predict on another snapshot."),
    model_kind: str | None = typer.Option(
        None,
        "--model-kind",
        help="Candidate to predict with: gnn | lightgbm | ensemble | trivial:NAME "
        "(default: the one chosen on validation).",
    ),
    entity: list[str] = typer.Option(
        [],
        "--entity",
        help="Predict online for this entity key (repeatable): print the predictions, "
        "write nothing. Same features as the batch path (docs/online.md).",
    ),
    at: str | None = typer.Option(
        None, "--at", help="With --entity: anchor time (ISO; default: the latest data)."
    ),
    embedding: bool = typer.Option(
        False, "--embedding", help="With --entity: print the GNN embeddings too."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write predictions and embeddings (Parquet in the workspace, or a SQL table).

    With --entity KEY: predict online for those keys and print the answers instead.
    """
    if entity:
        _predict_online(model, entity, workspace, at, embedding, model_kind, snapshot, as_json)
        return
    if to is not None and "://" not in to and not Path(to).parent.is_dir():
        # A typo in a path should not leave a tree of new folders behind.
        fail(StoreError(f"--to: folder '{Path(to).parent}' does not exist; create it first"),
             as_json)  # fmt: skip
    try:
        result = api.predict(
            model, workspace=workspace, to=to, split="now" if now else "test", snapshot=snapshot,
            model_kind=model_kind,
        )  # fmt: skip
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(result.to_dict())
        return
    how = "chosen on validation" if result.model_kind == result.selected else "--model-kind"
    out.print(f"model: [bold]{result.model_kind}[/] ({how})")
    if result.metrics:
        out.print("test metrics: " + ", ".join(f"{k} {_fmt(v)}" for k, v in result.metrics.items()))
    out.print(f"[green]{result.rows} predictions[/] → {result.destination}")


def _predict_online(
    model: str,
    keys: list[str],
    workspace: Path,
    at: str | None,
    embedding: bool,
    model_kind: str | None,
    snapshot: str | None,
    as_json: bool,
) -> None:
    try:
        result = api.predict_online(
            model, keys, workspace=workspace, at=at, embedding=embedding,
            model_kind=model_kind, snapshot=snapshot,
        )  # fmt: skip
    except RelgraphError as e:
        fail(e, as_json)
    d = result.to_dict()
    if as_json:
        emit_json(d)
        return
    out.print(
        f"model {d['model_id']} ({d['model_kind']}, {d['task_type']}) on snapshot "
        f"{d['snapshot_id'][:12]}, as of {d['anchor']}"
    )
    failed = 0
    for r in d["results"]:
        if "error" in r:
            failed += 1
            out.print(f"[red]{r['key']}[/]: {r['error']}", highlight=False)
            continue
        line = f"{r['key']}: {r['prediction']}"
        if r.get("score") is not None:
            line += f" (score {r['score']:.4f})"
        if r.get("top"):
            line += "  top: " + ", ".join(f"{t['class']} {t['score']:.3f}" for t in r["top"])
        out.print(line, highlight=False, markup=False)
        if r.get("embedding") is not None:
            out.print("  embedding: " + " ".join(f"{v:.3f}" for v in r["embedding"]))
    if failed:
        raise typer.Exit(1)


@app.command()
def export(
    model: str = typer.Argument(..., help="Model id or a unique prefix (see `relgraph models`)."),
    to: Path = typer.Option(..., "--to", help="A new folder for the bundle."),
    workspace: Path = WorkspaceOpt,
    model_kind: str | None = typer.Option(
        None, "--model-kind", help="gnn | lightgbm | ensemble (default: the chosen one)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write a self-contained serving bundle: weights, config, encoders, schema, data.

    Serve it anywhere with `relgraph serve --bundle DIR` (docs/online.md).
    """
    try:
        info = api.export_model(model, to=to, workspace=workspace, model_kind=model_kind)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(info.to_dict())
        return
    out.print(
        f"[green]bundle[/] of {info.model_id} ({info.model_kind}) → {info.path} "
        f"({info.bytes / 1e6:.1f} MB); serve it with: relgraph serve --bundle {info.path}"
    )


@app.command()
def models(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """List stored models with their test metrics."""
    rows = api.models(workspace)
    if as_json:
        # The shape of every listing's --json (snapshots, jobs): {"<things>": [{"id", ...}]}.
        emit_json({"models": [{"id": m["model_id"], **m} for m in rows]})
        return
    t = Table(title=f"models in {workspace}")
    t.add_column("model", no_wrap=True)  # an id to copy: never cut
    for c in ("metric", "GNN test", "LightGBM test", "created"):
        t.add_column(c)
    for m in rows:
        metric = m.get("metric") or ""
        g = (m.get("gnn") or {}).get("test", {}).get(metric)
        b = (m.get("lightgbm") or {}).get("test", {}).get(metric)
        t.add_row(str(m["model_id"]), metric, _fmt(g), _fmt(b), str(m.get("created")))
    out.print(t)


@app.command()
def demo(
    workspace: Path = workspace_option(Path(".relgraph-demo")),
    budget: str = typer.Option("fast", "--budget", help="fast | normal | best"),
    as_json: bool = JsonOpt,
) -> None:
    """Ingest the bundled F1 data, train driver-top3, predict — a few minutes on a laptop."""
    try:
        with _train_progress(not as_json) as progress:
            result, preds = api.demo(workspace=workspace, budget=budget, progress=progress)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json({"train": result.to_dict(), "predict": preds.to_dict()})
        return
    out.print(results_table(result))
    out.print(_selected_line(result))
    out.print(f"[green]{preds.rows} predictions[/] by {preds.model_kind} → {preds.destination}")
