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

import numpy as np
import scipy.sparse as sp

from relgraph.document.graph import RELATIONS, ColumnGraph

HIDDEN = 128
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
    def make(in_dim: int, n_classes: int, relations: Sequence[str]) -> object:
        import torch
        from torch_geometric.nn import HeteroConv, SAGEConv

        class ColumnSage(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.relations = list(relations)
                self.conv1 = HeteroConv(
                    {("c", r, "c"): SAGEConv(in_dim, HIDDEN) for r in self.relations}, aggr="sum"
                )
                self.conv2 = HeteroConv(
                    {("c", r, "c"): SAGEConv(HIDDEN, n_classes) for r in self.relations}, aggr="sum"
                )

            def forward(
                self, x: torch.Tensor, edges: dict[tuple[str, str, str], torch.Tensor]
            ) -> torch.Tensor:
                f = torch.nn.functional
                h = self.conv1({"c": x}, edges)["c"]
                h = f.dropout(f.relu(h), p=DROPOUT, training=self.training)
                out: torch.Tensor = self.conv2({"c": h}, edges)["c"]
                return out

        return ColumnSage()


@dataclass
class SageResult:
    proba: np.ndarray  # (nodes, classes)
    saliency: np.ndarray | None  # (nodes, features): gradient × input of the top class


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
    xt = torch.from_numpy(np.asarray(x.todense(), dtype=np.float32))
    # Every relation keeps a (possibly empty) edge list so the ablation runs the same model.
    edges = {("c", r, "c"): torch.from_numpy(graph.edges[r]) for r in relations}
    model = _Sage.make(xt.shape[1], n_classes, relations)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)  # type: ignore[attr-defined]
    yt = torch.from_numpy(y.astype(np.int64))
    tr = torch.from_numpy(np.asarray(train, dtype=np.int64))
    model.train()  # type: ignore[attr-defined]
    for _ in range(epochs):
        opt.zero_grad()
        out = model(xt, edges)  # type: ignore[operator]
        loss = torch.nn.functional.cross_entropy(out[tr], yt[tr])
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    model.eval()  # type: ignore[attr-defined]
    sal = None
    if saliency:
        xg = xt.clone().requires_grad_(True)
        logits = model(xg, edges)  # type: ignore[operator]
        top = logits.argmax(dim=1)
        logits.gather(1, top[:, None]).sum().backward()  # type: ignore[no-untyped-call]
        assert xg.grad is not None
        sal = (xg.grad * xt).numpy()
        proba = torch.softmax(logits.detach(), dim=1).numpy()
    else:
        with torch.no_grad():
            proba = torch.softmax(model(xt, edges), dim=1).numpy()  # type: ignore[operator]
    return SageResult(proba.astype(np.float64), sal)
