"""``relgraph token create|list|revoke`` and ``relgraph serve --help``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.service import Role, TokenStore

runner = CliRunner()


def test_token_create_list_revoke(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["token", "create", "--role", "viewer", "--name", "nb", "-w", str(tmp_path), "--json"]
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    info = TokenStore(tmp_path).verify(made["token"])
    assert info is not None and info.role is Role.viewer and info.name == "nb"
    listed = json.loads(runner.invoke(app, ["token", "list", "-w", str(tmp_path), "--json"]).stdout)
    assert [t["id"] for t in listed] == [made["id"]] and "token" not in listed[0]
    assert runner.invoke(app, ["token", "revoke", made["id"], "-w", str(tmp_path)]).exit_code == 0
    assert TokenStore(tmp_path).verify(made["token"]) is None
    assert runner.invoke(app, ["token", "revoke", made["id"], "-w", str(tmp_path)]).exit_code == 1


def test_token_create_refuses_unknown_role(tmp_path: Path) -> None:
    r = runner.invoke(app, ["token", "create", "--role", "owner", "-w", str(tmp_path)])
    assert r.exit_code != 0 and "unknown role 'owner'" in r.output


def test_serve_help() -> None:
    r = runner.invoke(app, ["serve", "--help"])
    assert r.exit_code == 0
    for flag in ("--host", "--port", "--workspace"):
        assert flag in r.output
