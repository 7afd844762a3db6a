"""k-means clusters of entity embeddings, labelled ``cluster_0 … cluster_{k-1}``.

Example:
    >>> import numpy as np, pyarrow as pa
    >>> from relgraph.analyze.embeddings import Embeddings
    >>> pts = np.array([[0.0, 0], [0, 0.1], [5, 5], [5, 5.1]])
    >>> out = cluster_embeddings(Embeddings(pa.array([1, 2, 3, 4]), pts), k=2)
    >>> out.column("cluster_label").to_pylist()
    ['cluster_0', 'cluster_0', 'cluster_1', 'cluster_1']
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from relgraph.analyze.embeddings import ENTITY, Embeddings
from relgraph.errors import DataValidationError

CLUSTER_LABEL = "cluster_label"


def cluster_embeddings(emb: Embeddings, *, k: int, seed: int = 0) -> pa.Table:
    """``ENTITY``, ``cluster_label`` and ``cluster_distance`` (to its centre).

    Cluster numbers are renamed in order of first appearance so that the same
    data and seed always give the same labels, whatever k-means' internal order.
    """
    from sklearn.cluster import KMeans

    n = emb.matrix.shape[0]
    if not isinstance(k, int) or k < 1:
        raise DataValidationError(f"cluster k must be a positive integer, got {k!r}")
    if n < k:
        raise DataValidationError(
            f"cannot make {k} clusters from {n} embeddings; lower k to at most {n}"
        )
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb.matrix)
    raw = km.labels_
    order = {int(c): i for i, c in enumerate(dict.fromkeys(raw.tolist()))}
    labels = np.array([order[int(c)] for c in raw])
    dist = np.linalg.norm(emb.matrix - km.cluster_centers_[raw], axis=1)
    return pa.table(
        {
            ENTITY: emb.ids,
            CLUSTER_LABEL: pa.array([f"cluster_{i}" for i in labels]),
            "cluster_distance": pa.array(dist),
        }
    )
