from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from relgraph.graph import RelGraph
from relgraph.sample import Prefetcher, TemporalSampler


def test_order_and_end() -> None:
    with Prefetcher(iter(range(50)), depth=3) as p:
        assert list(p) == list(range(50))
        assert list(p) == []


def test_exception_reaches_consumer_in_place() -> None:
    def gen() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("sampling failed at batch 3")

    p = Prefetcher(gen())
    assert next(p) == 1
    assert next(p) == 2
    with pytest.raises(RuntimeError, match="batch 3"):
        next(p)
    with pytest.raises(StopIteration):
        next(p)
    assert not p._thread.is_alive()


def test_bounded_and_stops_cleanly() -> None:
    produced = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    p = Prefetcher(endless(), depth=2)
    assert next(p) == 0
    time.sleep(0.2)
    # depth queued + one being handed over: the producer stays bounded.
    assert len(produced) <= 1 + 2 + 1
    p.close()
    assert not p._thread.is_alive()
    # Dropping a prefetcher without close() also ends its thread.
    q = Prefetcher(endless(), depth=2)
    next(q)
    thread = q._thread
    del q
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(iter([]), depth=0)


def test_prefetched_batches_equal_direct_ones() -> None:
    g = RelGraph.from_edges(
        {"u": 4, "o": 40},
        {("o", "u", "u"): (np.arange(40), np.arange(40) % 4)},
        node_time={"o": np.arange(40)},
    )
    seeds = [np.array([0, 1, 2, 3])] * 5
    direct = TemporalSampler(g, [3], seed=1)
    want = [direct.sample("u", s, np.full(4, 30)) for s in seeds]
    ahead = TemporalSampler(g, [3], seed=1)
    with Prefetcher((ahead.sample("u", s, np.full(4, 30)) for s in seeds), depth=2) as p:
        got = list(p)
    assert [b.node_ids["o"].tolist() for b in got] == [b.node_ids["o"].tolist() for b in want]


def test_seed_loader_epochs_with_prefetcher() -> None:
    from relgraph.sample import SeedLoader

    g = RelGraph.from_edges(
        {"u": 10, "o": 30},
        {("o", "u", "u"): (np.arange(30), np.arange(30) % 10)},
        node_time={"o": np.arange(30)},
    )
    loader = SeedLoader(
        TemporalSampler(g, [2], seed=3), "u", np.arange(10), np.full(10, 20), batch_size=4,
        shuffle=True, seed=5,
    )  # fmt: skip
    assert len(loader) == 3
    with Prefetcher(iter(loader)) as p:
        epoch0 = [b.node_ids["u"][: b.num_seeds].tolist() for b in p]
    epoch1 = [b.node_ids["u"][: b.num_seeds].tolist() for b in loader]
    assert [len(s) for s in epoch0] == [4, 4, 2]
    assert sorted(x for s in epoch0 for x in s) == list(range(10))
    assert epoch0 != epoch1  # a new permutation each epoch
    again = SeedLoader(
        TemporalSampler(g, [2], seed=3), "u", np.arange(10), np.full(10, 20), batch_size=4,
        shuffle=True, seed=5,
    )  # fmt: skip
    assert [b.node_ids["u"][: b.num_seeds].tolist() for b in again] == epoch0
