from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.errors import GraphError
from relgraph.graph import NO_TIME, UNKNOWN_TIME, RelGraph
from relgraph.sample import Batch, TemporalSampler

TIMES = [NO_TIME, UNKNOWN_TIME, 0, 1, 2, 3, 4, 5]


def random_graph(rng: np.random.Generator) -> RelGraph:
    """2-3 node types (one untimed), random edges between every ordered pair drawn."""
    n_types = int(rng.integers(2, 4))
    names = [f"t{i}" for i in range(n_types)]
    num = {t: int(rng.integers(1, 8)) for t in names}
    times = {t: rng.choice(TIMES, size=num[t]) for t in names[1:]}  # t0 has no time
    edges = {}
    for s in names:
        for d in names:
            if rng.random() < 0.6:
                m = int(rng.integers(0, 25))
                edges[(s, f"{s}_to_{d}", d)] = (
                    rng.integers(0, num[s], size=m),
                    rng.integers(0, num[d], size=m),
                )
    # A child -> parent edge type: every destination has exactly one neighbour, so
    # the graph stores no indptr for it (the sampler's identity shortcut).
    s, d = rng.choice(names, size=2)
    edges[(s, "parent", d)] = (rng.integers(0, num[s], size=num[d]), np.arange(num[d]))
    return RelGraph.from_edges(num, edges, node_time=times)


