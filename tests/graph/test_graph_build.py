from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.errors import GraphError
from relgraph.graph import NO_TIME, UNKNOWN_TIME, RelGraph, build_graph
from relgraph.graph.build import GRAPH_FORMAT
from relgraph.graph.csr import fk_csr, radix_csr, sort_scratch, time_order
from relgraph.graph.times import arrow_to_seconds, to_seconds
from relgraph.schema.types import Column, ForeignKey, Schema, SType, TableSchema
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace

T0 = dt.datetime(2024, 1, 1)


def _ts(hours: int | None) -> dt.datetime | None:
    return None if hours is None else T0 + dt.timedelta(hours=hours)


def shop_snapshot(root: Path, *, items_pk: str | None = "item_id") -> Snapshot:
    """users (string keys, no time), items (sparse int keys), orders (two FKs, timed)."""
    users = pa.table({"user_id": ["a", "b", "c"], "name": ["A", "B", "C"]})
    items = pa.table({"item_id": [10**12, 5, 10**9], "price": [1.0, 2.0, 3.0]})
    orders = pa.table(
        {
            "order_id": [1, 2, 3, 4, 5, 6, 7],
            "user_id": ["b", "a", "b", "zz", None, "b", "a"],
            "item_id": [5, 5, 10**12, 5, 10**9, 7, 10**9],
            "ts": pa.array([_ts(h) for h in [5, 1, 2, 3, 4, None, 0]], pa.timestamp("us")),
        }
    )
    c = Column
    schema = Schema(
        {
            "users": TableSchema(
                "users",
                (c("user_id", "string", SType.id), c("name", "string", SType.text)),
                primary_key="user_id",
            ),
            "items": TableSchema(
                "items",
                (c("item_id", "int64", SType.id), c("price", "double", SType.numerical)),
                primary_key=items_pk,
            ),
            "orders": TableSchema(
                "orders",
                (
                    c("order_id", "int64", SType.id),
                    c("user_id", "string", SType.id),
                    c("item_id", "int64", SType.id),
                    c("ts", "timestamp[us]", SType.timestamp),
                ),
                primary_key="order_id",
                foreign_keys=(ForeignKey("user_id", "users"), ForeignKey("item_id", "items")),
                time_column="ts",
            ),
        }
    )
    ws = Workspace(root)
    tables = {"users": users, "items": items, "orders": orders}
    return ws.write_snapshot(tables, schema, source="test").snapshot


def test_shop_graph_structure(tmp_path: Path) -> None:
    g = build_graph(shop_snapshot(tmp_path))
    assert g.node_types == ["users", "items", "orders"]
    assert g.num_nodes == {"users": 3, "items": 3, "orders": 7}
    assert g.edge_types == [
        ("orders", "user_id", "users"),
        ("users", "rev_user_id", "orders"),
        ("orders", "item_id", "items"),
        ("items", "rev_item_id", "orders"),
    ]
    assert (g.node_time["users"] == NO_TIME).all()
    h = 3600
    base = int(T0.replace(tzinfo=dt.UTC).timestamp())
    expected = [
        base + 5 * h,
        base + h,
        base + 2 * h,
        base + 3 * h,
        base + 4 * h,
        UNKNOWN_TIME,
        base,
    ]
    assert g.node_time["orders"].tolist() == expected
    # users a=0, b=1, c=2; orders of b are rows 0 (5h), 2 (2h), 5 (unknown) -> by time 2, 0, 5.
    csr = g.csr[("orders", "user_id", "users")]
    assert csr.indptr.tolist() == [0, 2, 5, 5]
    assert csr.indices.tolist() == [6, 1, 2, 0, 5]
    # Reverse: each order -> its user; "zz" (dangling) and NULL give no edge.
    rev = g.csr[("users", "rev_user_id", "orders")]
    assert rev.indptr.tolist() == [0, 1, 2, 3, 3, 3, 4, 5]
    assert rev.indices.tolist() == [1, 0, 1, 1, 0]
    # items: 10**12 -> 0, 5 -> 1, 10**9 -> 2; item 7 dangles.
    items = g.csr[("orders", "item_id", "items")]
    assert items.indptr.tolist() == [0, 1, 4, 6]
    assert items.indices.tolist() == [2, 1, 3, 0, 6, 4]
    assert g.key_to_node("users", ["c", "a", "nope"]).tolist() == [2, 0, -1]
    assert g.key_to_node("items", np.array([5, 10**9, 6])).tolist() == [1, 2, -1]
    assert g.key_to_node("orders", [7, 1, 8]).tolist() == [6, 0, -1]
    assert repr(g) == "RelGraph(node_types=3, nodes=13, edge_types=4, edges=22)"


