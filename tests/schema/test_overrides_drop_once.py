"""A schema file named both by the source folder and by the caller applies once."""

from __future__ import annotations

import shutil
from pathlib import Path

from relgraph import api

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"


def test_folder_schema_named_again_applies_once(tmp_path: Path) -> None:
    src = tmp_path / "f1"
    shutil.copytree(F1, src)
    # examples/f1/schema.yaml drops drivers.number: a second pass would refuse
    # ("cannot drop 'number': not a column").
    res = api.read_and_infer(str(src), schema_file=src / "schema.yaml")
    assert "number" not in res.source.tables["drivers"].column_names
    assert not res.schema["drivers"].has_column("number")
