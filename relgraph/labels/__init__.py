"""Human labels: projects on entity tables, multi-stage queues, label sets, weak supervision.

The Python SDK is :class:`LabelStore` (on a workspace and its metadata DB) and the
functions of :mod:`relgraph.labels.sets`, :mod:`~relgraph.labels.agreement`,
:mod:`~relgraph.labels.seed` and :mod:`~relgraph.labels.weak`; the CLI
(``relgraph labels …``) and the REST API (``/api/v1/labels/…``) call them.
"""

from __future__ import annotations

from relgraph.labels.access import Who
from relgraph.labels.schema import Attribute, LabelSchema
from relgraph.labels.store import AddResult, LabelStore

__all__ = ["AddResult", "Attribute", "LabelSchema", "LabelStore", "Who"]
