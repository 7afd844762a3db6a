"""``relgraph labels`` end to end through Typer's runner on a real workspace."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph.cli import app
from relgraph.testing.shop import shop_snapshot


def test_cli_creates_labels_refuses_bad_ones_and_exports(tmp_path: Path) -> None:
    shop_snapshot(tmp_path)
    r = CliRunner()

    def run(*args: str) -> tuple[int, dict]:
        res = r.invoke(app, ["labels", *args, "-w", str(tmp_path)])
        return res.exit_code, json.loads(res.stdout)

    assert run("create", "tier", "--table", "users", "--classes", "gold,basic")[0] == 0
    assert run("stage", "tier", "first", "--labelers", "ann")[0] == 0
    assert run("add", "tier", "first", "1", "2", "77")[1]["unknown"] == ["77"]
    code, out = run("label", "tier", "first", "1", "platinum", "--as", "ann")
    assert code == 13 and "'platinum' is not a class" in out["message"]
    assert run("label", "tier", "first", "1", "gold", "--as", "ann")[1]["done"] is True
    code, out = run("label", "tier", "first", "1", "basic", "--as", "bob")
    assert out["error"] == "LabelConflict"
    code, page = run("queue", "tier", "first", "--limit", "1")
    assert code == 0 and [i["key"] for i in page["items"]] == ["1"] and page["total"] == 2
    code, page = run("queue", "tier", "first", "--after", page["next"])
    assert [i["key"] for i in page["items"]] == ["2"] and page["next"] is None
    code, man = run("export", "tier", "v1")
    assert code == 0 and man["rows"] == 1
