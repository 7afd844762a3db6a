"""Snapshots share unchanged table files, take names, and say what changed (F1 data)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app
from relgraph.errors import StoreError


def _keep_rows(path: Path, keep) -> set[str]:  # type: ignore[no-untyped-def]
    """Keep the CSV lines whose parsed row passes ``keep`` (F1's rows are ragged: text only)."""
    lines = path.read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    kept = [
        line
        for line in lines[1:]
        if keep(dict(zip(header, next(csv.reader([line])), strict=False)))
    ]
    path.write_text(lines[0] + "".join(kept))
    return {next(csv.reader([line]))[0] for line in kept}


def _grown_f1(f1_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """F1 cut before 2015 (the past) and the full data with one driver renamed (today)."""
    past, today = tmp_path / "past", tmp_path / "today"
    shutil.copytree(f1_dir, past)
    shutil.copytree(f1_dir, today)
    old_races = _keep_rows(past / "races.csv", lambda r: int(r["year"]) < 2015)
    _keep_rows(past / "results.csv", lambda r: r["raceId"] in old_races)
    drivers = (today / "drivers.csv").read_text().replace('"Lewis","Hamilton"', '"Lewis","Ham."')
    (today / "drivers.csv").write_text(drivers)
    return past, today


@pytest.fixture(scope="module")
def two_snapshots(f1_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("share")
    past, today = _grown_f1(f1_dir, tmp)
    ws = tmp / "ws"
    a = api.ingest(str(past), workspace=ws).snapshot
    b = api.ingest(str(today), workspace=ws).snapshot
    return ws, a, b


def test_unchanged_tables_are_stored_once(two_snapshots) -> None:  # type: ignore[no-untyped-def]
    _ws, a, b = two_snapshots
    shared = [n for n in a.table_names if a.manifest.table_hashes[n] == b.manifest.table_hashes[n]]
    assert "circuits" in shared and "results" not in shared and "drivers" not in shared
    for name in a.table_names:
        same_file = a.table_path(name).stat().st_ino == b.table_path(name).stat().st_ino
        assert same_file == (name in shared), name
        assert b.table_path(name).stat().st_mode & 0o777 == 0o400  # shared: read-only
    # Each snapshot still reads as a whole folder of its own.
    assert b.read_table("circuits").num_rows == a.read_table("circuits").num_rows


def test_tags_name_snapshots(two_snapshots) -> None:  # type: ignore[no-untyped-def]
    ws, a, _b = two_snapshots
    api.tag_snapshot(a.id[:8], "before-2015", workspace=ws)
    assert api.snapshot("before-2015", workspace=ws).id == a.id
    assert api.snapshot_tags(ws) == {"before-2015": a.id}
    for bad in ("abc123", "../x", "a/b", "", ".hidden"):
        with pytest.raises(StoreError, match="invalid tag"):
            api.tag_snapshot(a.id, bad, workspace=ws)
    with pytest.raises(StoreError, match="no snapshot"):
        api.snapshot("../../etc", workspace=ws)
    api.untag_snapshot("before-2015", workspace=ws)
    with pytest.raises(StoreError, match="no snapshot 'before-2015'"):
        api.snapshot("before-2015", workspace=ws)


def test_diff_counts_rows_by_key(two_snapshots) -> None:  # type: ignore[no-untyped-def]
    ws, a, b = two_snapshots
    d = {t.name: t for t in api.diff_snapshots(a.id, b.id, workspace=ws).tables}
    assert d["circuits"].status == "unchanged"
    races = d["races"]
    assert races.status == "changed" and races.rows_removed == 0 and races.rows_changed == 0
    assert races.rows_added == races.rows_after - races.rows_before > 0
    assert (d["drivers"].rows_added, d["drivers"].rows_removed, d["drivers"].rows_changed) == (
        0,
        0,
        1,
    )
    # The other way round, the future is removed.
    back = {t.name: t for t in api.diff_snapshots(b.id, a.id, workspace=ws).tables}
    assert back["races"].rows_removed == races.rows_added


def test_diff_cli_json_and_schema_changes(two_snapshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, a, b = two_snapshots
    res = CliRunner().invoke(app, ["diff", a.id[:10], "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["after"] == b.id and out["changed"] is True
    # A schema file that drops a column and a link: the diff says so in words.
    src = tmp_path / "s.yaml"
    src.write_text("tables:\n  drivers: {drop: [url]}\n")
    c = api.ingest(str(b.manifest.source), workspace=ws, schema_file=src).snapshot
    d = {t.name: t for t in api.diff_snapshots(b.id, c.id, workspace=ws).tables}
    assert "column 'url' removed" in d["drivers"].schema_changes
    res = CliRunner().invoke(app, ["diff", c.id, c.id, "-w", str(ws)])
    assert res.exit_code == 0 and "no changes" in res.stdout
