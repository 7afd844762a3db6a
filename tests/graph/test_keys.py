"""Primary-key lookups: the dense table for compact integer keys, Arrow's hash otherwise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.errors import GraphError
from relgraph.graph.keys import KeyIndex


@settings(deadline=None)  # the first int32 call compiles the gather
@given(
    keys=st.lists(st.integers(-50, 50), min_size=1, max_size=40),
    values=st.lists(st.one_of(st.none(), st.integers(-60, 60)), max_size=40),
    sparse=st.booleans(),
)
def test_lookup_finds_the_first_row_of_each_key_in_int32_and_int64(
    keys: list[int], values: list[int | None], sparse: bool
) -> None:
    if sparse:  # a key range far wider than the row count: the hash path
        keys = [k * 10**12 for k in keys]
        values = [None if v is None else v * 10**12 for v in values]
    index = KeyIndex("t", "id", pa.array(keys, pa.int64()))
    want = [keys.index(v) if v in keys else -1 for v in values]
    for dtype in (np.int64, np.int32):
        got = index.lookup(pa.array(values, pa.int64()), dtype)
        assert got.dtype == dtype
        assert got.tolist() == want


def test_string_keys_and_a_type_mismatch() -> None:
    index = KeyIndex("users", "name", pa.array(["ann", "bob"]))
    assert index.lookup(["bob", "zed", None], np.int32).tolist() == [1, -1, -1]
    ids = KeyIndex("users", "id", pa.array([3, 1, 2]))
    with pytest.raises(GraphError, match="make the foreign key and the primary key the same type"):
        ids.lookup(pa.array(["x"]))
