"""Analyses of entity embeddings: clusters and 3-D projections for the dashboard."""

from __future__ import annotations

from relgraph.analyze.cluster import cluster_embeddings
from relgraph.analyze.embeddings import Embeddings, load_embeddings
from relgraph.analyze.project import project_embeddings

__all__ = ["Embeddings", "cluster_embeddings", "load_embeddings", "project_embeddings"]
