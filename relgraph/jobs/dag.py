"""The job graph: dependency order and the jobs downstream of a given one."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from relgraph.errors import JobError

if TYPE_CHECKING:
    from relgraph.jobs.spec import PipelineSpec


def topological_order(spec: PipelineSpec) -> list[str]:
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


def downstream(spec: PipelineSpec, name: str) -> list[str]:
    """Every job that depends on ``name``, directly or not, in dependency order."""
    below: set[str] = set()
    for n in topological_order(spec):
        if any(need == name or need in below for need in spec.job(n).needs):
            below.add(n)
    return [n for n in topological_order(spec) if n in below]
