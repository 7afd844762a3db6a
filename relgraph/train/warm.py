"""Warm starts: continue a stored GNN on a newer snapshot of the same data.

The stored weights fit the new model where a tensor's name and shape match. The one
tensor that grows with the data is a table's categorical embedding (pytorch-frame keeps
one ``Embedding`` per table: row ``offset[column] + code + 1`` is a category, row 0 is
"missing"), and its rows follow the snapshot's category order (by frequency), which a
grown snapshot may reorder. Rows are therefore copied by category *value*, from the old
snapshot's column statistics to the new one's; a category the old snapshot never saw
keeps its fresh initialisation. Entities are rows of the graph, not parameters, so new
entities need nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_frame.data.stats import StatType

from relgraph.errors import TrainingError
from relgraph.nn.encoder import key
from relgraph.train.artifacts import ModelFiles, load_model

log = logging.getLogger(__name__)

_CAT_EMB = ".encoder.encoder_dict.categorical.emb.weight"


@dataclass
class WarmStart:
    """What a warm start brings: the stored model, its weights, its snapshot's statistics."""

    files: ModelFiles
    state: dict[str, Tensor]
    old_stats: dict[str, dict[str, dict[StatType, Any]]]
    old_cat_cols: dict[str, list[str]]
    loaded: list[str] = field(default_factory=list)
    remapped: dict[str, int] = field(default_factory=dict)  # table -> categories copied

    @property
    def model_id(self) -> str:
        return self.files.model_id


def load_warm_start(workspace: str | Path, model_id: str, query: str) -> WarmStart:
    """The stored model ``model_id`` to continue; it must answer the same ``query``."""
    files = load_model(workspace, model_id)
    if " ".join(str(files.meta.get("query", "")).split()) != " ".join(query.split()):
        raise TrainingError(
            f"--warm-start: model '{files.model_id}' answers another query "
            f"({files.meta.get('query')!r}); a warm start continues the same task"
        )
    if files.meta.get("gnn_state") is None:
        raise TrainingError(f"--warm-start: model '{files.model_id}' has no GNN to continue")
    stats, cat_cols = old_statistics(files)
    return WarmStart(files, files.gnn_state(), stats, cat_cols)


def _categories(stats: dict[str, dict[StatType, Any]], col: str) -> list[Any]:
    return list(stats[col][StatType.COUNT][0])


def remap_categories(
    own: dict[str, Tensor],
    state: dict[str, Tensor],
    features: Any,
    old_stats: dict[str, dict[str, dict[StatType, Any]]],
    old_cat_cols: dict[str, list[str]],
    *,
    unseen: str = "fresh",
) -> tuple[dict[str, Tensor], dict[str, int]]:
    """``state``'s tensors that fit ``own`` (the new model's), categorical embeddings by value.

    ``unseen``: what a category the old snapshot never saw gets: ``"fresh"`` (the new
    model's initialisation, to be trained: a warm start) or ``"missing"`` (the learned
    vector of a missing value: prediction with a model that cannot learn it).
    Returns the fitting tensors and, per table, how many categories kept their vector.
    """
    import torch_frame

    fit = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    kept: dict[str, int] = {}
    for name, new in own.items():
        if not name.endswith(_CAT_EMB) or name not in state:
            continue
        table = next(
            (t for t in features.frames if name.startswith(f"encoder.encoders.{key(t)}.")), None
        )
        if table is None or table not in old_stats:
            continue
        old_w = state[name]
        new_cols = list(features.frames[table].col_names_dict.get(torch_frame.categorical, []))
        w = new.clone()
        if unseen == "missing":
            w[:] = old_w[0]
        w[0] = old_w[0]  # row 0: a missing value
        o_offsets, off = {}, 1
        for c in old_cat_cols.get(table, []):
            o_offsets[c] = off
            off += len(_categories(old_stats[table], c))
        copied, n_off = 0, 1
        for c in new_cols:
            cats = _categories(features.col_stats[table], c)
            if c in o_offsets:
                old_index = {v: i for i, v in enumerate(_categories(old_stats[table], c))}
                for i, v in enumerate(cats):
                    j = old_index.get(v)
                    if j is not None:
                        w[n_off + i] = old_w[o_offsets[c] + j]
                        copied += 1
            n_off += len(cats)
        fit[name] = w
        kept[table] = copied
    return fit, kept


def warm_init(model: torch.nn.Module, warm: WarmStart, features: Any) -> list[str]:
    """Copy ``warm``'s weights into ``model`` (built on the new snapshot); the names loaded."""
    own = model.state_dict()
    fit, warm.remapped = remap_categories(
        own, warm.state, features, warm.old_stats, warm.old_cat_cols, unseen="fresh"
    )
    if not fit:
        raise TrainingError(
            f"--warm-start: no tensor of model '{warm.model_id}' fits the new model"
        )
    missed = [k for k in own if k not in fit]
    if missed:
        log.warning(
            "warm start: %d of %d tensors start fresh (their shape changed): %s",
            len(missed), len(own), ", ".join(missed[:5]),
        )  # fmt: skip
    model.load_state_dict(fit, strict=False)
    warm.loaded = sorted(fit)
    return warm.loaded


def old_statistics(
    files: ModelFiles,
) -> tuple[dict[str, dict[str, dict[StatType, Any]]], dict[str, list[str]]]:
    """Column statistics and categorical columns of the snapshot ``files`` was trained on."""
    import torch_frame

    from relgraph.graph.features import build_features
    from relgraph.query.task import hidden_columns
    from relgraph.store.workspace import Workspace

    workspace = files.path.parent.parent
    old = Workspace(workspace).snapshot(files.snapshot_id)
    feats = build_features(old).without(hidden_columns(files.meta["query"]))
    cat_cols = {
        t: list(tf.col_names_dict.get(torch_frame.categorical, []))
        for t, tf in feats.frames.items()
    }
    return feats.col_stats, cat_cols


def weights_for(files: ModelFiles, own: dict[str, Tensor], features: Any) -> dict[str, Tensor]:
    """The stored GNN weights for a model built on another snapshot (``own``: its state).

    Categories are matched by value; one the stored model never saw reads as missing.
    Raises :class:`TrainingError` when a tensor other than a categorical embedding
    does not fit (the columns changed: retrain, or continue with ``--warm-start``).
    """
    stats, cat_cols = old_statistics(files)
    fit, _ = remap_categories(own, files.gnn_state(), features, stats, cat_cols, unseen="missing")
    missing = [k for k in own if k not in fit]
    if missing:
        raise TrainingError(
            f"model '{files.model_id}' does not fit this snapshot's columns "
            f"({', '.join(missing[:3])} changed shape); retrain, or continue it with "
            f"`relgraph train --warm-start {files.model_id}`"
        )
    return fit
