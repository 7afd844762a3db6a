from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relgraph import api
from relgraph.analyze import cluster_embeddings, load_embeddings, project_embeddings
from relgraph.analyze.embeddings import Embeddings, to_table
from relgraph.errors import DataValidationError


def _blobs(n: int = 60, k: int = 4, dim: int = 6, seed: int = 1) -> Embeddings:
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=30.0, size=(k, dim))
    truth = np.arange(n) % k
    return Embeddings(pa.array(np.arange(n)), means[truth] + rng.normal(size=(n, dim)))


def test_kmeans_recovers_planted_clusters_with_stable_names() -> None:
    emb = _blobs()
    out = cluster_embeddings(emb, k=4)
    labels = out["cluster_label"].to_pylist()
    assert sorted(set(labels)) == ["cluster_0", "cluster_1", "cluster_2", "cluster_3"]
    truth = np.arange(60) % 4
    # Each planted blob is exactly one cluster (up to renaming).
    pairs = {(t, lab) for t, lab in zip(truth.tolist(), labels, strict=True)}
    assert len(pairs) == 4
    assert labels[0] == "cluster_0"  # named in order of first appearance
    assert out.equals(cluster_embeddings(emb, k=4))


def test_cluster_refuses_more_clusters_than_points() -> None:
    with pytest.raises(DataValidationError, match="cannot make 5 clusters from 3"):
        cluster_embeddings(Embeddings(pa.array([1, 2, 3]), np.eye(3)), k=5)


def test_pca_projection_is_3d_deterministic_and_keeps_ids() -> None:
    emb = _blobs()
    a = project_embeddings(emb, methods=["pca"])
    assert a.column_names == ["ENTITY", "pca_x", "pca_y", "pca_z"]
    assert a["ENTITY"].to_pylist() == emb.ids.to_pylist()
    assert a.equals(project_embeddings(emb, methods=["pca"]))
    # The first axis carries the most variance.
    var = [np.var(a[c].to_numpy()) for c in ("pca_x", "pca_y", "pca_z")]
    assert var[0] >= var[1] >= var[2] > 0


def test_pca_pads_flat_axes_for_low_dimensional_embeddings() -> None:
    emb = Embeddings(pa.array([1, 2, 3, 4]), np.array([[0.0, 1], [1, 0], [2, 2], [3, 1]]))
    out = project_embeddings(emb, methods=["pca"])
    assert out["pca_z"].to_pylist() == [0.0] * 4


@pytest.mark.slow
def test_umap_projection_is_reproducible() -> None:
    emb = _blobs(n=40)
    a = project_embeddings(emb, methods=["umap"], seed=3)
    assert a.column_names == ["ENTITY", "umap_x", "umap_y", "umap_z"]
    assert a.equals(project_embeddings(emb, methods=["umap"], seed=3))


def test_unknown_projection_method_is_named() -> None:
    with pytest.raises(DataValidationError, match="tsne"):
        project_embeddings(_blobs(), methods=["tsne"])


def test_embeddings_read_from_list_or_numeric_columns(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    pq.write_table(to_table(pa.array(["a", "b", "c", "d"]), x), tmp_path / "l.parquet")
    pq.write_table(
        pa.table({"ENTITY": [1, 2, 3, 4], "e0": x[:, 0], "e1": x[:, 1], "e2": x[:, 2]}),
        tmp_path / "n.parquet",
    )
    assert np.array_equal(load_embeddings(tmp_path / "l.parquet").matrix, x)
    assert np.array_equal(load_embeddings(tmp_path / "n.parquet").matrix, x)
    pq.write_table(pa.table({"id": [1]}), tmp_path / "bad.parquet")
    with pytest.raises(DataValidationError, match="no 'ENTITY' column"):
        load_embeddings(tmp_path / "bad.parquet")


def test_labels_join_reports_unknown_keys(tmp_path: Path) -> None:
    src = tmp_path / "shop"
    src.mkdir()
    (src / "users.csv").write_text("userId,age\n1,30\n2,41\n3,25\n")
    api.ingest(str(src), workspace=tmp_path / "ws")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "churn.csv").write_text("userId,churned\n1,1\n3,0\n9,1\n")
    res = api.ingest_labels(
        str(labels),
        table="users",
        workspace=tmp_path / "ws",
        to=tmp_path / "out.parquet",
        unknown_to=tmp_path / "unknown.parquet",
    )
    assert (res.rows, res.unknown) == (2, 1)
    got = pq.read_table(tmp_path / "out.parquet")
    assert got["ENTITY"].to_pylist() == [1, 3]
    assert pq.read_table(tmp_path / "unknown.parquet")["userId"].to_pylist() == [9]
