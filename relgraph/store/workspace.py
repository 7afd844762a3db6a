"""A workspace folder: ``snapshots/``, ``cache/``, ``models/``, ``outputs/``, ``meta.db``."""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import StoreError
from relgraph.schema.types import Schema
from relgraph.store import atomic, delta
from relgraph.store.paths import table_file, table_stem
from relgraph.store.snapshot import MANIFEST, Manifest, Snapshot, TablePart

DEFAULT_WORKSPACE = Path(".relgraph")
ID_LENGTH = 16
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A snapshot id or a prefix of one: hex digits only (never a path).
_HEX = re.compile(r"^[0-9a-f]{1,64}$")


def table_bytes(table: pa.Table) -> bytes:
    """Serialise a table to Parquet bytes, deterministically (same data -> same bytes).

    zstd gives the smallest files at close to the speed of snappy/lz4.
    Dictionary encoding only for text-like columns: for numbers and times it
    costs more time than it saves space (measured in benchmarks/ingest.py).
    """
    dictionary = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_boolean(f.type)
        or pa.types.is_dictionary(f.type)
    ]
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd", use_dictionary=dictionary, write_statistics=True
    )
    return bytes(sink.getvalue())


def _encode(table: pa.Table) -> tuple[bytes, str]:
    blob = table_bytes(table)
    return blob, hashlib.sha256(blob).hexdigest()


def content_id(schema: Schema, table_hashes: dict[str, str]) -> str:
    """A snapshot's id: the hash of its schema and of each table's bytes."""
    payload = json.dumps(
        {"schema": schema.to_dict(), "tables": dict(sorted(table_hashes.items()))},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:ID_LENGTH]


@dataclass(frozen=True)
class WriteResult:
    snapshot: Snapshot
    created: bool  # False when identical content was already stored


