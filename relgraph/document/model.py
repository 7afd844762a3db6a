"""GraphSAGE over the column graph, the baselines it must beat, and their scores.

The model is two layers of PyG ``SAGEConv`` — one per relation (same table, link,
lineage), summed — with ReLU, dropout 0.5, cross-entropy and weight decay 5e-4.
SAGEConv learns functions of a node's own features and its neighbours' mean, not
per-node embeddings, so a column added later is classified without retraining.

Baselines on the same split: the majority term; a name-only logistic regression
on the hashed name words; a graph-free logistic regression on all features.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from relgraph.document.graph import RELATIONS, ColumnGraph

HIDDEN = 128
ENCODED = 64
EPOCHS = 150
LR = 0.01
WEIGHT_DECAY = 5e-4
DROPOUT = 0.5


@dataclass
class Scores:
    top1: float
    top2: float
    macro_f1: float
    ece: float
    n: int

    def line(self, name: str) -> str:
        return (
            f"{name} top-1 {self.top1:.3f} top-2 {self.top2:.3f} macro-F1 {self.macro_f1:.3f} "
            f"ECE {self.ece:.3f} (n={self.n})"
        )

    def to_dict(self) -> dict[str, float]:
        return {
            "top1": self.top1,
            "top2": self.top2,
            "macro_f1": self.macro_f1,
            "ece": self.ece,
            "n": self.n,
        }


def score(proba: np.ndarray, y: np.ndarray, *, bins: int = 10) -> Scores:
    """Top-1/top-2 accuracy, macro-F1 over the terms in ``y``, expected calibration error."""
    from sklearn.metrics import f1_score

    order = np.argsort(-proba, axis=1)
    top1 = order[:, 0]
    acc1 = float(np.mean(top1 == y))
    acc2 = float(np.mean((order[:, 0] == y) | (order[:, 1] == y))) if proba.shape[1] > 1 else acc1
    f1 = float(f1_score(y, top1, labels=np.unique(y), average="macro", zero_division=0))
    conf = proba[np.arange(len(y)), top1]
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(float(np.mean(top1[m] == y[m])) - float(conf[m].mean()))
    return Scores(acc1, acc2, f1, float(ece), len(y))


def _full_proba(clf: object, x: sp.csr_matrix | np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba widened to every class (a class absent from training gets 0)."""
    p = clf.predict_proba(x)  # type: ignore[attr-defined]
    out = np.zeros((p.shape[0], n_classes), dtype=np.float64)
    out[:, clf.classes_] = p  # type: ignore[attr-defined]
    return out


