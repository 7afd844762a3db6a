"""3-D coordinates of entity embeddings for the dashboard: PCA and UMAP.

Example:
    >>> import numpy as np, pyarrow as pa
    >>> from relgraph.analyze.embeddings import Embeddings
    >>> rng = np.random.default_rng(0)
    >>> emb = Embeddings(pa.array(range(20)), rng.normal(size=(20, 8)))
    >>> project_embeddings(emb, methods=("pca",)).column_names
    ['ENTITY', 'pca_x', 'pca_y', 'pca_z']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from relgraph.analyze.embeddings import ENTITY, Embeddings
from relgraph.errors import DataValidationError

METHODS = ("pca", "umap")
DIMS = 3


def _pad(coords: np.ndarray) -> np.ndarray:
    # Fewer than 3 informative dimensions: the missing axes are flat, not absent.
    if coords.shape[1] < DIMS:
        coords = np.hstack([coords, np.zeros((coords.shape[0], DIMS - coords.shape[1]))])
    return coords


def pca_3d(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_comp = min(DIMS, x.shape[0], x.shape[1])
    coords = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    # Fix each axis' sign (PCA's is arbitrary) so that reruns draw the same picture.
    signs = np.sign(coords[np.abs(coords).argmax(axis=0), range(coords.shape[1])])
    return _pad(coords * np.where(signs == 0, 1, signs))


def umap_3d(x: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    import umap

    n = x.shape[0]
    if n <= DIMS + 1:
        raise DataValidationError(f"UMAP needs more than {DIMS + 1} embeddings, got {n}")
    reducer = umap.UMAP(
        n_components=DIMS,
        n_neighbors=max(2, min(n_neighbors, n - 1)),
        random_state=seed,  # also makes UMAP single-threaded, hence reproducible
        init="random" if n < 10 else "spectral",
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def project_embeddings(
    emb: Embeddings, *, methods: Sequence[str] = METHODS, seed: int = 0
) -> pa.Table:
    """``ENTITY`` and ``<method>_x/_y/_z`` columns for each method in ``methods``."""
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise DataValidationError(f"unknown projection method(s) {bad}; use some of {METHODS}")
    if emb.matrix.shape[0] < 2:
        raise DataValidationError("projecting needs at least 2 embeddings")
    cols: dict[str, pa.Array] = {ENTITY: emb.ids}
    for m in methods:
        coords = pca_3d(emb.matrix, seed=seed) if m == "pca" else umap_3d(emb.matrix, seed=seed)
        for i, axis in enumerate("xyz"):
            cols[f"{m}_{axis}"] = pa.array(coords[:, i])
    return pa.table(cols)
