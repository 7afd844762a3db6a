"""Listings print one shape with --json: {"<things>": [{"id": ..., ...}]}."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app


def test_snapshots_models_and_jobs_list_in_one_shape(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "items.csv").write_text("item_id,price\n1,2.5\n2,3.0\n")
    ws = str(tmp_path / "ws")
    cli = CliRunner()
    assert cli.invoke(app, ["ingest", str(src), "-w", ws, "--json"]).exit_code == 0
    snaps = json.loads(cli.invoke(app, ["snapshots", "-w", ws, "--json"]).stdout)
    models = json.loads(cli.invoke(app, ["models", "-w", ws, "--json"]).stdout)
    assert list(snaps) == ["snapshots"] and list(models) == ["models"]
    (snap,) = snaps["snapshots"]
    assert snap["id"] == snap["snapshot_id"] and len(snap["id"]) >= 8
    assert models["models"] == []
