"""Model bundles: one folder that serves online predictions with no workspace around it.

``relgraph export MODEL --to DIR`` writes::

    DIR/bundle.json                 format, model id, candidate, expected snapshot id,
                                    schema, task, what loads how
    DIR/encoders.json               the encoders' column statistics and category maps
                                    (GNN) and LightGBM's category codes, for reading
    DIR/models/<model>/             model.json, gnn.pt (a plain state_dict, loaded with
                                    torch.load(weights_only=True)), lightgbm*.txt
    DIR/snapshots/<snapshot>/       the snapshot the model was trained on (Parquet)
    DIR/cache/<snapshot>/           its graph (memory-mapped .npy) and feature frames

The data travels with the model, not a pointer to it: the online path samples the
graph and aggregates past rows at request time, so it needs the rows themselves, and
a pointer into another machine's workspace would not be "self-contained". Files are
hard-linked where the bundle is on the workspace's file system (the snapshot is
immutable), copied otherwise. The bundle is laid out as a small workspace, so the
online path reads it with the same code as a workspace.

A bundle may also serve a newer snapshot of the same database (``snapshot_dir``):
it is refused, with the differences, when its schema is not the bundle's.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from relgraph.errors import StoreError
from relgraph.predict.models import chosen_kind
from relgraph.predict.online import MAX_KEYS, OnlineCache, OnlinePredictor, schema_problems
from relgraph.store.atomic import write_text
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace
from relgraph.train.artifacts import load_model

BUNDLE_JSON = "bundle.json"
ENCODERS_JSON = "encoders.json"
BUNDLE_FORMAT = 1


@dataclass
class BundleInfo:
    path: Path
    model_id: str
    model_kind: str
    snapshot_id: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "model_id": self.model_id,
            "model_kind": self.model_kind,
            "snapshot_id": self.snapshot_id,
            "bytes": self.bytes,
        }


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a real copy
        shutil.copy2(src, dst)


def _encoders(workspace: Path, files: Any, snap: Snapshot) -> dict[str, Any]:
    """The GNN encoders' statistics and LightGBM's category codes, JSON-ready."""
    out: dict[str, Any] = {}
    if files.meta.get("gnn_state") is not None:
        from relgraph.graph.features import build_features

        stats = build_features(snap).col_stats
        out["gnn_col_stats"] = {
            t: {c: {str(getattr(k, "value", k)): v for k, v in s.items()} for c, s in cols.items()}
            for t, cols in stats.items()
        }
    for name in ("lightgbm", "lightgbm_gap", "lightgbm_residual"):
        state = files.meta.get(f"{name}_state")
        if state:
            out[f"{name}_categories"] = state.get("categories")
    return out


def export_bundle(
    model_id: str, *, workspace: str | Path, to: str | Path, model_kind: str | None = None
) -> BundleInfo:
    """Write a self-contained serving bundle of a stored model to the new folder ``to``."""
    workspace = Path(workspace)
    files = load_model(workspace, model_id)
    kind = chosen_kind(files, model_kind)
    snap = Workspace(workspace).snapshot(files.snapshot_id)
    dest = Path(to)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"'{dest}' already exists and is not empty; export to a new folder")
    if not dest.parent.is_dir():
        raise StoreError(f"folder '{dest.parent}' does not exist; create it first")
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(files.path, tmp / "models" / files.model_id, copy_function=_link_or_copy)
        shutil.copytree(snap.path, tmp / "snapshots" / snap.id, copy_function=_link_or_copy)
        # The graph and frames as the workspace built them (built here if it had not).
        from relgraph.graph import build_graph
        from relgraph.graph.features import build_features

        if files.meta.get("gnn_state") is not None:
            build_graph(snap)
            build_features(snap)
        cache = snap.cache_dir("graph").parent
        shutil.copytree(cache, tmp / "cache" / snap.id, copy_function=_link_or_copy)
        (tmp / "refs").mkdir()
        write_text(tmp / "refs" / "latest", snap.id)
        encoders = _encoders(workspace, files, snap)
        write_text(tmp / ENCODERS_JSON, json.dumps(encoders, default=str))
        meta = {
            "format": BUNDLE_FORMAT,
            "model_id": files.model_id,
            "model_kind": kind,
            "snapshot_id": snap.id,
            "schema": snap.schema.to_dict(),
            "task": files.meta.get("task"),
            "query": files.meta.get("query"),
            "created": datetime.now().isoformat(timespec="seconds"),
            "weights": "models/<model>/gnn.pt: a state_dict of tensors, "
            "torch.load(weights_only=True); lightgbm*.txt: LightGBM text models",
        }
        write_text(tmp / BUNDLE_JSON, json.dumps(meta, indent=2))
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return BundleInfo(dest, files.model_id, kind, snap.id, size)


def read_bundle(path: str | Path) -> dict[str, Any]:
    """``bundle.json`` of the bundle at ``path``, checked."""
    p = Path(path) / BUNDLE_JSON
    if not p.is_file():
        raise StoreError(f"'{path}' is not a relgraph bundle: {BUNDLE_JSON} is missing")
    try:
        meta: dict[str, Any] = json.loads(p.read_text())
    except ValueError as e:
        raise StoreError(f"corrupt {p}: {e}") from e
    if meta.get("format") != BUNDLE_FORMAT:
        raise StoreError(
            f"bundle '{path}' has format {meta.get('format')!r}; this relgraph reads "
            f"format {BUNDLE_FORMAT}: export it again"
        )
    return meta


class BundleCache(OnlineCache):
    """An :class:`OnlineCache` over a bundle: its one model, on its snapshot or another.

    ``snapshot_dir``: serve a snapshot folder other than the bundled one (newer data
    of the same database); refused when its schema is not the bundle's.
    """

    def __init__(
        self, path: str | Path, *, snapshot_dir: str | Path | None = None, max_keys: int = MAX_KEYS
    ) -> None:
        super().__init__(path, max_keys=max_keys)
        self.meta = read_bundle(path)
        self.model_id = str(self.meta["model_id"])
        self.model_kind = str(self.meta["model_kind"])
        snap = Snapshot(Path(snapshot_dir)) if snapshot_dir else None
        if snap is not None:
            problems = schema_problems(self.meta["schema"], snap.schema.to_dict())
            if problems:
                raise StoreError(
                    f"snapshot {snap.id[:12]} does not match the schema of bundle "
                    f"'{path}' (model {self.model_id}, trained on "
                    f"{str(self.meta['snapshot_id'])[:12]}): " + "; ".join(problems[:8])
                )
        self.snapshot = snap

    def get(
        self,
        model_id: str,
        *,
        model_kind: str | None = None,
        snapshot: str | None = None,
        snapshot_obj: Snapshot | None = None,
    ) -> OnlinePredictor:
        """The bundle's model (by its id or a prefix), on the bundle's snapshot or the
        ``snapshot_dir`` it was opened with; ``snapshot`` ids name nothing here."""
        if not model_id or not self.model_id.startswith(model_id):
            raise StoreError(f"no model '{model_id}' in this bundle; it serves {self.model_id}")
        return super().get(
            self.model_id, model_kind=model_kind or self.model_kind,
            snapshot_obj=snapshot_obj or self.snapshot,
        )  # fmt: skip
