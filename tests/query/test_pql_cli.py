"""``relgraph query``: JSON per-split counts, --explain SQL, errors with positions."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app

QUERIES = Path(__file__).parents[2] / "examples" / "f1" / "queries.pql"
runner = CliRunner()


def test_query_json_reports_splits(f1_workspace: Path) -> None:
    res = runner.invoke(
        app,
        ["query", "PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH drivers.driverId "
         "ASSUMING COUNT(results.*, 0, 60, days) > 0", "-w", str(f1_workspace), "--json",
         "--val-cutoff", "2005-01-01", "--test-cutoff", "2010-01-01", "--explain"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["task"]["task_type"] == "regression" and out["task"]["metric"] == "mae"
    assert [out["splits"][s]["rows"] for s in ("train", "val", "test")] == [7453, 499, 760]
    assert out["splits"]["test"]["mean"] > 0
    assert "TIMESTAMP '2010-01-01 00:00:00'" in out["sql"]["train_val"]
    assert "2010-01-01" not in out["sql"]["test"]


def test_query_file_runs_every_paragraph(f1_workspace: Path) -> None:
    res = runner.invoke(
        app, ["query", "-f", str(QUERIES), "-w", str(f1_workspace), "--json",
              "--val-cutoff", "2005-01-01", "--test-cutoff", "2010-01-01"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["queries"]
    assert list(out) == ["driver-dnf", "driver-top3", "driver-position"]
    dnf = out["driver-dnf"]["splits"]
    assert (dnf["train"]["rows"], dnf["val"]["rows"], dnf["test"]["rows"]) == (11411, 566, 702)
    assert 0 < dnf["train"]["positives"] < dnf["train"]["rows"]


def test_query_human_output_and_explain(f1_workspace: Path) -> None:
    res = runner.invoke(
        app, ["query", "-f", str(QUERIES), "--name", "driver-top3", "-w", str(f1_workspace),
              "--explain"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "binary" in res.stdout and "auroc" in res.stdout
    assert "qualifying" in res.stdout and "ORDER BY" in res.stdout
    # Piped (as CliRunner is), the SQL is not wrapped at the console's 80 columns:
    # INTERVAL '30 days' stays whole and the long join lines stay on one line.
    assert "INTERVAL '30 days'" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) > 80


def test_query_error_has_position(f1_workspace: Path) -> None:
    res = runner.invoke(
        app, ["query", "PREDICT COUNT(results.* WHERE results.statusid != 1, 0, 30) > 0 "
              "FOR EACH drivers.driverId", "-w", str(f1_workspace), "--json"],
    )  # fmt: skip
    assert res.exit_code == 7
    out = json.loads(res.stdout)
    assert (out["error"], out["line"], out["col"]) == ("QueryError", 1, 31)
    assert "did you mean 'results.statusId'" in out["message"]


def test_bad_cutoffs_are_query_errors(f1_workspace: Path) -> None:
    q = "PREDICT COUNT(results.*, 0, 30) > 0 FOR EACH drivers.driverId"
    args = ["query", q, "-w", str(f1_workspace), "--json"]
    res = runner.invoke(app, [*args, "--val-cutoff", "2010-01-01", "--test-cutoff", "2005-01-01"])
    assert res.exit_code == 7 and "must be before the test cut-off" in res.stdout
    res = runner.invoke(app, [*args, "--val-cutoff", "next year"])
    assert res.exit_code == 7 and "is not a date" in res.stdout

    res = runner.invoke(app, [*args, "--val-cutoff", "2009-12-15", "--test-cutoff", "2010-01-01"])
    assert res.exit_code == 7 and "no 30 days window fits between" in res.stdout
    res = runner.invoke(app, [*args, "--val-cutoff", "2009-12-15", "--test-cutoff", "2025-12-01"])
    assert res.exit_code == 7 and "no 30 days window fits after the test cut-off" in res.stdout
    # These errors belong to no token of the query: no made-up position, no caret.
    out = json.loads(res.stdout)
    assert "line" not in out and "col" not in out and " at 1:1" not in out["message"]
    res = runner.invoke(app, [*args[:-1], "--val-cutoff", "2010-01-01", "--test-cutoff", "2005"])
    assert res.exit_code == 7 and " at 1:1" not in res.output and "^" not in res.output


def test_a_query_with_no_rows_says_so(f1_workspace: Path) -> None:
    text = (
        "PREDICT COUNT(results.*, 0, 30) > 0 FOR EACH drivers.driverId "
        "WHERE COUNT(results.*, -INF, 0) > 100000"
    )
    res = runner.invoke(app, ["query", text, "-w", str(f1_workspace), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert all(out["splits"][s]["rows"] == 0 for s in ("train", "val", "test"))
    assert out["warnings"] and "every split is empty" in out["warnings"][0]
    res = runner.invoke(app, ["query", text, "-w", str(f1_workspace)])
    assert "warning" in res.output and "every split is empty" in res.output
