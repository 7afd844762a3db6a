"""The column graph: a node per physical column, hashed features, three kinds of edges.

Features (scikit-learn's ``FeatureHasher``, so no vocabulary has to be fitted and a
new column is encoded like an old one):

- the *name* block: the column name's words (camelCase/snake_case split) and word pairs;
- the *context* block: table-name words, physical and semantic type, key/link flags,
  the link target's words, value shapes and words of sampled values;
- a few dense statistics (null share, distinct share, log ranges, mean length);
- optionally the packaged sentence-embedding model on ``"table column"``.

Edges (each kept as its own relation, so the model weighs them apart):
``same_table`` (columns of one table), ``link`` (a foreign key and the key it
points at) and ``lineage`` (a column and the columns it was derived from).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from relgraph.document.columns import ColumnProfile, name_tokens
from relgraph.document.lineage import LineageEdge

NAME_DIM = 512
CONTEXT_DIM = 512
RELATIONS = ("same_table", "link", "lineage")
# A wide table's clique would dominate the edge list (n² edges); past this many
# columns each column keeps a fixed number of table neighbours instead.
MAX_TABLE_CLIQUE = 48
WIDE_TABLE_NEIGHBOURS = 16


def name_features(p: ColumnProfile) -> list[str]:
    words = name_tokens(p.column)
    return [f"n:{w}" for w in words] + [f"nb:{a}_{b}" for a, b in itertools.pairwise(words)]


def context_features(p: ColumnProfile) -> list[str]:
    toks = [f"t:{w}" for w in name_tokens(p.table)]
    toks += [f"d:{p.dtype}", f"s:{p.stype}"]
    if p.is_primary_key:
        toks.append("flag:pk")
    if p.link_target:
        toks.append("flag:fk")
        toks += [f"fk:{w}" for w in name_tokens(p.link_target)]
    toks += [f"p:{s}" for s in p.patterns]
    for v in p.sample[:3]:
        toks += [f"v:{w}" for w in name_tokens(v)[:3] if not w.isdigit()]
    return toks


def dense_features(p: ColumnProfile) -> list[float]:
    def slog(x: float | None) -> float:
        return 0.0 if x is None else math.copysign(math.log1p(abs(x)), x) / 10.0

    return [
        p.null_share,
        p.distinct_share,
        slog(p.minimum),
        slog(p.maximum),
        float(p.minimum is not None),
        0.0 if p.mean_length is None else min(p.mean_length, 200.0) / 50.0,
        float(p.is_primary_key),
        float(p.link_target is not None),
        float(p.minimum is not None and p.minimum >= 1800 and (p.maximum or 0) <= 2100),
        float(p.minimum is not None and p.minimum >= 0 and (p.maximum or 0) <= 1),
    ]


DENSE_DIM = 10


@dataclass
class ColumnGraph:
    """Nodes (column profiles, in order), their feature blocks and edges per relation."""

    profiles: list[ColumnProfile]
    name_x: sp.csr_matrix
    context_x: sp.csr_matrix
    dense_x: np.ndarray
    edges: dict[str, np.ndarray]  # relation → int64 array (2, E), both directions
    embed_x: np.ndarray | None = None
    index: dict[str, int] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return len(self.profiles)

    def all_features(self) -> sp.csr_matrix:
        blocks = [self.name_x, self.context_x, sp.csr_matrix(self.dense_x)]
        if self.embed_x is not None:
            blocks.append(sp.csr_matrix(self.embed_x))
        return sp.hstack(blocks, format="csr")

    def tokens(self, i: int) -> list[str]:
        p = self.profiles[i]
        return name_features(p) + context_features(p)

    def neighbours(self, i: int) -> list[tuple[str, int]]:
        out = []
        for rel, e in self.edges.items():
            for j in e[1][e[0] == i]:
                out.append((rel, int(j)))
        return out


def _key(database: str, table: str, column: str) -> tuple[str, str, str]:
    return (database, table.lower(), column.lower())


def build_graph(
    profiles: list[ColumnProfile],
    lineage: Mapping[str, Iterable[LineageEdge]] | None = None,
    *,
    embed_names: bool = False,
    seed: int = 0,
) -> tuple[ColumnGraph, list[str]]:
    """The graph and the lineage edges that named no known column (to report, not hide)."""
    name_h = FeatureHasher(n_features=NAME_DIM, input_type="string")
    ctx_h = FeatureHasher(n_features=CONTEXT_DIM, input_type="string")
    name_x = name_h.transform(name_features(p) for p in profiles).tocsr().astype(np.float32)
    ctx_x = ctx_h.transform(context_features(p) for p in profiles).tocsr().astype(np.float32)
    dense = np.asarray([dense_features(p) for p in profiles], dtype=np.float32).reshape(
        -1, DENSE_DIM
    )

    where = {_key(p.database, p.table, p.column): i for i, p in enumerate(profiles)}
    pairs: dict[str, list[tuple[int, int]]] = {r: [] for r in RELATIONS}

    by_table: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(profiles):
        by_table[(p.database, p.table.lower())].append(i)
    rng = np.random.default_rng(seed)
    for members in by_table.values():
        if len(members) <= MAX_TABLE_CLIQUE:
            pairs["same_table"].extend((a, b) for a in members for b in members if a != b)
        else:
            arr = np.asarray(members)
            for a in members:
                for b in rng.choice(arr, WIDE_TABLE_NEIGHBOURS, replace=False):
                    if a != b:
                        pairs["same_table"].extend(((a, int(b)), (int(b), a)))

    pk_of: dict[tuple[str, str], int] = {}
    for i, p in enumerate(profiles):
        if p.is_primary_key:
            pk_of.setdefault((p.database, p.table.lower()), i)
    for i, p in enumerate(profiles):
        if p.link_target:
            j = pk_of.get((p.database, p.link_target.lower()))
            if j is not None and j != i:
                pairs["link"].extend(((i, j), (j, i)))

    unmatched: list[str] = []
    databases = sorted({p.database for p in profiles})
    for db, edges in (lineage or {}).items():
        # "*": edges read with no database named apply wherever both columns exist.
        dbs = databases if db == "*" else [db]
        for le in edges:
            found = False
            for d in dbs:
                src = where.get(_key(d, le.source_table, le.source_column))
                dst = where.get(_key(d, le.target_table, le.target_column))
                if src is not None and dst is not None and src != dst:
                    pairs["lineage"].extend(((src, dst), (dst, src)))
                    found = True
            if not found:
                unmatched.append(
                    f"{db}: {le.source_table}.{le.source_column} -> "
                    f"{le.target_table}.{le.target_column}"
                )

    edge_index = {
        r: (np.unique(np.asarray(v, dtype=np.int64), axis=0).T if v else np.zeros((2, 0), np.int64))
        for r, v in pairs.items()
    }
    embed = None
    if embed_names:
        from relgraph.analyze.text import embed_texts

        embed = embed_texts([f"{p.table} {' '.join(name_tokens(p.column))}" for p in profiles])
    g = ColumnGraph(
        profiles,
        name_x,
        ctx_x,
        dense,
        edge_index,
        embed,
        index={p.key: i for i, p in enumerate(profiles)},
    )
    return g, unmatched
