"""The queue of jobs submitted through the API (runs with ``executor = "service"``):
which queued jobs a process may take, the claim that takes one exactly once, and the
adoption of a dead service's queue.

Every function works in the caller's transaction (a :class:`~sqlalchemy.orm.Session` of
:class:`~relgraph.jobs.db.MetaDB`); the caller says who it is: ``host`` and ``owner``
(the service process whose jobs it runs: runs.pid) and ``pid`` (the process that runs
them: jobs.pid; a worker of ``relgraph serve --workers N`` runs its service's jobs).
This is step 1 of "one runner" (docs/architecture.md): the claim is the job layer's; the
service's :mod:`relgraph.service.runner` still runs what it claimed on its own threads.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from relgraph.jobs.control import cancel_queued_service_job
from relgraph.jobs.events import set_status
from relgraph.jobs.models import SERVICE_EXECUTOR, Job, Run, Status, utcnow
from relgraph.jobs.procs import pid_alive

# How many queued jobs one look at the queue considers (the oldest first).
BATCH = 50


@dataclass(frozen=True)
class Claim:
    """A job taken from the queue, now ``running`` on the claimer."""

    job_id: int
    kind: str
    params: dict[str, Any]  # as recorded: redacted when it held secrets
    secret_ref: str | None  # where the full parameters wait (the secret store)


def run_spec(run: Run | None) -> dict[str, Any]:
    """A service run's spec: ``{"kind", "params", "created_by"[, "secret_ref"]}``."""
    try:
        spec = json.loads(run.spec_text) if run is not None else {}
    except (ValueError, TypeError):
        return {}
    return spec if isinstance(spec, dict) else {}


def owned_by_dead(run: Run, host: str) -> bool:
    """Whether ``run``'s owner is gone (or it has none: a retry from the CLI)."""
    return run.host == "" or (run.host == host and not pid_alive(run.pid))


def claimable(s: Session, *, host: str, owner: int) -> tuple[int, ...]:
    """Queued service jobs that ``owner`` on ``host`` may run, oldest first: its own,
    unowned ones, and those of a dead service on this host. A plain read (no lock)."""
    q = (
        select(Job.id, Run.host, Run.pid)
        .join(Run, Run.id == Job.run_id)
        .where(Run.executor == SERVICE_EXECUTOR, Job.status == Status.queued.value)
        .order_by(Job.id)
        .limit(BATCH)
    )
    return tuple(
        jid
        for jid, h, p in s.execute(q)
        if (h, p) == (host, owner) or h == "" or (h == host and not pid_alive(p))
    )


def claim(s: Session, *, host: str, owner: int, pid: int, kinds: Collection[str]) -> Claim | None:
    """Take the oldest queued job ``owner`` may run, in this transaction: its row is locked
    (``FOR UPDATE SKIP LOCKED``: another claimer skips it), so it is claimed once. A job
    cancelled while queued is closed on the way; one of a kind not in ``kinds`` fails
    naming the kinds there are."""
    for jid in claimable(s, host=host, owner=owner):
        job = s.scalars(select(Job).where(Job.id == jid).with_for_update(skip_locked=True)).first()
        run = s.get(Run, job.run_id) if job is not None else None
        if job is None or run is None or job.status != Status.queued.value:
            continue
        if job.cancel_requested:
            cancel_queued_service_job(s, job)
            continue
        run.host, run.pid = host, owner
        if job.type not in kinds:
            job.error = (
                f"this server has no job kind '{job.type}'; kinds: {', '.join(sorted(kinds))}"
            )
            job.finished_at = utcnow()
            set_status(s, job, Status.failed.value, message=job.error)
            continue
        now = utcnow()
        job.started_at = now
        job.heartbeat_at = now
        job.host, job.pid = host, pid
        job.worker = f"service:{host}:{pid}"
        stamp = now.isoformat(timespec="milliseconds")
        job.logs = (job.logs or "") + f"{stamp} started {job.type}\n"
        set_status(s, job, Status.running.value, message=f"on {job.worker}")
        return Claim(job.id, job.type, dict(job.params or {}), run_spec(run).get("secret_ref"))
    return None


def adopt(s: Session, *, host: str, owner: int) -> list[int]:
    """Queued jobs of a dead service become ``owner``'s (they never started: they simply
    run now); returns their ids."""
    ids = []
    q = (
        select(Job, Run)
        .join(Run, Run.id == Job.run_id)
        .where(Run.executor == SERVICE_EXECUTOR, Job.status == Status.queued.value)
    )
    for job, run in s.execute(q):
        if owned_by_dead(run, host):
            run.host, run.pid = host, owner
            ids.append(job.id)
    return ids
