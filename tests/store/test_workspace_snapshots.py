"""Content-addressed snapshots: idempotent ingest, lineage, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from relgraph import api
from relgraph.errors import StoreError
from relgraph.schema.infer import infer_schema
from relgraph.store import atomic
from relgraph.store.workspace import Workspace, table_bytes

REPO = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its modification time (ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_same_folder_twice_gives_same_id_and_writes_nothing(
    make_shop,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = make_shop()
    ws = tmp_path / "ws"
    first = api.ingest(str(folder), workspace=ws)
    assert first.created
    before = tree(ws)
    second = api.ingest(str(folder), workspace=ws)
    assert second.snapshot.id == first.snapshot.id
    assert not second.created
    assert tree(ws) == before
    assert len(api.snapshots(ws)) == 1


def test_changed_file_gives_child_snapshot(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop()
    ws = tmp_path / "ws"
    old = api.ingest(str(folder), workspace=ws).snapshot
    with (folder / "users.csv").open("a") as f:
        f.write("4,Dee,2024-03-01\n")
    new = api.ingest(str(folder), workspace=ws).snapshot
    assert new.id != old.id
    assert new.manifest.parent == old.id
    assert old.manifest.parent is None
    assert new.manifest.row_counts["users"] == 4
    # Only the changed table's bytes differ.
    changed = {
        n
        for n in new.manifest.table_hashes
        if new.manifest.table_hashes[n] != old.manifest.table_hashes[n]
    }
    assert changed == {"users"}
    # The old snapshot is untouched and still readable; the latest is the new one.
    assert Workspace(ws).snapshot(old.id).read_table("users").num_rows == 3
    assert Workspace(ws).snapshot().id == new.id
    assert [s.id for s in api.snapshots(ws)] == [old.id, new.id]


def test_snapshot_lookup_and_reading(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(
        StoreError, match="has no snapshots yet; run 'relgraph ingest SOURCE' first"
    ):
        ws.snapshot()
    snap = api.ingest(str(make_shop()), workspace=ws.root).snapshot
    assert ws.snapshot(snap.id[:6]).id == snap.id
    with pytest.raises(StoreError, match="no snapshot 'ffffzz'"):
        ws.snapshot("ffffzz")
    with pytest.raises(StoreError, match="has no table 'nope'; tables: items, orders, users"):
        snap.read_table("nope")
    con = snap.duckdb()
    assert con.execute("SELECT count(*) FROM orders").fetchall() == [(5,)]
    # Every time column is stored as TIMESTAMP, whatever its source type (text, DATE).
    assert snap.read_table("orders").schema.field("created_at").type == pa.timestamp("us")
    assert snap.read_table("users").schema.field("signup_date").type == pa.timestamp("us")
    assert snap.schema["users"].column("signup_date").dtype == "timestamp[us]"
    assert repr(snap) == f"Snapshot(id={snap.id[:12]!r}, tables=3)"


def test_table_bytes_are_deterministic() -> None:
    t = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    assert table_bytes(t) == table_bytes(pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]}))
    assert table_bytes(t) != table_bytes(t.slice(0, 2))


def test_failure_inside_staged_dir_leaves_no_snapshot(
    make_shop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import relgraph.store.workspace as wsmod

    def boom(folder: Path) -> None:
        raise KeyboardInterrupt  # the user pressed Ctrl-C half-way

    monkeypatch.setattr(wsmod, "_fsync_tree", boom)
    ws = tmp_path / "ws"
    with pytest.raises(KeyboardInterrupt):
        api.ingest(str(make_shop()), workspace=ws)
    assert list((ws / "snapshots").iterdir()) == []
    assert not (ws / "refs" / "latest").exists()
    assert api.snapshots(ws) == []


def test_killed_writer_leaves_only_a_stale_temp_that_is_cleaned(
    make_shop,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = make_shop()
    ws = tmp_path / "ws"
    # A real process dies (no cleanup handlers run) while its tables are staged.
    script = textwrap.dedent(
        f"""
        import os
        import relgraph.store.workspace as wsmod
        from relgraph import api
        wsmod._fsync_tree = lambda folder: os._exit(9)
        api.ingest({str(folder)!r}, workspace={str(ws)!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    leftovers = list((ws / "snapshots").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")
    # Readers never see it...
    assert api.snapshots(ws) == []
    with pytest.raises(StoreError, match="has no snapshots yet"):
        api.snapshot(workspace=ws)
    # ...and the next writer removes it, then writes the snapshot whole.
    snap = api.ingest(str(folder), workspace=ws).snapshot
    assert [p.name for p in (ws / "snapshots").iterdir()] == [snap.id]


def test_clean_stale_spares_a_live_writer(tmp_path: Path) -> None:
    final = tmp_path / "snap"
    with atomic.staged_dir(final) as tmp:
        (tmp / "x").write_text("partial")
        atomic.clean_stale(tmp_path)  # e.g. a second ingest starting meanwhile
        assert (tmp / "x").is_file()
    assert (final / "x").read_text() == "partial"
    dead = tmp_path / ".tmp-abc-999999999-deadbeef"
    dead.mkdir()
    atomic.clean_stale(tmp_path)
    assert not dead.exists()


def test_schema_is_part_of_the_id(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop()
    ws = Workspace(tmp_path / "ws")
    from relgraph.sources import FileSource

    src = FileSource(folder).read()
    schema = infer_schema(src.tables)
    a = ws.write_snapshot(src.tables, schema, source="x").snapshot
    edited = schema.with_table(schema["users"].replace(primary_key=None))
    b = ws.write_snapshot(src.tables, edited, source="x").snapshot
    assert a.id != b.id
    assert b.manifest.parent == a.id
    assert b.manifest.table_hashes == a.manifest.table_hashes
