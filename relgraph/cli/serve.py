"""``relgraph serve`` (REST API + dashboard), ``relgraph token create|list|revoke`` and
``relgraph connection add|list|remove``."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import typer

from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import RelgraphError

token_app = typer.Typer(
    help="API tokens for the REST service (stored hashed in the workspace).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
connection_app = typer.Typer(
    help="Named connections: database/bucket URLs the service reads as 'conn:NAME' "
    "(kept in the secret store, outside the workspace).",
    no_args_is_help=True,
)
app.add_typer(connection_app, name="connection")

WorkspaceOpt = workspace_option()
SecretsOpt = typer.Option(
    None,
    "--secrets-dir",
    help="Secret store folder (default: $RELGRAPH_SECRETS_DIR or "
    "~/.local/state/relgraph/secrets/<workspace hash>).",
)
ALL_INTERFACES = ("0.0.0.0", "::", "")


def _secrets(workspace: Path, secrets_dir: Path | None) -> Any:
    from relgraph.jobs.secretstore import SecretStore

    return SecretStore(secrets_dir) if secrets_dir else SecretStore.for_workspace(workspace)


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with every handler redacting secrets (and a root handler, so
    that relgraph's own warnings are redacted too)."""
    from uvicorn.config import LOGGING_CONFIG

    cfg: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    cfg["filters"] = {"redact": {"()": "relgraph.redact.RedactFilter"}}
    for handler in cfg["handlers"].values():
        handler["filters"] = ["redact"]
    cfg["handlers"]["root"] = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
        "filters": ["redact"],
    }
    cfg["root"] = {"handlers": ["root"], "level": "INFO"}
    return cfg


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workspace: Path = WorkspaceOpt,
    threads: int = typer.Option(
        1, "--job-workers", min=1, max=64, help="Job threads (of each worker process)."
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        min=0,
        max=64,
        help="Job worker processes on the metadata DB, each job claimed by one of them "
        "(0: jobs run in threads of the HTTP process).",
    ),
    meta: str | None = typer.Option(
        None,
        "--meta",
        help="Metadata DB URL (default: sqlite in the workspace), as for 'relgraph run'.",
    ),
    source_roots: list[Path] = typer.Option(
        [],
        "--source-root",
        help="A folder whose files ingest jobs may read (repeatable). None: no files.",
    ),
    allow_urls: list[str] = typer.Option(
        [],
        "--allow-url",
        help="A pattern of database/bucket URLs ingest jobs may read (repeatable), matched "
        "without user-info and secrets, e.g. 'postgresql://db.internal:5432/*'.",
    ),
    secrets_dir: Path | None = SecretsOpt,
    bundle: Path | None = typer.Option(
        None,
        "--bundle",
        help="Serve only online predictions of an exported bundle folder "
        "(`relgraph export`), no workspace; tokens: `relgraph token create -w BUNDLE`.",
    ),
    torch_threads: int | None = typer.Option(
        None,
        "--torch-threads",
        min=1,
        max=256,
        help="Threads of each torch operation in this process (default: torch's, one per "
        "core). 1 suits online predictions under concurrent requests on a few cores.",
    ),
    snapshot_dir: Path | None = typer.Option(
        None,
        "--snapshot-dir",
        help="With --bundle: serve this snapshot folder instead of the bundled one "
        "(refused unless its schema is the bundle's).",
    ),
) -> None:
    """Serve the REST API (docs at /docs) and the web dashboard (at /).

    Jobs started here are recorded in the workspace's metadata DB: 'relgraph jobs' lists
    them, and the dashboard shows the jobs of 'relgraph run' too. Sources: files under
    --source-root folders, URLs matching --allow-url, named connections (see
    'relgraph connection add'); docs/security.md has the rest.
    """
    import uvicorn

    from relgraph.service import TokenStore, create_app

    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    if bundle is not None:
        _serve_bundle(bundle, snapshot_dir, host, port)
        return
    if host in ALL_INTERFACES:
        err.print(
            f"[bold yellow]warning:[/] listening on all interfaces ({host or '*'}): anyone "
            "who reaches this machine can try tokens, over plain HTTP. Serve on 127.0.0.1 "
            "behind a TLS reverse proxy instead (docs/security.md)."
        )
    if not source_roots:
        err.print(
            "[yellow]no --source-root:[/] ingest jobs may read no files, only --allow-url "
            "URLs and named connections"
        )

    if not TokenStore(workspace).list():
        err.print(
            "[yellow]no API tokens yet:[/] create one with "
            f"'relgraph token create --role admin -w {workspace}'"
        )
    store = _secrets(workspace, secrets_dir)
    # Access logs carry paths only; tokens travel in headers and are never logged.
    try:
        application = create_app(
            workspace,
            # With worker processes the HTTP process runs no job itself.
            job_workers=0 if workers else threads,
            meta=meta,
            source_roots=source_roots,
            allow_urls=allow_urls,
            secrets=store,
        )
    except RelgraphError as e:
        fail(e, False)
    pool = None
    if workers:
        from relgraph.service.workers import WorkerConfig, WorkerPool

        pool = WorkerPool(
            WorkerConfig(
                workspace=str(workspace.resolve()),
                secrets_dir=str(store.root),
                owner_pid=os.getpid(),
                meta=meta,
                source_roots=tuple(str(r) for r in source_roots),
                allow_urls=tuple(allow_urls),
                threads=threads,
            ),
            workers,
        )
        pool.start()
    try:
        uvicorn.run(application, host=host, port=port, log_level="info", log_config=log_config())
    finally:
        if pool is not None:
            pool.close()


