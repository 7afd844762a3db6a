"""relgraph: predictions from relational data with graph learning."""

from __future__ import annotations

from typing import Any

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import relgraph` stays light (no httpx) for the CLI and the workers.
    if name == "Client":
        from relgraph.client import Client

        return Client
    raise AttributeError(f"module 'relgraph' has no attribute {name!r}")
