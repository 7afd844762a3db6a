"""Pipelines with the GNN jobs: pretrain → train --from-pretrained → embed (model) → cluster."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from relgraph import jobs as rgjobs
from relgraph.errors import JobError
from relgraph.jobs import PipelineSpec
from relgraph.testing import write_planted

SPEC = """
name: gnn
sources:
  shop: {uri: planted}
queries:
  active: PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id
jobs:
  ingest: {type: ingest, source: shop}
  pretrain: {type: pretrain, needs: [ingest], steps: 10}
  train:
    type: train
    needs: [ingest, pretrain]
    query: active
    budget: fast
    minutes: 1
    baseline: false
    from_pretrained: pretrain
  embed: {type: embed, needs: [train], model: train}
  cluster: {type: cluster, needs: [embed], k: 3}
"""


PLAIN = (
    SPEC.replace("  pretrain: {type: pretrain, needs: [ingest], steps: 10}\n", "")
    .replace("needs: [ingest, pretrain]", "needs: [ingest]")
    .replace("    from_pretrained: pretrain\n", "")
)


def _run(tmp_path: Path, write_spec, text: str):  # type: ignore[no-untyped-def]
    write_planted(tmp_path / "planted", num_users=40, num_items=10)
    res = rgjobs.run_pipeline(write_spec(text), workspace=tmp_path / "ws", executor="local:1")
    assert res.ok, [(j.name, j.error) for j in res.jobs]
    return {j.name: j for j in res.jobs}


def test_embed_from_model_then_cluster(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    jobs = _run(tmp_path, write_spec, PLAIN)
    model = jobs["train"].outputs["model"]
    assert jobs["embed"].outputs["model"] == model
    emb = pq.read_table(ws / jobs["embed"].outputs["embeddings"])
    assert emb.num_rows == 40 and set(emb.column("MODEL_ID").to_pylist()) == {model}
    clusters = pq.read_table(ws / jobs["cluster"].outputs["clusters"])
    assert clusters.column("ENTITY").to_pylist() == emb.column("ENTITY").to_pylist()
    assert set(clusters.column("cluster_label").to_pylist()) <= {f"cluster_{i}" for i in range(3)}
    # Nothing changed: a second run reuses every job.
    again = rgjobs.run_pipeline(write_spec(PLAIN), workspace=ws, executor="local:1")
    assert {j.status for j in again.jobs} == {"skipped"}


@pytest.mark.slow
def test_pretrain_then_train_from_it(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "ws"
    jobs = _run(tmp_path, write_spec, SPEC)
    trunk = jobs["pretrain"].outputs["pretrained"]
    assert (ws / "pretrained" / trunk / "trunk.pt").is_file()
    metrics = jobs["train"].outputs["metrics"]
    # The train job stores the run from scratch and the difference the trunk made.
    assert {"gnn_test_auroc", "scratch_test_auroc", "pretrain_delta_test_auroc"} <= set(metrics)
    assert metrics["pretrain_delta_test_auroc"] == pytest.approx(
        metrics["gnn_test_auroc"] - metrics["scratch_test_auroc"]
    )
    assert pq.read_table(ws / jobs["cluster"].outputs["clusters"]).num_rows == 40


def test_a_job_reference_must_be_among_needs() -> None:
    bad = SPEC.replace("embed: {type: embed, needs: [train], model: train}",
                       "embed: {type: embed, needs: [ingest], model: train}")  # fmt: skip
    with pytest.raises(
        JobError, match=r"reads the model of job 'train'.*add 'train' to its 'needs:'"
    ):
        PipelineSpec.from_yaml(bad)
