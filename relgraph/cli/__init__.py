"""The ``relgraph`` command: a thin shell over :mod:`relgraph.api`.

Each command group lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

from relgraph.cli import audit as _audit  # noqa: F401  (registers commands)
from relgraph.cli import data as _data  # noqa: F401  (registers commands)
from relgraph.cli import document as _document  # noqa: F401  (registers commands)
from relgraph.cli import explain as _explain  # noqa: F401  (registers commands)
from relgraph.cli import jobs as _jobs  # noqa: F401  (registers commands)
from relgraph.cli import labels as _labels  # noqa: F401  (registers commands)
from relgraph.cli import query as _query  # noqa: F401  (registers commands)
from relgraph.cli import serve as _serve  # noqa: F401  (registers commands)
from relgraph.cli import train as _train  # noqa: F401  (registers commands)
from relgraph.cli import watch as _watch  # noqa: F401  (registers commands)
from relgraph.cli.app import app, main

__all__ = ["app", "main"]