class Workspace:
    """All of relgraph's state for one project lives under ``root``."""

    def __init__(self, root: str | Path = DEFAULT_WORKSPACE) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    def ensure(self) -> Workspace:
        d = self.root
        try:
            atomic.private_dir(d)
            for d in (self.snapshots_dir, self.models_dir, self.outputs_dir, self.root / "refs"):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # e.g. a workspace path that is a file (/dev/null)
            raise StoreError(
                f"cannot use '{self.root}' as a workspace: {e.strerror} ('{d}'); "
                "give a folder (it is made if missing)"
            ) from e
        atomic.clean_stale(self.snapshots_dir)
        return self

    # -- reading ---------------------------------------------------------------
    def snapshots(self) -> list[Snapshot]:
        """All stored snapshots, oldest first."""
        if not self.snapshots_dir.is_dir():
            return []
        snaps = [
            Snapshot(p)
            for p in self.snapshots_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
        ]
        return sorted(snaps, key=lambda s: (s.manifest.created, s.id))

    def latest_id(self) -> str | None:
        ref = self.root / "refs" / "latest"
        if ref.is_file():
            return ref.read_text().strip() or None
        snaps = self.snapshots()
        return snaps[-1].id if snaps else None

    def snapshot(self, snapshot_id: str | None = None) -> Snapshot:
        """A snapshot by id (or unique id prefix); the latest when ``None``."""
        if snapshot_id is None:
            latest = self.latest_id()
            if latest is None:
                raise StoreError(
                    f"workspace '{self.root}' has no snapshots yet; "
                    "run 'relgraph ingest SOURCE' first"
                )
            snapshot_id = latest
        if TAG_RE.match(snapshot_id) and (self.tags_dir / snapshot_id).is_file():
            snapshot_id = (self.tags_dir / snapshot_id).read_text().strip()
        exact = self.snapshots_dir / snapshot_id
        if _HEX.match(snapshot_id) and (exact / MANIFEST).is_file():
            return Snapshot(exact)
        matches = [s for s in self.snapshots() if s.id.startswith(snapshot_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StoreError(f"no snapshot '{snapshot_id}' in workspace '{self.root}'")
        raise StoreError(f"snapshot id prefix '{snapshot_id}' is ambiguous")

    # -- writing ---------------------------------------------------------------
    def write_snapshot(
        self,
        tables: dict[str, pa.Table],
        schema: Schema,
        *,
        source: str,
        validation: dict[str, Any] | None = None,
    ) -> WriteResult:
        """Store ``tables`` as a snapshot; identical content returns the stored one."""
        self.ensure()
        # Parquet encoding and hashing release the GIL: one table per core.
        with ThreadPoolExecutor(max_workers=min(len(tables), os.cpu_count() or 1) or 1) as pool:
            encoded = dict(zip(tables, pool.map(_encode, tables.values()), strict=True))
        blobs = {name: blob for name, (blob, _) in encoded.items()}
        hashes = {name: digest for name, (_, digest) in encoded.items()}
        sid = content_id(schema, hashes)
        final = self.snapshots_dir / sid
        if (final / MANIFEST).is_file():
            self._set_latest(sid)
            return WriteResult(Snapshot(final), created=False)
        parent_snap = self._parent_snapshot(source)
        parent = parent_snap.id if parent_snap is not None else None
        # File names come from relgraph, never from the table's name (a source may
        # call a table "../../<id>/tables/drivers"); the name stays data.
        files = {name: table_file(name) for name in tables}
        if len(set(files.values())) != len(files):
            raise StoreError("two table names map to one file name; rename one of them")
        grown = _grown(parent_snap, blobs, hashes)
        plans = delta.plan_deltas(parent_snap, schema, grown, hashes)
        stored = self._stored_tables()
        parts: dict[str, list[TablePart]] = {}
        part_blobs: dict[str, bytes] = {}
        for name, plan in plans.deltas.items():
            assert parent_snap is not None
            old_parts = _parts_of(parent_snap, name)
            rows = tables[name].num_rows - plan.base_rows
            blob, digest = _encode(tables[name].slice(plan.base_rows))
            part = TablePart(f"{table_stem(name)}-d{len(old_parts)}.parquet", rows, digest)
            parts[name] = [*old_parts, part]
            part_blobs[part.file] = blob
        storage = {
            n: "delta" if n in parts else ("shared" if hashes[n] in stored else "full")
            for n in tables
        }
        manifest = Manifest(
            id=sid,
            schema=schema,
            row_counts={n: t.num_rows for n, t in tables.items()},
            table_hashes=hashes,
            source=source,
            created=datetime.now(UTC).isoformat(timespec="microseconds"),
            parent=parent,
            validation=validation or {},
            table_files={n: f for n, f in files.items() if n not in parts},
            table_parts=parts,
            storage=storage,
            notes=plans.notes,
        )
        try:
            with atomic.staged_dir(final) as tmp:
                (tmp / "tables").mkdir()
                for name, blob in blobs.items():
                    if name in parts:
                        continue
                    dest = tmp / "tables" / files[name]
                    if not _link_same(stored.get(hashes[name]), dest, hashes[name]):
                        _write_readonly(dest, blob)
                for name, table_parts in parts.items():
                    assert parent_snap is not None
                    for part, src in zip(
                        table_parts, [*parent_snap.table_paths(name), None], strict=True
                    ):
                        dest = tmp / "tables" / part.file
                        if src is None:
                            _write_readonly(dest, part_blobs[part.file])
                        elif not _link_same(src, dest, part.sha256):
                            _copy_checked(src, dest, part.sha256)
                    _check_delta(tmp / "tables", table_parts, grown[name], name)
                (tmp / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2))
                _fsync_tree(tmp)
        except OSError as e:
            raise StoreError(f"cannot write snapshot to '{final}': {e}") from e
        self._set_latest(sid)
        return WriteResult(Snapshot(final), created=True)

    def _stored_tables(self) -> dict[str, Path]:
        """Table files already stored, by content hash (the newest snapshot's copy)."""
        found: dict[str, Path] = {}
        for snap in self.snapshots():
            for name, digest in snap.manifest.table_hashes.items():
                if snap.is_delta(name):  # no one file holds the whole table's bytes
                    for part in snap.manifest.table_parts[name]:
                        found[part.sha256] = snap.path / "tables" / part.file
                    continue
                try:
                    found[digest] = snap.table_path(name)
                except StoreError:  # an old snapshot with an unsafe name: not shared
                    continue
        return found

    # -- names -----------------------------------------------------------------
    def tag(self, snapshot_id: str, name: str) -> Snapshot:
        """Name a snapshot (``relgraph tag ID v1``); a tag can be used wherever an id can."""
        check_tag(name)
        snap = self.snapshot(snapshot_id)
        atomic.write_text(self.tags_dir / name, snap.id + "\n")
        return snap

    def untag(self, name: str) -> None:
        check_tag(name)
        path = self.tags_dir / name
        if not path.is_file():
            raise StoreError(f"no tag '{name}' in workspace '{self.root}'")
        path.unlink()

    def tags(self) -> dict[str, str]:
        """Tag name -> snapshot id."""
        if not self.tags_dir.is_dir():
            return {}
        return {
            p.name: p.read_text().strip()
            for p in sorted(self.tags_dir.iterdir())
            if p.is_file() and TAG_RE.match(p.name)
        }

    @property
    def tags_dir(self) -> Path:
        return self.root / "refs" / "tags"

    def _parent_snapshot(self, source: str) -> Snapshot | None:
        same = [s for s in self.snapshots() if s.manifest.source == source]
        return same[-1] if same else None

    def _set_latest(self, sid: str) -> None:
        ref = self.root / "refs" / "latest"
        # Re-ingesting identical data writes nothing, not even the same ref.
        if ref.is_file() and ref.read_text().strip() == sid:
            return
        atomic.write_text(ref, sid + "\n")


def check_tag(name: str) -> None:
    """A tag names a file under ``refs/tags``; it must not read as a snapshot id prefix."""
    if not TAG_RE.match(name) or _HEX.match(name):
        raise StoreError(
            f"invalid tag '{name[:80]}': letters, digits, '_', '-', '.', starting with a "
            "letter or digit, and not only hex digits (those read as a snapshot id)"
        )


def _link_same(src: Path | None, dest: Path, digest: str) -> bool:
    """Hard-link an already stored file with these bytes; False when none can be linked.

    Snapshots stay self-contained folders (every reader opens its own path), while a
    table that did not change between two snapshots takes its disk space once.
    The bytes are checked against the hash first: a file changed behind relgraph's
    back is never shared.
    """
    if src is None or not src.is_file():
        return False
    try:
        if hashlib.sha256(src.read_bytes()).hexdigest() != digest:
            return False
        os.link(src, dest)
    except OSError:  # another file system, or links not allowed: write a copy
        return False
    return True


def _grown(
    parent: Snapshot | None, blobs: dict[str, bytes], hashes: dict[str, str]
) -> dict[str, pa.Table]:
    """The tables that may have grown since ``parent``, decoded from their Parquet bytes."""
    if parent is None:
        return {}
    m = parent.manifest
    return {
        n: pq.read_table(pa.BufferReader(blob))
        for n, blob in blobs.items()
        if n in m.row_counts and m.table_hashes.get(n) != hashes[n]
    }


def _parts_of(snap: Snapshot, name: str) -> list[TablePart]:
    """Table ``name`` of ``snap`` as a list of parts (one part when stored in one file)."""
    if snap.is_delta(name):
        return list(snap.manifest.table_parts[name])
    # The base keeps this table's usual file name in the new snapshot's folder.
    return [
        TablePart(
            table_file(name), snap.manifest.row_counts[name], snap.manifest.table_hashes[name]
        )
    ]


def _write_readonly(dest: Path, blob: bytes) -> None:
    dest.write_bytes(blob)
    # Read-only: a file may be shared with later snapshots.
    dest.chmod(0o400)


def _copy_checked(src: Path, dest: Path, digest: str) -> None:
    """Copy a part that could not be hard-linked, refusing bytes that changed behind our back."""
    data = src.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise StoreError(
            f"'{src}' no longer holds the bytes its snapshot recorded (hash differs); "
            "it was changed outside relgraph: ingest into a fresh workspace"
        )
    _write_readonly(dest, data)


def _check_delta(folder: Path, parts: list[TablePart], full: pa.Table, name: str) -> None:
    """The staged parts, read in order, must be exactly the full table (else nothing is stored)."""
    got = pa.concat_tables([pq.read_table(folder / p.file) for p in parts])
    if not got.equals(full):
        raise StoreError(
            f"internal error: table '{name}' read as base + delta differs from the table; "
            "nothing was stored"
        )


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
