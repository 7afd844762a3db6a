"""The bundled F1 pipeline end to end (slow: it embeds, trains and projects)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from relgraph import api
from relgraph import jobs as rgjobs

# Several F1 trainings in one test: minutes on 2 cores, more when they are shared.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"


def test_f1_pipeline_runs_then_skips_then_redoes_only_what_a_csv_change_touches(
    tmp_path: Path,
) -> None:
    src = tmp_path / "f1"
    shutil.copytree(F1, src)
    ws = tmp_path / "ws"
    first = rgjobs.run_pipeline(src / "pipeline.yaml", workspace=ws)
    assert first.ok, [(j.name, j.error) for j in first.jobs]
    assert [j.name for j in first.jobs] == [
        "ingest",
        "embed",
        "train",
        "predict",
        "cluster",
        "project",
        "embed_gnn",
        "cluster_gnn",
    ]
    clusters = pq.read_table(ws / first.job("cluster").outputs["clusters"])
    assert sorted(set(clusters["cluster_label"].to_pylist())) == [f"cluster_{i}" for i in range(4)]
    proj = pq.read_table(ws / first.job("project").outputs["projection"])
    assert {"pca_x", "pca_z", "umap_x", "umap_z", "cluster_label"} <= set(proj.column_names)
    assert (
        proj.num_rows
        == clusters.num_rows
        == api.snapshot(workspace=ws).manifest.row_counts["drivers"]
    )
    assert first.job("train").outputs["metrics"]
    gnn = pq.read_table(ws / first.job("cluster_gnn").outputs["clusters"])
    assert sorted(gnn["ENTITY"].to_pylist()) == sorted(clusters["ENTITY"].to_pylist())

    second = rgjobs.run_pipeline(src / "pipeline.yaml", workspace=ws)
    assert {j.status for j in second.jobs} == {"skipped"}

    # New results rows change the snapshot; the drivers table (and so its text
    # embeddings) does not change.
    results = src / "results.csv"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-50]) + "\n")
    third = rgjobs.run_pipeline(src / "pipeline.yaml", workspace=ws)
    assert third.ok, [(j.name, j.error) for j in third.jobs]
    st = {j.name: j.status for j in third.jobs}
    assert st["embed"] == "skipped"
    assert st["ingest"] == st["train"] == st["predict"] == "succeeded"
