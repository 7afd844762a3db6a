"""Primary-key lookup: key values -> row index (node id), -1 where unknown."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import GraphError

IntArray = npt.NDArray[np.int64]


def _as_arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if hasattr(values, "detach") and hasattr(values, "numpy"):  # torch tensor
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return pa.array(values)
    return pa.array(list(values))


class KeyIndex:
    """Maps the primary-key values of one table to row numbers.

    Integer keys whose range is at most a few times the row count (auto-increment
    ids, the common case) use a dense lookup table: one gather per lookup, which
    is what makes mapping 20M foreign-key values fast. Other keys use Arrow's
    hash-based ``index_in``.

    Example:
        >>> import pyarrow as pa
        >>> KeyIndex("t", "id", pa.array([10, 12, 11])).lookup([11, 13, 10]).tolist()
        [2, -1, 0]
    """

    def __init__(self, table: str, column: str, keys: pa.Array | pa.ChunkedArray) -> None:
        self.table = table
        self.column = column
        self.keys: pa.Array = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        self._lut: IntArray | None = None
        self._base = 0
        t = self.keys.type
        if pa.types.is_integer(t) and len(self.keys) and self.keys.null_count == 0:
            k = np.asarray(self.keys.to_numpy(), dtype=np.int64)
            lo, hi = int(k.min()), int(k.max())
            if hi - lo + 1 <= max(4 * len(k), 1024):
                lut = np.full(hi - lo + 1, -1, dtype=np.int64)
                # Reversed so the first row wins when a key is duplicated.
                lut[(k - lo)[::-1]] = np.arange(len(k) - 1, -1, -1, dtype=np.int64)
                self._lut, self._base = lut, lo

    def __repr__(self) -> str:
        return f"KeyIndex({self.table}.{self.column}, rows={len(self.keys)})"

    def lookup(self, values: Any) -> IntArray:
        """Row index of each value (-1 for NULL or a key not in the table)."""
        arr = _as_arrow(values)
        if self._lut is not None and pa.types.is_integer(arr.type):
            v = np.asarray(pc.fill_null(arr.cast(pa.int64()), self._base - 1).to_numpy(), np.int64)
            idx = v - self._base
            ok = (idx >= 0) & (idx < self._lut.shape[0])
            out = np.full(v.shape[0], -1, dtype=np.int64)
            out[ok] = self._lut[idx[ok]]
            return out
        if arr.type != self.keys.type:
            try:
                arr = arr.cast(self.keys.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise GraphError(
                    f"cannot compare values of type {arr.type} with key "
                    f"'{self.table}.{self.column}' of type {self.keys.type}: {e}; "
                    "make the foreign key and the primary key the same type"
                ) from e
        found = pc.index_in(arr, value_set=self.keys)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
