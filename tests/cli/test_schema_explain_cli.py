"""``relgraph schema --explain`` / ``--check`` on corpus databases."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.testing.corpus_sources import CORPUS


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_explain_gives_rule_and_confidence_per_choice() -> None:
    res = run("schema", str(CORPUS / "gitlog"), "--explain")
    assert res.exit_code == 0, res.output
    for word in ("containment", "Unix epoch", "inherits", "unique_key"):
        assert word in res.output, word


def test_check_lists_the_doubtful_choices_and_exits_1() -> None:
    res = run("schema", str(CORPUS / "gitlog"), "--check", "--json")
    assert res.exit_code == 1
    doubtful = json.loads(res.stdout)["doubtful"]
    assert {"table": "commits", "subject": "link:author_id"}.items() <= next(
        d for d in doubtful if d["subject"] == "link:author_id"
    ).items()
    # Declared keys of a SQLite database are not doubted.
    res = run("schema", str(CORPUS / "pokedex" / "pokedex.sqlite"), "--check")
    assert res.exit_code == 0, res.output


def test_schema_says_when_ingest_would_refuse_the_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("tables:\n  People: {primary_key: birthCountry}\n")
    res = run("schema", str(CORPUS / "lahman"), "--schema", str(path))
    assert res.exit_code == 0
    assert "duplicated values" in res.output and "ingest would refuse" in res.output
    res = run("schema", str(CORPUS / "lahman"), "--schema", str(path), "--json")
    assert json.loads(res.stdout)["validation"]["errors"] >= 1