def test_cache_is_reused_and_memory_mapped(tmp_path: Path) -> None:
    snap = shop_snapshot(tmp_path)
    g1 = build_graph(snap)
    root = snap.cache_dir("graph") / f"v{GRAPH_FORMAT}"
    manifest = root / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    meta = json.loads(manifest.read_text())
    assert meta["dangling"] == {"orders.user_id": 2, "orders.item_id": 1}
    g2 = build_graph(snap)
    assert manifest.stat().st_mtime_ns == stamp  # not rebuilt
    assert isinstance(g2.indices_all.base, np.memmap)
    assert not g2.indices_all.flags.writeable
    assert np.array_equal(g1.indices_all, g2.indices_all)
    assert np.array_equal(g1.nbr_time_all, g2.nbr_time_all)
    # The neighbour times stored beside the CSR are the neighbours' own times.
    for (src, _rel, _dst), csr in g2.csr.items():
        assert np.array_equal(csr.times, g2.node_time[src][csr.indices])
    assert not list(root.parent.glob(".tmp-*"))
    # A damaged cache is rebuilt, not trusted.
    manifest.write_text("{not json")
    g3 = build_graph(snap)
    assert np.array_equal(g3.indptr_all, g1.indptr_all)
    assert json.loads(manifest.read_text())["format"] == GRAPH_FORMAT


def test_fk_to_table_without_primary_key_is_an_error(tmp_path: Path) -> None:
    snap = shop_snapshot(tmp_path, items_pk=None)
    with pytest.raises(
        GraphError, match=r"'orders.item_id' points at table 'items'.*no primary key"
    ):
        build_graph(snap)


def test_key_to_node_errors(tmp_path: Path) -> None:
    g = RelGraph.from_edges({"u": 2, "v": 1}, {}, keys={"u": pa.array([3, 4])})
    with pytest.raises(GraphError, match="unknown table 'w'"):
        g.key_to_node("w", [1])
    with pytest.raises(GraphError, match="table 'v' has no primary key"):
        g.key_to_node("v", [1])
    with pytest.raises(GraphError, match="cannot compare values of type string"):
        g.key_to_node("u", ["x"])


def test_time_conversion() -> None:
    a = pa.array([dt.date(1970, 1, 2), None], pa.date32())
    assert arrow_to_seconds(a).tolist() == [86400, UNKNOWN_TIME]
    b = pa.array([-1500, 2500], pa.timestamp("ms"))
    assert arrow_to_seconds(b).tolist() == [-2, 2]  # floored, not truncated
    assert to_seconds(np.array(["1970-01-01T00:01"], "datetime64[m]")).tolist() == [60]
    with pytest.raises(GraphError, match="not a time"):
        arrow_to_seconds(pa.array(["x"]))


@settings(max_examples=40, deadline=None)
@given(
    n_parent=st.integers(0, 6),
    fk=st.lists(st.integers(-1, 7), max_size=40),
    data=st.data(),
)
def test_csr_matches_brute_force(n_parent: int, fk: list[int], data: st.DataObject) -> None:
    fk_arr = np.array([v if v < n_parent else -1 for v in fk], dtype=np.int64)
    times = np.array(
        data.draw(
            st.lists(
                st.sampled_from([NO_TIME, UNKNOWN_TIME, 0, 1, 2, 3]),
                min_size=len(fk),
                max_size=len(fk),
            )
        ),
        dtype=np.int64,
    )
    keep = fk_arr >= 0
    g = RelGraph.from_edges(
        {"c": len(fk), "p": n_parent},
        {("c", "fk", "p"): (np.arange(len(fk))[keep], fk_arr[keep])},
        node_time={"c": times},
    )
    csr = g.csr[("c", "fk", "p")]
    for p in range(n_parent):
        got = csr.indices[csr.indptr[p] : csr.indptr[p + 1]].tolist()
        # Expected: children of p, by (time, row) — ties keep row order.
        want = sorted(np.flatnonzero(fk_arr == p).tolist(), key=lambda r: (times[r], r))
        assert got == want


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([int(NO_TIME), int(UNKNOWN_TIME)])),
        max_size=60,
    )
)
def test_time_order_is_a_stable_sort_with_sorted_times(values: list[int]) -> None:
    times = np.array(values, dtype=np.int64)
    order, sorted_times = time_order(times)
    assert order.tolist() == np.argsort(times, kind="stable").tolist()
    assert sorted_times.tolist() == times[order].tolist()


def _brute_csr(dst: np.ndarray, times: np.ndarray, n_dst: int) -> tuple[list[int], list[int]]:
    rows: list[int] = []
    indptr = [0]
    for p in range(n_dst):
        rows += sorted(np.flatnonzero(dst == p).tolist(), key=lambda r: (times[r], r))
        indptr.append(len(rows))
    return indptr, rows


WIDE_TIMES = st.one_of(
    st.integers(-(2**62), 2**62), st.sampled_from([int(NO_TIME), int(UNKNOWN_TIME), 0, 1])
)


