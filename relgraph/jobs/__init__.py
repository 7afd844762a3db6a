"""Jobs: the pipeline spec, its DAG, the metadata DB, executors and the runner.

A pipeline spec (YAML) names sources, queries and jobs; paths are relative to
the spec file::

    name: f1
    webhook: http://127.0.0.1:9000/hook      # optional: every job state change, POSTed as JSON
    sources:
      f1: {uri: ., schema: schema.yaml}
    queries:
      top3: "PREDICT ... FOR EACH drivers.driverId"
    jobs:
      ingest:  {type: ingest, source: f1}
      embed:   {type: embed, needs: [ingest], table: drivers}
      train:   {type: train, needs: [ingest], query: top3, budget: fast}
      predict: {type: predict, needs: [train]}
      cluster: {type: cluster, needs: [embed, predict], k: 4}
      project: {type: project, needs: [cluster], methods: [pca, umap]}

Every key of a job besides ``type`` and ``needs`` is a parameter. A job reads
the outputs of the jobs it ``needs`` (``snapshot``, ``model``, ``embeddings``,
...); its input hash covers its type, parameters, those outputs and the bytes of
local sources it reads, and an earlier success with the same hash is reused
(status ``skipped``) instead of run again. ``type: python`` with
``function: package.module:callable`` runs a user step.

State lives in the metadata DB (``workspace/meta.db`` or ``--meta URL``); job
outputs under ``workspace/outputs/<type>/<hash>/``, written by a rename.
Ray workers need the workspace on a shared path and, across machines, a
PostgreSQL metadata DB.
"""

from __future__ import annotations

from relgraph.jobs.control import cancel_job, list_jobs, retry_job, show_job
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
    "cancel_job",
    "downstream",
    "list_jobs",
    "recover",
    "retry_job",
    "run_pipeline",
    "show_job",
    "topological_order",
]
