"""Jobs: the pipeline spec, its DAG, the metadata DB, executors and the runner."""

from __future__ import annotations

from relgraph.jobs.dag import downstream, topological_order
from relgraph.jobs.db import MetaDB
from relgraph.jobs.models import Status
from relgraph.jobs.runner import Runner, RunResult, recover, run_pipeline
from relgraph.jobs.spec import JobSpec, PipelineSpec, SourceSpec

__all__ = [
    "JobSpec",
    "MetaDB",
    "PipelineSpec",
    "RunResult",
    "Runner",
    "SourceSpec",
    "Status",
    "downstream",
    "recover",
    "run_pipeline",
    "topological_order",
]
