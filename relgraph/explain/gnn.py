"""GNN attributions with Captum: per input column of every sampled row, per edge type.

The model reads a row's columns through pytorch-frame's column encoder (one vector per
column), then a per-table ResNet, relative time, message passing and the head. The
attributions are taken where a column is still one input of its own: the column
encoder's output. For every sampled row and column of one seed's subgraph,
Captum's :class:`~captum.attr.IntegratedGradients` integrates the gradient of the
seed's output (logit for binary and multiclass, normalised value for regression) from
a zero vector (the column removed) to the column's encoding; by completeness the
attributions of a seed add up to its output minus the output with every column removed.

Edge types are ablated with Captum's :class:`~captum.attr.FeatureAblation`: each seed
gets one 0/1 switch per edge type, and an edge type switched off drops its edges (and
with them everything the sampler reached through them) from that seed's subgraph.

Subgraphs of different seeds are disjoint (the sampler copies a row once per path),
so the gradient of the sum of the seeds' outputs is, for each node, the gradient of
its own seed's output: one backward pass serves a whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import Tensor

from relgraph.errors import TrainingError
from relgraph.nn.encoder import key
from relgraph.nn.gnn import EdgeType, tree_depth
from relgraph.nn.model import RelGNN
from relgraph.train.loop import GNNTrainer

# Integration steps of Integrated Gradients (Gauss-Legendre: few steps are accurate).
N_STEPS = 16
# Seeds per attributed batch: Integrated Gradients runs the model N_STEPS times on it.
SEEDS_PER_BATCH = 16


class BatchAttributor:
    """Attributions for one sampled batch of a trained :class:`RelGNN`.

    ``inputs``: per attributed table (``tables``), the column encodings of its sampled
    rows, ``[rows, columns, channels]``. :meth:`forward` runs the rest of the model
    from them and returns one value per seed: the output being explained.
    """

    def __init__(
        self,
        model: RelGNN,
        frames: dict[str, Any],
        batch: Any,
        kind: str,
        classes: Tensor | None = None,
    ) -> None:
        self.model = model
        self.frames = frames
        self.batch = batch
        self.kind = kind
        self.tables: list[str] = []
        self.columns: dict[str, list[str]] = {}
        enc = model.encoder
        xs: list[Tensor] = []
        with torch.no_grad():
            for nt, ids in batch.node_ids.items():
                if ids.numel() == 0 or nt not in frames or key(nt) not in enc.encoders:
                    continue
                resnet: Any = enc.encoders[key(nt)]
                x, names = resnet.encoder(frames[nt][ids])
                self.tables.append(nt)
                self.columns[nt] = list(names)
                xs.append(x.detach())
        self.inputs: tuple[Tensor, ...] = tuple(xs)
        self._n = [int(batch.node_ids[nt].numel()) for nt in self.tables]
        self.classes = classes
        if kind == "multiclass" and classes is None:
            with torch.no_grad():
                self.classes = self.model(frames, batch).argmax(dim=1)

    # -- the model from column encodings on --------------------------------
    def _select(self, out: Tensor) -> Tensor:
        if self.kind == "multiclass":
            assert self.classes is not None
            return out.gather(1, self.classes.view(-1, 1)).view(-1)
        return out[:, 0]

    def _rest(self, xs: list[Tensor], batch: Any) -> Tensor:
        m = self.model
        x: dict[str, Tensor] = {}
        got = dict(zip(self.tables, xs, strict=True))
        for nt, ids in batch.node_ids.items():
            n = int(ids.numel())
            if nt in got:
                resnet: Any = m.encoder.encoders[key(nt)]
                h = got[nt].reshape(n, -1)
                x[nt] = resnet.decoder(resnet.backbone(h))
            elif n == 0:
                x[nt] = torch.zeros(0, m.config.channels)
            elif key(nt) in m.encoder.constant:
                x[nt] = m.encoder.constant[key(nt)].expand(n, -1)
            else:  # a table whose rows the model encodes from no column
                x[nt] = m.encoder({}, {nt: n})[nt]
        return self._select(m.head(m.propagate(x, batch)))

    def forward(self, *xs: Tensor) -> Tensor:
        """Outputs per seed; inputs stacked ``k`` times along rows give ``k`` stacked outputs.

        Captum stacks the integration steps along the first dimension of every input.
        """
        if not xs:
            return self._rest([], self.batch)
        steps = xs[0].shape[0] // self._n[0]
        outs = []
        for s in range(steps):
            part = [x[s * n : (s + 1) * n] for x, n in zip(xs, self._n, strict=True)]
            outs.append(self._rest(part, self.batch))
        return torch.cat(outs)

    def output(self) -> Tensor:
        with torch.no_grad():
            return self.forward(*self.inputs)

    def masked_output(self, masks: list[Tensor]) -> Tensor:
        """Outputs with the ``True`` entries of ``masks`` (``[rows, columns]`` per table) removed.

        Removing a column of a row sets its encoding to the attribution baseline (zero).
        """
        xs = [x * (~m).unsqueeze(-1).to(x.dtype) for x, m in zip(self.inputs, masks, strict=True)]
        with torch.no_grad():
            return self.forward(*xs)

    # -- Captum ---------------------------------------------------------------
    def column_attributions(self, n_steps: int = N_STEPS) -> list[Tensor]:
        """Integrated Gradients per table: ``[rows, columns]`` (summed over channels)."""
        from captum.attr import IntegratedGradients

        if not self.inputs:
            return []
        ig = IntegratedGradients(self.forward)
        baselines = tuple(torch.zeros_like(x) for x in self.inputs)
        attr = ig.attribute(self.inputs, baselines=baselines, n_steps=n_steps)
        return [a.detach().sum(dim=-1) for a in attr]

    def edge_types(self) -> list[EdgeType]:
        return [(et[0], et[1], et[2]) for et, ei in self.batch.edge_index.items() if ei.numel() > 0]

    def edge_type_attributions(self) -> tuple[list[EdgeType], Tensor]:
        """Feature ablation per (seed, edge type): output with − output without its edges."""
        from captum.attr import FeatureAblation

        ets = self.edge_types()
        batch = self.batch
        if not ets:
            return [], torch.zeros(batch.num_seeds, 0)
        seed_of = {et: batch.batch[et[2]][batch.edge_index[et][1]] for et in ets}

        def run(switch: Tensor) -> Tensor:
            ei = dict(batch.edge_index)
            for t, et in enumerate(ets):
                keep = switch[seed_of[et], t] > 0.5
                ei[et] = batch.edge_index[et][:, keep]
            b = replace(batch, edge_index=ei)
            with torch.no_grad():
                return self._rest(
                    [x for x in self.inputs], b
                )  # column encodings stay; only structure changes

        fa = FeatureAblation(run)
        attr = fa.attribute(torch.ones(batch.num_seeds, len(ets)), baselines=0.0)
        return ets, attr.detach()

    def depth(self) -> dict[str, Tensor]:
        """Hops from its seed of every sampled node."""
        b = self.batch
        num = {nt: int(ids.numel()) for nt, ids in b.node_ids.items()}
        return tree_depth(
            num, b.edge_index, b.seed_table, b.num_seeds, self.model.config.num_layers
        )


@dataclass
class RowAttribution:
    """The attribution of every sampled row's columns, for all explained seeds."""

    table: str
    columns: list[str]
    node: np.ndarray  # the row (node id) in its table
    seed: np.ndarray  # index of the explained row (0..n-1) it was sampled for
    hop: np.ndarray  # hops from the seed (0: the entity itself)
    time: np.ndarray  # the row's time in seconds (NO_TIME when timeless)
    attr: np.ndarray  # [rows, columns]


