"""``relgraph serve`` (REST API + dashboard) and ``relgraph token create|list|revoke``."""

from __future__ import annotations

from pathlib import Path

import typer

from relgraph.cli.app import app, emit_json, err, fail, out, workspace_option
from relgraph.errors import RelgraphError

token_app = typer.Typer(
    help="API tokens for the REST service (stored hashed in the workspace).", no_args_is_help=True
)
app.add_typer(token_app, name="token")

WorkspaceOpt = workspace_option()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workspace: Path = WorkspaceOpt,
    workers: int = typer.Option(1, "--job-workers", min=1, max=64, help="Job worker threads."),
    meta: str | None = typer.Option(
        None,
        "--meta",
        help="Metadata DB URL (default: sqlite in the workspace), as for 'relgraph run'.",
    ),
) -> None:
    """Serve the REST API (docs at /docs) and the web dashboard (at /).

    Jobs started here are recorded in the workspace's metadata DB: 'relgraph jobs' lists
    them, and the dashboard shows the jobs of 'relgraph run' too.
    """
    import uvicorn

    from relgraph.service import TokenStore, create_app

    if not TokenStore(workspace).list():
        err.print(
            "[yellow]no API tokens yet:[/] create one with "
            f"'relgraph token create --role admin -w {workspace}'"
        )
    # Access logs carry paths only; tokens travel in headers and are never logged.
    try:
        application = create_app(workspace, job_workers=workers, meta=meta)
    except RelgraphError as e:
        fail(e, False)
    uvicorn.run(application, host=host, port=port, log_level="info")


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
