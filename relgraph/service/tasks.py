"""The job kinds the service runs: those of the one registry
(:mod:`relgraph.jobs.registry`) that run through the API, bound to the service's
workspace and source policy. Kinds whose facade function is not in this build are left
out, so ``GET /jobs/kinds`` tells the truth.
"""

from __future__ import annotations

from pathlib import Path

from relgraph.jobs.registry import ServiceKind, service_kinds
from relgraph.service.policy import SourcePolicy


def default_kinds(workspace: Path, policy: SourcePolicy | None = None) -> dict[str, ServiceKind]:
    """``policy`` says what ``ingest`` may read (default: nothing but named connections,
    which need a secret store)."""
    policy = policy or SourcePolicy(workspace=workspace)
    return service_kinds(workspace, policy.check)


__all__ = ["default_kinds"]
