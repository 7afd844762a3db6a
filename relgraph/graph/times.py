"""Node times as int64 seconds since the epoch, with two sentinels.

A table without a time column holds rows that are always known (``NO_TIME``,
the smallest int64, sorts first and passes every ``time <= t`` test). A NULL in
a timed table means "we do not know when this row appeared", and a row we cannot
place in time must never leak into the past: ``UNKNOWN_TIME`` (the largest
int64) sorts last and the sampler never shows it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import GraphError

NO_TIME: int = int(np.iinfo(np.int64).min)
UNKNOWN_TIME: int = int(np.iinfo(np.int64).max)

_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def arrow_to_seconds(
    arr: pa.Array | pa.ChunkedArray, *, what: str = "time column"
) -> npt.NDArray[np.int64]:
    """Seconds since the epoch (floored) of an Arrow timestamp/date/integer array.

    NULLs become ``UNKNOWN_TIME``. Integers are taken as seconds already.

    Example:
        >>> import pyarrow as pa, datetime as dt
        >>> arrow_to_seconds(pa.array([dt.datetime(1970, 1, 2), None])).tolist()[0]
        86400
    """
    if isinstance(arr, pa.ChunkedArray):
        parts = [arrow_to_seconds(c, what=what) for c in arr.chunks]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    t = arr.type
    if pa.types.is_timestamp(t):
        div = _PER_SECOND[t.unit]
        raw = arr.cast(pa.int64())
    elif pa.types.is_date32(t):
        div = -86_400  # negative: multiply
        raw = arr.cast(pa.int32()).cast(pa.int64())
    elif pa.types.is_date64(t):
        div = 1_000
        raw = arr.cast(pa.int64())
    elif pa.types.is_integer(t):
        div = 1
        raw = arr.cast(pa.int64())
    else:
        raise GraphError(
            f"{what} has type {t}, which is not a time; "
            "declare a timestamp or date column as the table's time column"
        )
    filled = pc.fill_null(raw, 0) if raw.null_count else raw
    values = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)
    if div == 1 and not raw.null_count:
        return values  # seconds already: the (read-only) Arrow buffer itself
    values = values.copy()
    if div < 0:
        values *= -div
    elif div > 1:
        np.floor_divide(values, div, out=values)
    if raw.null_count:
        nulls = np.asarray(raw.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values[nulls] = UNKNOWN_TIME
    return values


def to_seconds(times: Any, *, what: str = "seed_times") -> npt.NDArray[np.int64]:
    """Coerce seed times (int seconds, numpy datetime64, Arrow, pandas, torch) to int64 seconds."""
    if isinstance(times, (pa.Array, pa.ChunkedArray)):
        return arrow_to_seconds(times, what=what)
    if hasattr(times, "detach") and hasattr(
        times, "numpy"
    ):  # torch tensor, without importing torch
        times = times.detach().cpu().numpy()
    a = np.asarray(times)
    if a.dtype.kind == "M":
        if np.isnat(a).any():
            raise GraphError(f"{what} contains NaT; every seed needs a time")
        return a.astype("datetime64[s]").astype(np.int64)
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "O":
        try:
            arr = pa.array(a.ravel().tolist())
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise GraphError(f"{what} could not be read as times: {e}") from e
        return arrow_to_seconds(arr, what=what)
    raise GraphError(
        f"{what} has dtype {a.dtype}; pass int64 seconds since the epoch or datetime64 values"
    )
