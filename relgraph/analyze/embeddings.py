"""Entity embeddings as a table: ``ENTITY`` plus one ``embedding`` list column.

Other producers may instead write one numeric column per dimension; both read
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from relgraph.errors import DataValidationError

ENTITY = "ENTITY"
EMBEDDING = "embedding"


@dataclass(frozen=True)
class Embeddings:
    """Row ``i`` of ``matrix`` embeds entity ``ids[i]``."""

    ids: pa.Array
    matrix: np.ndarray

    def __repr__(self) -> str:
        return f"Embeddings(n={self.matrix.shape[0]}, dim={self.matrix.shape[1]})"


def to_table(ids: pa.Array, matrix: np.ndarray) -> pa.Table:
    dim = int(matrix.shape[1])
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    return pa.table({ENTITY: ids, EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, dim)})


def from_table(table: pa.Table, *, where: str = "embeddings") -> Embeddings:
    if ENTITY not in table.column_names:
        raise DataValidationError(
            f"{where} has no '{ENTITY}' column (columns: {table.column_names}); "
            "write entity keys there",
            table=where,
            column=ENTITY,
        )
    ids = table[ENTITY].combine_chunks()
    if EMBEDDING in table.column_names:
        col = table[EMBEDDING].combine_chunks()
        if col.null_count:
            raise DataValidationError(
                f"{where} has {col.null_count} NULL embedding(s)", table=where, column=EMBEDDING
            )
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            raise DataValidationError(
                f"{where}: embeddings have different lengths", table=where, column=EMBEDDING
            )
        dim = int(lengths[0]) if len(lengths) else 0
        values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
        matrix = values.astype(np.float64).reshape(len(ids), dim)
    else:
        numeric = [
            n
            for n in table.column_names
            if n != ENTITY
            and (pa.types.is_floating(table[n].type) or pa.types.is_integer(table[n].type))
        ]
        if not numeric:
            raise DataValidationError(
                f"{where} has no '{EMBEDDING}' column and no numeric columns to use instead",
                table=where,
                column=EMBEDDING,
            )
        matrix = np.column_stack([table[n].to_numpy().astype(np.float64) for n in numeric])
    if not np.isfinite(matrix).all():
        raise DataValidationError(
            f"{where} has NaN or infinite embedding values", table=where, column=EMBEDDING
        )
    return Embeddings(ids=ids, matrix=matrix)


def load_embeddings(path: str | Path) -> Embeddings:
    return from_table(pq.read_table(path), where=str(path))