@dataclass
class GNNAttribution:
    """Column and edge-type attributions of a GNN for ``n`` explained rows."""

    n: int
    output: np.ndarray  # the explained output per row (logit / normalised value)
    baseline_output: np.ndarray  # the output with every column removed
    rows: list[RowAttribution] = field(default_factory=list)
    edge_types: list[EdgeType] = field(default_factory=list)
    edge_attr: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def attributors(
    trainer: GNNTrainer, rows: pa.Table, *, seeds_per_batch: int = SEEDS_PER_BATCH
) -> Iterator[tuple[np.ndarray, BatchAttributor]]:
    """``(row indices, attributor)`` per batch of ``rows`` (ENTITY, ANCHOR_TIMESTAMP)."""
    kind = trainer.kind
    if kind not in ("binary", "regression", "multiclass"):
        raise TrainingError(
            f"explanations cover binary, regression and multiclass models, not '{kind}'"
        )
    trainer._check_fitted()
    model = trainer.model_
    model.eval()
    s = trainer.seeds(rows, with_target=False)
    sampler = trainer.sampler_factory(
        trainer.graph, list(trainer.config.fanouts), trainer.config.strategy, trainer.seed + 10_000
    )
    bs = trainer.config.batch_size
    # The same subgraphs as predict_raw: sample in the trainer's batches, attribute in
    # smaller slices of them (Integrated Gradients runs the model N_STEPS times).
    trainer.config = trainer.config.replace(batch_size=seeds_per_batch)
    try:
        for idx, batch in trainer._batches(s, np.arange(len(s)), sampler):
            yield idx, BatchAttributor(model, trainer.features.frames, batch, kind)
    finally:
        trainer.config = trainer.config.replace(batch_size=bs)