def _serve_bundle(bundle: Path, snapshot_dir: Path | None, host: str, port: int) -> None:
    import uvicorn

    from relgraph.service import TokenStore
    from relgraph.service.bundle import create_bundle_app

    try:
        application = create_bundle_app(bundle, snapshot_dir=snapshot_dir)
    except RelgraphError as e:
        fail(e, False)
    if not TokenStore(bundle).list():
        err.print(
            "[yellow]no API tokens yet:[/] create one with "
            f"'relgraph token create --role viewer -w {bundle}'"
        )
    uvicorn.run(application, host=host, port=port, log_level="info", log_config=log_config())


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="admin, editor or viewer."),
    name: str = typer.Option("", "--name", help="A note: who or what uses it."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Create an API token; the token is printed once and stored only as a hash."""
    from relgraph.service import TokenStore

    try:
        issued = TokenStore(workspace).create(role, name=name)
    except RelgraphError as e:
        fail(e, as_json)
    if as_json:
        emit_json(issued.info.to_dict() | {"token": issued.token})
        return
    err.print(
        f"created {issued.info.role.value} token [bold]{issued.info.id}[/]; store it now, "
        "it cannot be shown again:"
    )
    out.print(issued.token, highlight=False, markup=False)


@token_app.command("list")
def token_list(
    workspace: Path = WorkspaceOpt, as_json: bool = typer.Option(False, "--json")
) -> None:
    """List tokens (ids, roles, names; never the secrets)."""
    from relgraph.service import TokenStore

    rows = [t.to_dict() for t in TokenStore(workspace).list()]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"{r['id']}  {r['role']:<7} {r['created']}  {r['name']}", highlight=False)


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(...), workspace: Path = WorkspaceOpt) -> None:
    """Revoke a token by id."""
    from relgraph.service import TokenStore

    if not TokenStore(workspace).revoke(token_id):
        err.print(f"[red]error:[/] no token '{token_id}' in {workspace}")
        raise typer.Exit(1)
    out.print(f"revoked {token_id}")


@connection_app.command("add")
def connection_add(
    name: str = typer.Argument(..., help="The name editors ingest as 'conn:NAME'."),
    url: str | None = typer.Option(
        None,
        "--url",
        help="The URL (with its password). Without it, it is asked for, hidden: a URL on "
        "the command line lands in the shell's history.",
    ),
    workspace: Path = WorkspaceOpt,
    secrets_dir: Path | None = SecretsOpt,
) -> None:
    """Create or replace a named connection (kept in the secret store, mode 0600)."""
    from relgraph.redact import redact

    if url is None:
        url = typer.prompt("URL", hide_input=True)
    try:
        _secrets(workspace, secrets_dir).set_connection(name, url)
    except RelgraphError as e:
        fail(e, False)
    out.print(f"connection {name} = {redact(url)} (ingest it as conn:{name})", highlight=False)


@connection_app.command("list")
def connection_list(
    workspace: Path = WorkspaceOpt,
    secrets_dir: Path | None = SecretsOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List named connections (URLs redacted)."""
    from relgraph.redact import redact

    conns = sorted(_secrets(workspace, secrets_dir).connections().items())
    rows = [{"name": n, "url": redact(u), "source": f"conn:{n}"} for n, u in conns]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"{r['name']}  {r['url']}", highlight=False, markup=False)


@connection_app.command("remove")
def connection_remove(
    name: str = typer.Argument(...),
    workspace: Path = WorkspaceOpt,
    secrets_dir: Path | None = SecretsOpt,
) -> None:
    """Delete a named connection."""
    if not _secrets(workspace, secrets_dir).remove_connection(name):
        err.print(f"[red]error:[/] no connection '{name}'")
        raise typer.Exit(1)
    out.print(f"removed {name}")
