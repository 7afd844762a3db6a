"""Nothing a source says chooses a path; snapshots never change once written.

A table named ``../../<id>/tables/drivers`` used to overwrite another snapshot's
file, and ``../../../../x`` wrote next to the workspace. Now every table file is
named by :func:`relgraph.store.paths.table_file` and listed in the manifest, and
the files of every snapshot hash the same before and after anything else runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relgraph import api
from relgraph.errors import StoreError
from relgraph.store.paths import is_plain_table_file, table_file, table_stem
from relgraph.store.snapshot import MANIFEST, Snapshot
from relgraph.store.workspace import Workspace
from tests.security.conftest import ACCEPTED_TABLE_NAMES, listing, make_sqlite, tree_hashes

TRAVERSALS = (
    "../escaped_by_table_name",
    "../../../../escaped_by_table_name",  # tables/ -> staging dir -> snapshots -> ws -> out
    "/tmp/absolute_table_name",
    "..",
    ".",
    "sub/dir/name",
    "back\\slash",
)


def test_a_source_cannot_write_outside_its_snapshot_nor_overwrite_another(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = api.ingest(
        f"sqlite:///{make_sqlite(tmp_path / 'a.db', ['events'])}", workspace=ws
    ).snapshot
    victim = first.table_path("users")
    # The name that reached the first snapshot's users file under the old layout
    # (tables/<name>.parquet), built from where that file is now.
    attack = f"../../{first.id}/tables/{victim.stem}"
    db = make_sqlite(tmp_path / "b.db", [attack, *TRAVERSALS])
    before_snapshot = tree_hashes(first.path)
    before_outside = listing(tmp_path, skip=ws)
    before_tmp = {p.name for p in Path("/tmp").glob("absolute_table_name*")}

    second = api.ingest(f"sqlite:///{db}", workspace=ws).snapshot

    assert second.id != first.id
    assert tree_hashes(first.path) == before_snapshot  # not one byte of it changed
    assert listing(tmp_path, skip=ws) == before_outside  # nothing beside the workspace
    assert {p.name for p in Path("/tmp").glob("absolute_table_name*")} == before_tmp
    # Every file of the new snapshot lies directly in its tables/ folder, as listed.
    files = {str(p.relative_to(second.path)) for p in second.path.rglob("*") if p.is_file()}
    listed = {f"tables/{f}" for f in second.manifest.table_files.values()}
    assert files == listed | {MANIFEST}
    for name in (attack, *TRAVERSALS):
        assert second.table_path(name).parent == second.path / "tables"
        assert second.read_table(name).num_rows == 12  # and reads back as itself
    snapshots_dir = ws / "snapshots"
    assert {p.name for p in snapshots_dir.iterdir()} == {first.id, second.id}


@pytest.mark.parametrize("name", [*TRAVERSALS, *ACCEPTED_TABLE_NAMES, "Users", "users"])
def test_table_file_names_are_one_plain_component(name: str) -> None:
    f = table_file(name)
    assert is_plain_table_file(f)
    assert "/" not in f and "\\" not in f and not f.startswith(".")
    assert len(f) <= 40 + 1 + 16 + len(".parquet")


def test_names_differing_only_in_case_or_look_alikes_get_different_files() -> None:
    stems = {table_stem(n) for n in ("users", "Users", "USERS", "usеrs", "users ")}
    assert len(stems) == 5


def test_work_on_a_snapshot_changes_none_of_its_files(tmp_path: Path) -> None:
    """Labels, baseline features and the graph read a snapshot, never write it."""
    from relgraph.graph.build import build_graph
    from relgraph.query.ast import quote_name
    from relgraph.train.baseline import compute_features

    ws = tmp_path / "ws"
    name = ACCEPTED_TABLE_NAMES[0]
    snap = api.ingest(
        f"sqlite:///{make_sqlite(tmp_path / 'h.db', [name, 'events'])}", workspace=ws
    ).snapshot
    before = tree_hashes(snap.path)
    pql = f"PREDICT COUNT({quote_name(name)}.*, 0, 30, days) > 0 FOR EACH users.id"
    tables = api.training_tables(pql, workspace=ws)
    assert len(tables.train) > 0
    assert compute_features(snap, tables.task, tables.train.table).num_rows == len(tables.train)
    build_graph(snap)
    again = api.ingest(f"sqlite:///{tmp_path / 'h.db'}", workspace=ws)
    assert again.created is False and again.snapshot.id == snap.id
    assert tree_hashes(snap.path) == before


# -- manifests ------------------------------------------------------------------------
def _as_format_1(snap: Snapshot) -> None:
    """Rewrite a snapshot folder into the layout format 1 wrote: tables/<name>.parquet."""
    m = json.loads((snap.path / MANIFEST).read_text())
    for name, f in m.pop("table_files").items():
        (snap.path / "tables" / f).rename(snap.path / "tables" / f"{name}.parquet")
    m["format_version"] = 1
    (snap.path / MANIFEST).write_text(json.dumps(m, indent=2))


def test_format_1_snapshots_still_load_and_query(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    db = make_sqlite(tmp_path / "h.db", ["events", 'ord"ers'])
    snap = api.ingest(f"sqlite:///{db}", workspace=ws).snapshot
    _as_format_1(snap)
    old = Workspace(ws).snapshot(snap.id)
    assert old.manifest.format_version == 1 and old.manifest.table_files == {}
    assert old.table_path("events") == old.path / "tables" / "events.parquet"
    assert old.read_table('ord"ers').num_rows == 12
    assert old.duckdb().execute('SELECT count(*) FROM "ord""ers"').fetchone() == (12,)
    pql = "PREDICT COUNT(events.*, 0, 30, days) FOR EACH users.id"
    assert len(api.training_tables(pql, workspace=ws).train) > 0
    # Identical data ingested again is the stored (old-layout) snapshot: same id.
    again = api.ingest(f"sqlite:///{tmp_path / 'h.db'}", workspace=ws)
    assert again.created is False and again.snapshot.id == snap.id


def test_format_1_snapshot_with_an_unsafe_name_is_refused_not_followed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    name = "../../outside"
    snap = api.ingest(f"sqlite:///{make_sqlite(tmp_path / 'h.db', [name])}", workspace=ws).snapshot
    _as_format_1(snap)
    old = Snapshot(snap.path)
    with pytest.raises(StoreError, match=r"older relgraph.*ingest the source again"):
        old.table_path(name)
    assert old.read_table("users").num_rows == 3  # the safe names still read


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("table_files", {"users": "../../../etc/passwd"}, "not a plain file name"),
        ("table_files", {"users": "/etc/passwd.parquet"}, "not a plain file name"),
        ("id", "../../elsewhere", "not a snapshot id"),
    ],
)
def test_tampered_manifests_are_refused(
    tmp_path: Path, field: str, value: object, match: str
) -> None:
    ws = tmp_path / "ws"
    snap = api.ingest(
        f"sqlite:///{make_sqlite(tmp_path / 'h.db', ['events'])}", workspace=ws
    ).snapshot
    copy = tmp_path / "copy"
    shutil.copytree(snap.path, copy)
    m = json.loads((copy / MANIFEST).read_text())
    m[field] = value
    (copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(StoreError, match=match):
        Snapshot(copy)
