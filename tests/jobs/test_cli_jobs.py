from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app


def test_run_then_list_show_and_refuse_to_cancel_a_finished_job(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec("""
jobs:
  a: {type: python, function: "steps:emit", n: 2}
  b: {type: python, function: "steps:emit", needs: [a]}
""")
    ws = str(tmp_path / "ws")
    cli = CliRunner()
    res = cli.invoke(app, ["run", str(spec), "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    run = json.loads(res.stdout)
    assert [j["status"] for j in run["jobs"]] == ["succeeded", "succeeded"]

    listed = json.loads(cli.invoke(app, ["jobs", "-w", ws, "--json"]).stdout)["jobs"]
    assert [(j["name"], j["status"]) for j in listed] == [("a", "succeeded"), ("b", "succeeded")]

    b_id = run["jobs"][1]["id"]
    shown = json.loads(cli.invoke(app, ["jobs", "show", str(b_id), "-w", ws, "--json"]).stdout)
    assert [e["status"] for e in shown["events"]] == ["pending", "queued", "running", "succeeded"]
    assert shown["outputs"]["digest"] == run["jobs"][1]["outputs"]["digest"]
    # Without --json: a table (not JSON), the digest whole even on 80 columns.
    table = CliRunner().invoke(app, ["jobs", "show", str(b_id), "-w", ws], terminal_width=80)
    assert table.exit_code == 0, table.output
    assert not table.stdout.lstrip().startswith("{")
    assert "status" in table.stdout and "succeeded" in table.stdout
    digest = shown["outputs"]["digest"]
    assert digest in "".join(ch for ch in table.stdout if ch not in " │\n")

    cancel = cli.invoke(app, ["jobs", "cancel", str(b_id), "-w", ws, "--json"])
    assert cancel.exit_code == 10
    assert "already succeeded" in json.loads(cancel.stdout)["message"]

    missing = cli.invoke(app, ["jobs", "-w", str(tmp_path / "nope"), "--json"])
    assert missing.exit_code == 10 and "has no jobs yet" in missing.stdout
