"""Garbage collection of a workspace's unreferenced data (``relgraph gc``).

What goes:

* leftovers of writers that were killed (``.tmp-*`` under ``snapshots/`` and
  ``cache/``; never a live writer's);
* files in a snapshot's ``tables/`` that its manifest does not name;
* ``cache/<id>`` folders of snapshots that are gone;
* with ``keep_last=N``: snapshots older than the newest N of their source that
  nothing references: no tag, not ``refs/latest``, not the snapshot of a stored
  model or pretrained trunk.

A table file is a hard link shared by every snapshot that holds the same bytes
(delta snapshots link their base and older deltas), so deleting a snapshot frees
only the files no kept snapshot links; the plan counts exactly those bytes. A
snapshot is removed by renaming its folder to a ``.tmp-`` name first (one atomic
step: readers see the whole snapshot or none), then deleting that folder; a
process killed in between leaves a leftover the next run cleans.

:func:`plan_gc` only looks; :func:`run_gc` deletes what a plan names, after
checking again that nothing references it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relgraph.errors import StoreError
from relgraph.store import atomic
from relgraph.store.snapshot import MANIFEST, Snapshot
from relgraph.store.workspace import Workspace

# Folders under a workspace whose ``*/*.json`` may name the snapshot they were made from.
_USERS = ("models", "pretrained")


@dataclass
class GcPlan:
    snapshots: list[str] = field(default_factory=list)
    stray_files: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    orphan_caches: list[Path] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # snapshot id -> why it stays
    bytes_freed: int = 0

    @property
    def empty(self) -> bool:
        return not (self.snapshots or self.stray_files or self.stale or self.orphan_caches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshots": self.snapshots,
            "stray_files": [str(p) for p in self.stray_files],
            "stale": [str(p) for p in self.stale],
            "orphan_caches": [str(p) for p in self.orphan_caches],
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
        }


def referenced(ws: Workspace) -> dict[str, str]:
    """Snapshot id -> what references it (a tag, ``latest``, a model)."""
    refs: dict[str, str] = {}
    latest = ws.root / "refs" / "latest"
    if latest.is_file():
        refs[latest.read_text().strip()] = "latest"
    for name, sid in ws.tags().items():
        refs.setdefault(sid, f"tag {name}")
    for folder in _USERS:
        for meta in sorted((ws.root / folder).glob("*/*.json")):
            try:
                doc = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            used = doc.get("snapshot_id") if isinstance(doc, dict) else None
            if isinstance(used, str):
                refs.setdefault(used, f"{folder[:-1]} {meta.parent.name}")
    return refs


def plan_gc(ws: Workspace, *, keep_last: int | None = None) -> GcPlan:
    """What :func:`run_gc` would delete (nothing is touched)."""
    if keep_last is not None and keep_last < 1:
        raise StoreError("--keep-last must be at least 1 (the newest snapshot of each source)")
    plan = GcPlan()
    snaps = ws.snapshots()
    refs = referenced(ws)
    by_source: dict[str, list[Snapshot]] = {}
    for s in snaps:
        by_source.setdefault(s.manifest.source, []).append(s)
    doomed: list[Snapshot] = []
    for group in by_source.values():
        for i, s in enumerate(reversed(group)):  # newest first
            if s.id in refs:
                plan.kept[s.id] = refs[s.id]
            elif keep_last is None or i < keep_last:
                plan.kept[s.id] = "kept" if keep_last is None else f"newest {keep_last}"
            else:
                doomed.append(s)
    plan.snapshots = [s.id for s in doomed]
    for s in snaps:
        named = {p.name for p in s.all_table_files()}
        tables = s.path / "tables"
        if tables.is_dir():
            plan.stray_files += [p for p in sorted(tables.iterdir()) if p.name not in named]
    for folder in (ws.snapshots_dir, ws.root / "cache"):
        if folder.is_dir():
            plan.stale += [p for p in sorted(folder.glob(".tmp-*")) if not atomic._writer_alive(p)]
    live = {s.id for s in snaps} - set(plan.snapshots)
    cache = ws.root / "cache"
    if cache.is_dir():
        plan.orphan_caches = [
            p
            for p in sorted(cache.iterdir())
            if p.is_dir() and not p.name.startswith(".") and p.name not in live
        ]
    plan.bytes_freed = _freed([s.path for s in doomed], plan)
    return plan


def _freed(snapshot_dirs: list[Path], plan: GcPlan) -> int:
    """Bytes the plan frees: a file's bytes count when every link to it goes."""
    links: dict[tuple[int, int], tuple[int, int, int]] = {}  # inode -> (links here, all, size)
    paths = [*plan.stray_files, *plan.stale, *plan.orphan_caches, *snapshot_dirs]
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            st = f.lstat()
            key = (st.st_dev, st.st_ino)
            here, _, _ = links.get(key, (0, st.st_nlink, st.st_size))
            links[key] = (here + 1, st.st_nlink, st.st_size)
    return sum(size for here, total, size in links.values() if here >= total)


def run_gc(ws: Workspace, plan: GcPlan) -> GcPlan:
    """Delete what ``plan`` names; a snapshot referenced meanwhile is kept, not deleted."""
    refs = referenced(ws)
    done = GcPlan(kept=dict(plan.kept))
    for sid in plan.snapshots:
        if sid in refs:
            done.kept[sid] = refs[sid]
            continue
        path = ws.snapshots_dir / sid
        if not (path / MANIFEST).is_file():
            continue
        done.bytes_freed += _freed([path], GcPlan())
        # One rename takes the snapshot away whole; the slow delete happens out of sight.
        trash = ws.snapshots_dir / f".tmp-gc{sid}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(path, trash)
        shutil.rmtree(trash)
        done.snapshots.append(sid)
    for p in plan.stray_files:
        if p.is_file():
            done.bytes_freed += _freed([], GcPlan(stray_files=[p]))
            p.unlink()
            done.stray_files.append(p)
    for group, out in ((plan.stale, done.stale), (plan.orphan_caches, done.orphan_caches)):
        for p in group:
            kept = group is plan.orphan_caches and (
                p.name in refs or (ws.snapshots_dir / p.name / MANIFEST).is_file()
            )
            if kept or not p.exists():
                continue
            done.bytes_freed += _freed([], GcPlan(stale=[p]))
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            out.append(p)
    return done