def explain_gnn(
    trainer: GNNTrainer, rows: pa.Table, *, n_steps: int = N_STEPS, edges: bool = True
) -> GNNAttribution:
    """Column attributions of every sampled row, and edge-type ablations, for ``rows``."""
    out, base = np.zeros(rows.num_rows), np.zeros(rows.num_rows)
    parts: dict[str, list[RowAttribution]] = {}
    ets_all: list[EdgeType] = []
    edge_chunks: list[tuple[np.ndarray, list[EdgeType], np.ndarray]] = []
    for idx, ba in attributors(trainer, rows):
        out[idx] = ba.output().numpy()
        base[idx] = ba.masked_output(
            [torch.ones_like(x[..., 0], dtype=torch.bool) for x in ba.inputs]
        ).numpy()
        depth = ba.depth()
        for nt, a in zip(ba.tables, ba.column_attributions(n_steps), strict=True):
            b = ba.batch
            parts.setdefault(nt, []).append(
                RowAttribution(
                    table=nt,
                    columns=ba.columns[nt],
                    node=b.node_ids[nt].numpy(),
                    seed=idx[b.batch[nt].numpy()],
                    hop=depth[nt].numpy(),
                    time=b.node_time[nt].numpy(),
                    attr=a.numpy(),
                )
            )
        if edges:
            ets, ea = ba.edge_type_attributions()
            for et in ets:
                if et not in ets_all:
                    ets_all.append(et)
            edge_chunks.append((idx, ets, ea.numpy()))
    edge_attr = np.zeros((rows.num_rows, len(ets_all)))
    for cidx, cets, cea in edge_chunks:
        for j, et in enumerate(cets):
            edge_attr[cidx, ets_all.index(et)] = cea[:, j]
    merged = []
    for nt, ps in parts.items():
        merged.append(
            RowAttribution(
                table=nt,
                columns=ps[0].columns,
                node=np.concatenate([p.node for p in ps]),
                seed=np.concatenate([p.seed for p in ps]),
                hop=np.concatenate([p.hop for p in ps]),
                time=np.concatenate([p.time for p in ps]),
                attr=np.concatenate([p.attr for p in ps]),
            )
        )
    return GNNAttribution(
        n=rows.num_rows, output=out, baseline_output=base, rows=merged,
        edge_types=ets_all, edge_attr=edge_attr,
    )  # fmt: skip
