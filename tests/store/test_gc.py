"""relgraph gc: a dry run by default; never deletes what a snapshot, tag or model references."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app
from relgraph.testing.growing import GrowingDatabase

DB = GrowingDatabase(users=200, orders=800, rate=0.05, days=4)


def _workspace(tmp_path: Path, days: int = DB.days) -> tuple[Path, list[str]]:
    src, ws = tmp_path / "src", tmp_path / "ws"
    ids = []
    for day in range(days + 1):
        DB.write(src, day)
        ids.append(api.ingest(str(src), workspace=ws).snapshot.id)
    return ws, ids


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_gc_dry_run_deletes_nothing_then_delete_keeps_every_reference(tmp_path: Path) -> None:
    ws, ids = _workspace(tmp_path)
    api.tag_snapshot(ids[1], "gold", workspace=ws)
    model = ws / "models" / "m1"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps({"snapshot_id": ids[2]}))
    # A killed writer's leftover (pid 999999 is not running), a stray file, an orphan cache.
    (ws / "snapshots" / ".tmp-abc-999999-deadbeef").mkdir()
    stray = ws / "snapshots" / ids[4] / "tables" / "junk.parquet"
    stray.write_bytes(b"x" * 1000)
    (ws / "cache" / "0123456789abcdef" / "graph").mkdir(parents=True)
    before = _files(ws)

    r = CliRunner().invoke(app, ["gc", "--keep-last", "1", "--workspace", str(ws), "--json"])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["deleted"] is False
    assert _files(ws) == before  # a dry run touches nothing
    # Kept: the newest (also latest), the tagged one, the model's; deleted: days 0 and 3.
    assert sorted(plan["snapshots"]) == sorted([ids[0], ids[3]])
    assert plan["kept"][ids[1]] == "tag gold" and plan["kept"][ids[2]].startswith("model")
    assert plan["stray_files"] == [str(stray)]
    assert len(plan["stale"]) == 1 and len(plan["orphan_caches"]) == 1

    # Day 3's own delta files are freed; its shared base/deltas (linked by day 4) are not.
    day3, day4 = api.snapshot(ids[3], workspace=ws), api.snapshot(ids[4], workspace=ws)
    own = {p.stat().st_ino for p in day3.all_table_files()} - {
        p.stat().st_ino for p in day4.all_table_files()
    }
    assert own == set()  # every file of day 3 is also in day 4 (base + older deltas)
    expected_reads = {n: day4.read_table(n) for n in day4.table_names}

    r = CliRunner().invoke(app, ["gc", "--keep-last", "1", "--delete", "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    assert "freed" in r.output
    left = {s.id for s in api.snapshots(ws)}
    assert left == {ids[1], ids[2], ids[4]}
    assert not stray.exists()
    assert not list((ws / "snapshots").glob(".tmp-*"))
    assert not (ws / "cache" / "0123456789abcdef").exists()
    # The kept snapshots read exactly as before (their shared files survived).
    day4 = api.snapshot(ids[4], workspace=ws)
    for n, t in expected_reads.items():
        assert day4.read_table(n).equals(t)
    assert api.snapshot("gold", workspace=ws).read_table("orders").num_rows > 0
    # Running again finds nothing.
    again = api.collect_garbage(workspace=ws, keep_last=1)
    assert again["snapshots"] == [] and again["stray_files"] == [] and again["bytes_freed"] == 0


def test_gc_without_keep_last_deletes_no_snapshot(tmp_path: Path) -> None:
    ws, ids = _workspace(tmp_path, days=1)
    r = api.collect_garbage(workspace=ws, delete=True)
    assert r["snapshots"] == [] and {s.id for s in api.snapshots(ws)} == set(ids)
    bad = CliRunner().invoke(app, ["gc", "--keep-last", "0", "--workspace", str(ws)])
    assert bad.exit_code != 0 and "at least 1" in bad.output
