"""The job graph: dependency order and the jobs downstream of a given one.

It works on anything shaped like a pipeline (:class:`Graph`: a name and jobs with
``name`` and ``needs``), so that :mod:`relgraph.jobs.spec` can check its own order
without this module importing the spec back (no import circle, not even for types).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Protocol

from relgraph.errors import JobError


class Node(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def needs(self) -> tuple[str, ...]: ...


class Graph(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def jobs(self) -> Sequence[Node]: ...


def topological_order(spec: Graph) -> list[str]:
    """Job names so that every job comes after the jobs it needs (Kahn's algorithm).

    Among the jobs ready at a step, the one written first in the spec goes first,
    so the order is reproducible.
    """
    names = [j.name for j in spec.jobs]
    known = set(names)
    indegree = {n: 0 for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    for j in spec.jobs:
        for need in j.needs:
            if need not in known:
                raise JobError(
                    f"job '{j.name}' needs '{need}', which is not a job of pipeline "
                    f"'{spec.name}' (jobs: {', '.join(names)})"
                )
            if need == j.name:
                raise JobError(f"job '{j.name}' cannot need itself")
            indegree[j.name] += 1
            children[need].append(j.name)
    index = {n: i for i, n in enumerate(names)}
    ready = [(index[n], n) for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(ready, (index[c], c))
    if len(order) != len(names):
        cyclic = sorted(n for n in names if indegree[n] > 0)
        raise JobError(f"pipeline '{spec.name}' has a dependency cycle among jobs {cyclic}")
    return order


def downstream(spec: Graph, name: str) -> list[str]:
    """Every job that depends on ``name``, directly or not, in dependency order."""
    needs = {j.name: j.needs for j in spec.jobs}
    below: set[str] = set()
    order = topological_order(spec)
    for n in order:
        if any(need == name or need in below for need in needs[n]):
            below.add(n)
    return [n for n in order if n in below]