def majority(y_train: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    return np.tile(counts / counts.sum(), (n, 1))


def logistic(x: sp.csr_matrix, y: np.ndarray, train: np.ndarray, n_classes: int) -> np.ndarray:
    """A logistic regression fitted on ``train`` rows; class probabilities of every row."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0, max_iter=300)
    clf.fit(x[train], y[train])
    return _full_proba(clf, x, n_classes)


class _Sage:
    """Built lazily: torch is imported only when the model is used."""

    @staticmethod
    def make(in_dim: int, n_classes: int, relations: Sequence[str]) -> Any:
        import torch
        from torch_geometric.nn import HeteroConv, SAGEConv

        def layer(i: int, o: int) -> HeteroConv:
            # One root (self) weight per layer, not one per relation: the relations
            # share the column's own features, and the ablation drops only edges.
            return HeteroConv(
                {
                    ("c", r, "c"): SAGEConv(i, o, root_weight=k == 0)
                    for k, r in enumerate(relations)
                },
                aggr="sum",
            )

        class ColumnSage(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                # The hashed features are sparse and wide: one sparse product brings them
                # to ENCODED dense dimensions before the two SAGE layers (100k columns
                # would otherwise cost a dense 100k x in_dim product per relation).
                self.w_in = torch.nn.Parameter(torch.empty(in_dim, ENCODED))
                self.b_in = torch.nn.Parameter(torch.zeros(ENCODED))
                torch.nn.init.xavier_uniform_(self.w_in)
                self.conv1 = layer(ENCODED, HIDDEN)
                self.conv2 = layer(HIDDEN, n_classes)

            def encode(self, x: torch.Tensor) -> torch.Tensor:
                h: torch.Tensor = torch.sparse.mm(x, self.w_in) + self.b_in
                return h

            def classify(
                self, h0: torch.Tensor, edges: dict[tuple[str, str, str], torch.Tensor]
            ) -> torch.Tensor:
                f = torch.nn.functional
                h = self.conv1({"c": h0}, edges)["c"]
                h = f.dropout(f.relu(h), p=DROPOUT, training=self.training)
                out: torch.Tensor = self.conv2({"c": h}, edges)["c"]
                return out

            def forward(
                self, x: torch.Tensor, edges: dict[tuple[str, str, str], torch.Tensor]
            ) -> torch.Tensor:
                return self.classify(self.encode(x), edges)

        return ColumnSage()


@dataclass
class SageResult:
    proba: np.ndarray  # (nodes, classes)
    # Gradient of each node's top logit w.r.t. its encoded input, and the encoder's
    # weights: gradient × input of feature d of node i is x[i, d] * grad[i] · w_in[d].
    grad: np.ndarray | None = None
    w_in: np.ndarray | None = None

    def saliency(self, x: sp.csr_matrix, i: int, dims: list[int]) -> list[float]:
        """Gradient × input of node ``i``'s features ``dims`` (0 where the feature is 0)."""
        assert self.grad is not None and self.w_in is not None
        lo, hi = x.indptr[i], x.indptr[i + 1]
        row = dict(zip(x.indices[lo:hi].tolist(), x.data[lo:hi].tolist(), strict=True))
        g = self.grad[i]
        return [row.get(d, 0.0) * float(g @ self.w_in[d]) for d in dims]


def graphsage(
    graph: ColumnGraph,
    x: sp.csr_matrix,
    y: np.ndarray,
    train: np.ndarray,
    n_classes: int,
    *,
    relations: Sequence[str] = RELATIONS,
    epochs: int = EPOCHS,
    seed: int = 0,
    saliency: bool = False,
) -> SageResult:
    """Train on the ``train`` nodes (full batch), return every node's term probabilities."""
    import torch

    torch.manual_seed(seed)
    coo = x.tocoo()
    xt = torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)),
        torch.from_numpy(coo.data.astype(np.float32)),
        size=coo.shape,
        check_invariants=False,  # built from a valid scipy matrix just above
    ).coalesce()
    # Every relation keeps a (possibly empty) edge list so the ablation runs the same model.
    # As sparse CSR adjacencies, so SAGEConv aggregates by one sparse product
    # instead of a gather and scatter per edge (several times faster on CPU).
    from torch_geometric.utils import to_torch_csr_tensor

    n = graph.num_nodes
    edges = {
        ("c", r, "c"): to_torch_csr_tensor(
            torch.from_numpy(graph.edges[r][[1, 0]].copy()), size=(n, n)
        )
        for r in relations
    }
    model = _Sage.make(x.shape[1], n_classes, relations)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    yt = torch.from_numpy(y.astype(np.int64))
    tr = torch.from_numpy(np.asarray(train, dtype=np.int64))
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        out = model(xt, edges)
        loss = torch.nn.functional.cross_entropy(out[tr], yt[tr])
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    model.eval()
    if not saliency:
        with torch.no_grad():
            proba = torch.softmax(model(xt, edges), dim=1).numpy()
        return SageResult(proba.astype(np.float64))
    h0 = model.encode(xt).detach().requires_grad_(True)
    logits = model.classify(h0, edges)
    top = logits.argmax(dim=1)
    logits.gather(1, top[:, None]).sum().backward()  # type: ignore[no-untyped-call]
    assert h0.grad is not None
    proba = torch.softmax(logits.detach(), dim=1).numpy()
    return SageResult(proba.astype(np.float64), h0.grad.numpy(), model.w_in.detach().numpy().copy())
