"""``relgraph ingest``, ``relgraph schema``, ``relgraph snapshots``: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.errors import DataValidationError, SchemaError, SourceError

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def one_json(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (json.loads refuses anything more)."""
    obj = json.loads(stdout)
    assert isinstance(obj, dict)
    return obj


def test_ingest_json_is_one_object_and_idempotent(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, ws = make_shop(), tmp_path / "ws"
    res = run("ingest", str(folder), "-w", str(ws), "--json")
    assert res.exit_code == 0, res.output
    out = one_json(res.stdout)
    assert out["created"] is True
    assert out["tables"]["orders"]["rows"] == 5
    assert out["tables"]["orders"]["foreign_keys"] == {"user_id": "users", "item_id": "items"}
    assert out["tables"]["orders"]["time_column"] == "created_at"
    assert out["validation"] == {"errors": 0, "warnings": 0, "findings": []}
    again = one_json(run("ingest", str(folder), "-w", str(ws), "--json").stdout)
    assert again["snapshot_id"] == out["snapshot_id"]
    assert again["created"] is False


def test_json_stdout_of_a_real_process_is_clean(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A separate process, so Rich progress and logging are exactly as users see them.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "relgraph",
            "ingest",
            str(make_shop()),
            "-w",
            str(tmp_path / "ws"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{")
    assert one_json(proc.stdout)["tables"]["users"]["rows"] == 3


def test_human_output(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = run("ingest", str(make_shop()), "-w", str(tmp_path / "ws"))
    assert res.exit_code == 0, res.output
    assert "stored new snapshot" in res.stdout
    assert "user_id→users" in res.stdout


@pytest.mark.parametrize(
    ("files", "extra", "error", "match"),
    [
        ({"users": "user_id,name\n1,a\n2,b,c\n"}, [], SourceError, "line 3 has 3 fields"),
        ({"users": 'user_id,name\n1,"a\n2,b\n'}, [], SourceError, "unterminated quoted field"),
        (
            {"users": "user_id,name\n1,a\n1,b\n2,c\n"},
            [],
            DataValidationError,
            "primary key 'user_id' has 1 duplicated values",
        ),
        (
            {"users": "user_id,name\n1,a\n\\N,b\n2,c\n"},
            [],
            DataValidationError,
            "primary key 'user_id' is NULL in 1 rows",
        ),
        (
            {
                "orders": "order_id,user_id,created_at\n"
                + "".join(f"{i},{1 + i % 3},2024-01-{i:02d}\n" for i in range(1, 25))
                + "25,9,2024-01-25\n"
            },
            ["--strict"],
            DataValidationError,
            "'orders' column 'user_id' has 1 values with no row",
        ),
        (
            {
                "orders": "order_id,created_at\n"
                + "".join(f"{i},2024-01-{i:02d} 10:00\n" for i in range(1, 25))
                + "25,yesterday\n"
            },
            [],
            DataValidationError,
            r"time column 'created_at' has 1 unparseable timestamps \(first at row 25",
        ),
    ],
    ids=[
        "too-many-fields",
        "unterminated-quote",
        "duplicate-pk",
        "null-pk",
        "dangling-fk-strict",
        "bad-timestamp",
    ],
)
def test_bad_input_exit_codes(
    make_shop,
    tmp_path: Path,
    files: dict[str, str],
    extra: list[str],
    error: type,
    match: str,  # type: ignore[no-untyped-def]
) -> None:
    folder, ws = make_shop(**files), tmp_path / "ws"
    res = run("ingest", str(folder), "-w", str(ws), *extra)
    assert res.exit_code == error.exit_code != 0
    import re

    assert re.search(match, " ".join(res.stderr.split())), res.stderr
    res = run("ingest", str(folder), "-w", str(ws), "--json", *extra)
    assert res.exit_code == error.exit_code
    payload = one_json(res.stdout)
    assert payload["error"] == error.__name__
    assert re.search(match, payload["message"])
    # Nothing was stored.
    assert one_json(run("snapshots", "-w", str(ws), "--json").stdout) == {"snapshots": []}


def test_dangling_fk_without_strict_is_a_warning(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    orders = "order_id,user_id\n" + "".join(f"{i},{1 + i % 3}\n" for i in range(1, 25)) + "25,9\n"
    res = run("ingest", str(make_shop(orders=orders)), "-w", str(tmp_path / "ws"), "--json")
    assert res.exit_code == 0
    (finding,) = one_json(res.stdout)["validation"]["findings"]
    assert (finding["kind"], finding["count"], finding["examples"], finding["row"]) == (
        "dangling_fk",
        1,
        [9],
        25,
    )


@pytest.mark.parametrize(
    ("source", "match"),
    [("ftp://host/x", "unknown source URL scheme 'ftp://'"), ("/no/such/dir", "does not exist")],
)
def test_bad_source_exit_code(tmp_path: Path, source: str, match: str) -> None:
    res = run("ingest", source, "-w", str(tmp_path / "ws"))
    assert res.exit_code == SourceError.exit_code
    assert match in res.stderr


def test_schema_write_edit_and_apply_round_trip(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, ws, path = make_shop(), tmp_path / "ws", tmp_path / "schema.yaml"
    res = run("schema", str(folder), "--write", str(path))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    doc = yaml.safe_load(path.read_text())
    assert doc["tables"]["users"]["columns"]["name"] == "categorical"
    assert doc["tables"]["orders"]["foreign_keys"] == {"user_id": "users", "item_id": "items"}
    # Edit a type and a key.
    doc["tables"]["users"]["columns"]["name"] = "text"
    doc["tables"]["orders"]["foreign_keys"] = {"user_id": "users"}
    path.write_text(yaml.safe_dump(doc))
    res = run("ingest", str(folder), "-w", str(ws), "--schema", str(path), "--json")
    assert res.exit_code == 0, res.output
    out = one_json(res.stdout)
    assert out["tables"]["users"]["columns"]["name"] == "text"
    assert out["tables"]["orders"]["foreign_keys"] == {"user_id": "users"}
    # The file still lists item_id's type as id: what the file says, goes.
    assert out["tables"]["orders"]["columns"]["item_id"] == "id"
    # Written back from the snapshot, the file is the same again.
    again = tmp_path / "again.yaml"
    assert run("schema", "-w", str(ws), "--write", str(again)).exit_code == 0
    assert yaml.safe_load(again.read_text()) == doc


def test_schema_json_from_a_snapshot(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    run("ingest", str(make_shop()), "-w", str(ws))
    out = one_json(run("schema", "-w", str(ws), "--json").stdout)
    assert set(out["links"]) == {
        "orders.user_id -> users.user_id",
        "orders.item_id -> items.item_id",
    }


def test_bad_schema_file_exit_code(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text("tables:\n  users:\n    columns: {name: colour}\n")
    res = run("ingest", str(make_shop()), "-w", str(tmp_path / "ws"), "--schema", str(path))
    assert res.exit_code == SchemaError.exit_code
    assert "unknown type 'colour'" in res.stderr


def test_snapshots_json_lists_lineage(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, ws = make_shop(), tmp_path / "ws"
    first = one_json(run("ingest", str(folder), "-w", str(ws), "--json").stdout)["snapshot_id"]
    (folder / "items.csv").write_text("item_id,title,price\n1,Pen,1\n2,Ink,2\n3,Pad,3\n")
    second = one_json(run("ingest", str(folder), "-w", str(ws), "--json").stdout)["snapshot_id"]
    snaps = one_json(run("snapshots", "-w", str(ws), "--json").stdout)["snapshots"]
    assert [(s["snapshot_id"], s["parent"]) for s in snaps] == [(first, None), (second, first)]
    assert run("snapshots", "-w", str(ws)).exit_code == 0