def hops_of(b: Batch) -> dict[tuple[str, int], int]:
    """Hop of every local node: seeds 0, else 1 + the hop of the node it was reached from."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}
    for (s, _, d), ei in b.edge_index.items():
        for src, dst in ei.t().tolist():
            assert (s, src) not in parent, "a non-seed node has one edge"
            parent[(s, src)] = (d, dst)
    hops = {}

    def hop(n: tuple[str, int]) -> int:
        if n not in hops:
            hops[n] = 0 if n not in parent else hop(parent[n]) + 1
        return hops[n]

    for t, ids in b.node_ids.items():
        for i in range(ids.shape[0]):
            hop((t, i))
    return hops


def check_batch(
    g: RelGraph, sampler: TemporalSampler, b: Batch, seeds: np.ndarray, times: np.ndarray
) -> None:
    st_ = b.seed_table
    assert b.num_seeds == len(seeds)
    assert b.node_ids[st_][: len(seeds)].tolist() == seeds.tolist()
    assert b.batch[st_][: len(seeds)].tolist() == list(range(len(seeds)))
    assert b.seed_time.tolist() == times.tolist()
    hops = hops_of(b)
    for t, ids in b.node_ids.items():
        # Own times are reported correctly ...
        assert b.node_time[t].tolist() == g.node_time[t][ids.numpy()].tolist()
        # ... and no sampled node is later than its seed (the temporal guarantee).
        first = len(seeds) if t == st_ else 0
        nt = b.node_time[t][first:]
        seed_t = b.seed_time[b.batch[t][first:]]
        assert bool(((nt <= seed_t) | (nt == NO_TIME)).all())
        assert not bool((nt == UNKNOWN_TIME).any())
        # Every node of a seed's subgraph was reached from that seed.
        if first == 0:
            assert all(hops[(t, i)] >= 1 for i in range(ids.shape[0]))
    incoming: dict[tuple[tuple[str, str, str], str, int], list[int]] = defaultdict(list)
    for et, ei in b.edge_index.items():
        s, _, d = et
        csr = g.csr[et]
        for src, dst in ei.t().tolist():
            gs, gd = int(b.node_ids[s][src]), int(b.node_ids[d][dst])
            # The edge exists in the graph, inside one seed's subgraph, one hop outwards.
            assert gs in csr.indices[csr.indptr[gd] : csr.indptr[gd + 1]].tolist()
            assert int(b.batch[s][src]) == int(b.batch[d][dst])
            assert hops[(s, src)] == hops[(d, dst)] + 1
            incoming[(et, d, dst)].append(gs)
    # Fan-out: each node at hop h < H draws exactly min(k_h, #visible) per edge type,
    # without replacement (distinct positions); nodes at the last hop draw nothing.
    for (t, i), h in hops.items():
        for et in g.incoming(t):
            got = incoming.get((et, t, i), [])
            if h >= len(sampler.fanouts):
                assert got == []
                continue
            seed = int(b.batch[t][i])
            limit = int(b.seed_time[seed])
            csr = g.csr[et]
            node = int(b.node_ids[t][i])
            nbrs = csr.indices[csr.indptr[node] : csr.indptr[node + 1]]
            nt = g.node_time[et[0]][nbrs]
            visible = nbrs[(nt <= limit) & (nt != UNKNOWN_TIME)].tolist()
            k = sampler.fanouts[h]
            want = len(visible) if k < 0 else min(k, len(visible))
            assert len(got) == want
            assert not Counter(got) - Counter(visible)  # a sub-multiset of the visible ones
            if sampler.strategy == "recent":
                assert sorted(got) == sorted(visible[len(visible) - want :])


def same(a: Batch, b: Batch) -> bool:
    return (
        all(torch.equal(a.node_ids[t], b.node_ids[t]) for t in a.node_ids)
        and all(torch.equal(a.batch[t], b.batch[t]) for t in a.batch)
        and all(torch.equal(a.edge_index[e], b.edge_index[e]) for e in a.edge_index)
    )


@settings(max_examples=40, deadline=None)
@given(
    graph_seed=st.integers(0, 2**32 - 1),
    fanouts=st.lists(st.integers(-1, 4), min_size=1, max_size=3),
    strategy=st.sampled_from(["uniform", "recent"]),
    n_seeds=st.integers(0, 6),
    sampler_seed=st.integers(0, 2**40),
)
def test_sampler_properties(
    graph_seed: int, fanouts: list[int], strategy: str, n_seeds: int, sampler_seed: int
) -> None:
    rng = np.random.default_rng(graph_seed)
    g = random_graph(rng)
    seed_table = g.node_types[int(rng.integers(0, len(g.node_types)))]
    seeds = rng.integers(0, g.num_nodes[seed_table], size=n_seeds)
    times = rng.choice([-1, 0, 1, 2, 3, 4, 5, 6, UNKNOWN_TIME], size=n_seeds).astype(np.int64)
    sampler = TemporalSampler(g, fanouts, strategy=strategy, seed=sampler_seed)
    b = sampler.sample(seed_table, seeds, times)
    check_batch(g, sampler, b, seeds, times)
    # Same seed => same batch, whether one thread or two run it.
    one = TemporalSampler(g, fanouts, strategy=strategy, seed=sampler_seed, num_threads=1)
    two = TemporalSampler(g, fanouts, strategy=strategy, seed=sampler_seed, num_threads=2)
    assert same(b, one.sample(seed_table, seeds, times))
    assert same(b, two.sample(seed_table, seeds, times))


def star(n: int, times: list[int] | None = None) -> RelGraph:
    """One hub with n leaves sending to it."""
    return RelGraph.from_edges(
        {"hub": 1, "leaf": n},
        {("leaf", "to", "hub"): (np.arange(n), np.zeros(n, dtype=np.int64))},
        node_time={"leaf": times if times is not None else list(range(n))},
    )


def test_uniform_is_uniform_and_calls_differ() -> None:
    # 4000 independent seeds on one hub choosing 1 of 4 leaves: each ~1000 times.
    g = star(4)
    s = TemporalSampler(g, [1], seed=7)
    b = s.sample("hub", np.zeros(4000, dtype=np.int64), np.full(4000, 10))
    counts = np.bincount(b.node_ids["leaf"].numpy(), minlength=4)
    assert counts.sum() == 4000
    assert counts.min() > 850 and counts.max() < 1150, counts
    # Successive calls draw fresh samples; a new sampler with the seed replays them.
    b2 = s.sample("hub", np.zeros(4000, dtype=np.int64), np.full(4000, 10))
    assert not same(b, b2)
    r = TemporalSampler(g, [1], seed=7)
    assert same(r.sample("hub", np.zeros(4000), np.full(4000, 10)), b)
    assert same(r.sample("hub", np.zeros(4000), np.full(4000, 10)), b2)
    assert not same(
        TemporalSampler(g, [1], seed=8).sample("hub", np.zeros(4000), np.full(4000, 10)), b
    )


def test_uniform_draws_without_replacement() -> None:
    g = star(5)
    b = TemporalSampler(g, [4], seed=3).sample("hub", np.zeros(2000), np.full(2000, 10))
    leaves = b.node_ids["leaf"].view(2000, 4)  # 4 per seed, seed by seed
    assert bool((b.batch["leaf"].view(2000, 4) == torch.arange(2000)[:, None]).all())
    assert all(len(set(row)) == 4 for row in leaves.tolist())
    # Every 4-subset of 5 leaves (there are 5) shows up.
    assert len({tuple(sorted(row)) for row in leaves.tolist()}) == 5


def test_recent_takes_latest_visible() -> None:
    g = star(6, [5, 1, 9, 3, 7, UNKNOWN_TIME])
    b = TemporalSampler(g, [2], strategy="recent").sample("hub", [0, 0], [7, 100])
    assert sorted(b.node_ids["leaf"].tolist()) == [0, 2, 4, 4]
    assert b.batch["leaf"].tolist() == [0, 0, 1, 1]
    assert b.edge_index[("leaf", "to", "hub")].tolist() == [[0, 1, 2, 3], [0, 0, 1, 1]]


def test_batch_shape_and_to() -> None:
    g = star(3)
    b = TemporalSampler(g, [-1]).sample("hub", torch.tensor([0]), np.array([1], "datetime64[s]"))
    assert repr(b) == "Batch(seed_table='hub', num_seeds=1, nodes=3, edges=2)"
    assert set(b.node_ids) == {"hub", "leaf"}
    c = b.to("cpu")
    assert c.edge_index[("leaf", "to", "hub")].dtype == torch.int64
    assert (
        repr(TemporalSampler(g, [3, 2]))
        == "TemporalSampler(fanouts=[3, 2], strategy='uniform', seed=0)"
    )


def test_sampler_errors() -> None:
    g = star(3)
    with pytest.raises(GraphError, match="unknown sampling strategy 'newest'"):
        TemporalSampler(g, [2], strategy="newest")
    with pytest.raises(GraphError, match="fanouts"):
        TemporalSampler(g, [])
    s = TemporalSampler(g, [2])
    with pytest.raises(GraphError, match="unknown seed table 'x'"):
        s.sample("x", [0], [0])
    with pytest.raises(GraphError, match="seed node 5 is not a row of 'hub'"):
        s.sample("hub", [5], [0])
    with pytest.raises(GraphError, match="2 seed nodes but 1 seed times"):
        s.sample("hub", [0, 0], [0])
