"""Delta snapshots: a grown table is stored as its previous version plus the new rows."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import duckdb
import pyarrow.parquet as pq
import pytest

from relgraph import api
from relgraph.service import pages
from relgraph.store.snapshot import Snapshot
from relgraph.testing.growing import GrowingDatabase

DB = GrowingDatabase(users=400, orders=2000, rate=0.05, days=3)


def _ingest(folder: Path, ws: Path) -> Snapshot:
    return api.ingest(str(folder), workspace=ws).snapshot


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Snapshot]]:
    tmp = tmp_path_factory.mktemp("delta")
    src, ws = tmp / "src", tmp / "ws"
    snaps = []
    for day in range(DB.days + 1):
        DB.write(src, day)
        snaps.append(_ingest(src, ws))
    return tmp, snaps


def test_grown_tables_are_stored_as_deltas_sharing_the_base(grown) -> None:  # type: ignore[no-untyped-def]
    _tmp, snaps = grown
    first, last = snaps[0], snaps[-1]
    assert first.manifest.storage == {"users": "full", "items": "full", "orders": "full"}
    assert last.manifest.storage == {"users": "delta", "items": "shared", "orders": "delta"}
    assert last.manifest.notes == []
    paths = last.table_paths("orders")
    assert len(paths) == DB.days + 1  # base + one delta a day
    # The base and every older delta are the files stored before (hard links), read-only.
    for older, path in zip(snaps[:-1], paths, strict=False):
        assert path.stat().st_ino == older.table_paths("orders")[-1].stat().st_ino
        assert path.stat().st_mode & 0o777 == 0o400
    delta = pq.read_table(paths[-1])
    assert delta.num_rows == DB.count(DB.orders, DB.days) - DB.count(DB.orders, DB.days - 1)
    with pytest.raises(Exception, match="base and deltas"):
        last.table_path("orders")  # one file would be half the table


def test_delta_snapshot_equals_a_full_reingest(grown) -> None:  # type: ignore[no-untyped-def]
    tmp, snaps = grown
    last = snaps[-1]
    full = _ingest(tmp / "src", tmp / "fresh-ws")  # the last day, ingested from scratch
    assert full.manifest.storage["orders"] == "full" and len(full.table_paths("orders")) == 1
    assert full.id == last.id  # same content, same id
    for name in full.table_names:
        assert last.read_table(name).equals(full.read_table(name)), name
        assert last.manifest.row_counts[name] == full.manifest.row_counts[name]
    sql = (
        "SELECT count(*), sum(quantity), max(ordered_at), count(DISTINCT user_id) FROM orders "
        "JOIN users USING (user_id)"
    )
    assert last.duckdb().execute(sql).fetchall() == full.duckdb().execute(sql).fetchall()
    # Row order too: row i of the view is row i of the table.
    ids = last.duckdb().execute("SELECT order_id FROM orders").fetchnumpy()["order_id"]
    assert (ids == full.read_table("orders").column("order_id").to_numpy()).all()


def test_duckdb_of_a_delta_snapshot_reaches_only_its_own_files(grown) -> None:  # type: ignore[no-untyped-def]
    tmp, snaps = grown
    con = snaps[-1].duckdb()
    other = snaps[-1].path.parent.parent / "refs" / "latest"
    assert other.is_file()
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT * FROM read_csv('{other}')").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT * FROM read_parquet('{tmp / 'src' / 'orders.parquet'}')").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


def test_diff_and_row_pages_read_every_part(grown) -> None:  # type: ignore[no-untyped-def]
    _tmp, snaps = grown
    first, last = snaps[0], snaps[-1]
    d = api.diff_snapshots(first.id, last.id, workspace=last.path.parent.parent)
    orders = next(t for t in d.tables if t.name == "orders")
    grown_rows = last.manifest.row_counts["orders"] - first.manifest.row_counts["orders"]
    assert (orders.rows_added, orders.rows_removed, orders.rows_changed) == (grown_rows, 0, 0)
    # A page that spans the base and the first delta, as the REST rows endpoint serves it.
    paths = last.table_paths("orders")
    n0 = first.manifest.row_counts["orders"]
    body, total = anyio.run(pages.page_json_parts_async, paths, 10, n0 - 5)
    assert total == last.manifest.row_counts["orders"]
    rows = json.loads(body)
    assert [r["order_id"] for r in rows] == list(range(n0 - 5, n0 + 5))


def test_changed_row_is_never_appended(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    _ingest(src, ws)
    DB.write(src, 1)
    # Day 1, but one old order's quantity was edited in place.
    orders = pq.read_table(src / "orders.parquet").to_pandas()
    orders.loc[7, "quantity"] = 99
    orders.to_parquet(src / "orders.parquet", index=False)
    snap = _ingest(src, ws)
    assert snap.manifest.storage["orders"] == "full"
    assert snap.manifest.storage["users"] == "delta"
    (note,) = snap.manifest.notes
    assert "'orders'" in note and "order_id = 7" in note and "stored in full" in note
    assert snap.read_table("orders").column("quantity")[7].as_py() == 99


def test_removed_rows_and_schema_change_give_full_copies(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    _ingest(src, ws)
    DB.write(src, 1)
    users = pq.read_table(src / "users.parquet")
    pq.write_table(users.append_column("vip", users.column("age")), src / "users.parquet")
    (src / "schema.yaml").write_text(
        (src / "schema.yaml")
        .read_text()
        .replace("age: numerical,", "age: numerical, vip: numerical,")
    )
    snap = _ingest(src, ws)
    assert set(snap.manifest.storage.values()) <= {"full", "shared"}
    (note,) = snap.manifest.notes
    assert "schema changed" in note and "column 'vip' added" in note
    assert not any(snap.is_delta(n) for n in snap.table_names)


def test_cli_ingest_prints_the_note(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relgraph.cli import app

    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    _ingest(src, ws)
    DB.write(src, 1)
    pq.write_table(pq.read_table(src / "orders.parquet").slice(1), src / "orders.parquet")
    r = CliRunner().invoke(app, ["ingest", str(src), "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    assert "note:" in r.output and "removed" in r.output
    assert "stored as deltas" in r.output and "users" in r.output