@settings(max_examples=60, deadline=None)
@given(
    n_dst=st.integers(0, 300),
    rows=st.lists(st.tuples(st.integers(-1, 299), WIDE_TIMES), max_size=80),
    ordered=st.booleans(),
    narrow=st.booleans(),
)
def test_fk_csr_matches_brute_force(
    n_dst: int, rows: list[tuple[int, int]], ordered: bool, narrow: bool
) -> None:
    """The radix layout, over every key width: narrow times (one short key), times in
    order already (only the parent digits sorted), and times spanning 2^63 (the key
    would need more than 64 bits: the two-step fallback)."""
    dst = np.array([d if d < n_dst else -1 for d, _ in rows], dtype=np.int64)
    times = np.array([t for _, t in rows], dtype=np.int64)
    if narrow:
        times = np.where((times == NO_TIME) | (times == UNKNOWN_TIME), times, times % 5)
    if ordered:
        times = np.sort(times)
    m = int((dst >= 0).sum())
    indptr = np.empty(n_dst + 1, dtype=np.int64)
    indices, out_time = np.empty(m, dtype=np.int32), np.empty(m, dtype=np.int64)
    fk_csr(dst, times, n_dst, indptr, indices, out_time)
    want_ptr, want_rows = _brute_csr(dst, times, n_dst)
    assert indptr.tolist() == want_ptr
    assert indices.tolist() == want_rows
    assert out_time.tolist() == times[want_rows].tolist()
    # Without a time output (an untimed source) the layout is the same.
    indices2 = np.empty(m, np.int64)
    fk_csr(dst, times, n_dst, indptr, indices2, np.empty(0, np.int64))
    assert indices2.tolist() == want_rows
    # Sorted in 2 or 3 chunks side by side (big inputs are), the layout is the same too.
    for threads in (2, 3):
        ptr3, ix3, tx3 = np.full(n_dst + 1, -7), np.full(m, -7), np.full(m, -7)
        scratch = sort_scratch(len(rows) + 5)  # longer than needed: reused buffers are
        if radix_csr(dst, times, dst, True, n_dst, scratch, ptr3, ix3, tx3, threads, min_chunk=1):
            assert (ptr3.tolist(), ix3.tolist(), tx3.tolist()) == (
                want_ptr,
                want_rows,
                out_time.tolist(),
            )


def test_identity_indptr_and_untimed_neighbour_times_are_not_stored(tmp_path: Path) -> None:
    """A foreign key without NULLs or dangling values, seen from the child, has the
    identity indptr; edges out of an untimed table have all-NO_TIME neighbour times.
    Neither is stored, and the CSR views still show both."""
    customers = pa.table({"cid": [7, 8, 9]})
    orders = pa.table(
        {
            "oid": [1, 2, 3, 4],
            "cid": [9, 7, 9, 8],
            "ts": pa.array([_ts(h) for h in [3, 1, 2, 0]], pa.timestamp("s")),
        }
    )
    c = Column
    schema = Schema(
        {
            "customers": TableSchema("customers", (c("cid", "int64", SType.id),), "cid"),
            "orders": TableSchema(
                "orders",
                (
                    c("oid", "int64", SType.id),
                    c("cid", "int64", SType.id),
                    c("ts", "timestamp[s]", SType.timestamp),
                ),
                primary_key="oid",
                foreign_keys=(ForeignKey("cid", "customers"),),
                time_column="ts",
            ),
        }
    )
    snap = (
        Workspace(tmp_path)
        .write_snapshot({"customers": customers, "orders": orders}, schema, source="t")
        .snapshot
    )
    g = build_graph(snap)
    assert g.identity.tolist() == [False, True]
    # Only the forward indptr (3 customers + 1) and the forward times (orders are timed).
    assert g.indptr_all.shape[0] == 4
    assert g.nbr_time_all.shape[0] == 4
    assert g.indices_all.dtype == np.int32
    fwd = g.csr[("orders", "cid", "customers")]
    assert fwd.indptr.tolist() == [0, 1, 2, 4]
    assert fwd.indices.tolist() == [1, 3, 2, 0]  # customer 9: orders 2 (2h) then 0 (3h)
    rev = g.csr[("customers", "rev_cid", "orders")]
    assert rev.indptr.tolist() == [0, 1, 2, 3, 4]
    assert rev.indices.tolist() == [2, 0, 2, 1]
    assert (rev.times == NO_TIME).all()
    # The memory-mapped graph reopens with the same views.
    again = build_graph(snap)
    assert again.csr[("customers", "rev_cid", "orders")].indices.tolist() == [2, 0, 2, 1]


def test_failed_build_leaves_no_cache_and_the_next_build_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arrays are written in a staging folder: a build that dies half-way (here
    the layout kernel raises) leaves neither a cache nor a staging folder behind."""
    import relgraph.graph.build as build_module

    snap = shop_snapshot(tmp_path)
    root = snap.cache_dir("graph") / f"v{GRAPH_FORMAT}"

    def broken(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("simulated: killed half-way through the layout")

    monkeypatch.setattr(build_module, "fk_csr", broken)
    with pytest.raises(MemoryError):
        build_graph(snap)
    assert not root.exists()
    assert not list(root.parent.glob(".tmp-*"))
    monkeypatch.undo()
    g = build_graph(snap)
    assert g.csr[("orders", "user_id", "users")].indices.tolist() == [6, 1, 2, 0, 5]
