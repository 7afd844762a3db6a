"""Listing, inspecting, cancelling and retrying jobs (what ``relgraph jobs`` calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from relgraph.errors import JobError
from relgraph.jobs.dag import downstream
from relgraph.jobs.db import MetaDB
from relgraph.jobs.events import set_status
from relgraph.jobs.executors import make_executor
from relgraph.jobs.models import Event, Job, Lineage, Run, Status, is_service_run, utcnow
from relgraph.jobs.runner import Runner, RunResult, job_dict
from relgraph.jobs.secretstore import SecretStore
from relgraph.jobs.spec import PipelineSpec


def _db(workspace: str | Path, meta: str | None) -> MetaDB:
    if meta is None and not (Path(workspace) / "meta.db").is_file():
        raise JobError(
            f"workspace '{workspace}' has no jobs yet; run 'relgraph run pipeline.yaml' first"
        )
    return MetaDB.open(meta, workspace=workspace)


def _get(s: Session, job_id: int) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"no job {job_id}; 'relgraph jobs' lists them")
    return job


RETRYABLE = (Status.failed.value, Status.cancelled.value, Status.blocked.value)


def cancel_queued_service_job(s: Session, job: Job) -> None:
    """A queued service job has no worker yet: it is cancelled on the spot."""
    job.cancel_requested = True
    job.error = "cancelled before it started"
    job.finished_at = utcnow()
    set_status(s, job, Status.cancelled.value, message=job.error)
    run = s.get(Run, job.run_id)
    if run is not None:
        run.status = Status.cancelled.value
        run.finished_at = job.finished_at


def requeue_service_job(
    s: Session, job: Job, *, by: str, owner: tuple[str, int] | None = None
) -> None:
    """Put a failed/cancelled service job back in the queue, under the same id.

    ``owner`` (host, pid) is the service that will run it; without one (a retry from the
    CLI) the run is left unowned and the first live ``relgraph serve`` on the workspace
    takes it (:func:`relgraph.jobs.runner.recover` never fails an unowned queued job).
    """
    if job.status not in RETRYABLE:
        raise JobError(
            f"job {job.id} ('{job.name}') is {job.status}; only failed, cancelled or blocked "
            "jobs can be retried"
        )
    job.attempts += 1
    for attr in ("error", "started_at", "finished_at", "duration_s", "progress_message"):
        setattr(job, attr, None)
    job.outputs = None
    job.progress = 0.0
    job.cancel_requested = False
    job.logs = (job.logs or "") + f"{utcnow().isoformat(timespec='milliseconds')} {by}\n"
    set_status(s, job, Status.queued.value, message=by)
    run = s.get(Run, job.run_id)
    if run is not None:
        run.status = Status.running.value
        run.finished_at = None
        run.host, run.pid = owner if owner is not None else ("", 0)


def list_jobs(
    *, workspace: str | Path, meta: str | None = None, run_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    db = _db(workspace, meta)
    try:

        def q(s: Session) -> list[dict[str, Any]]:
            stmt = select(Job).order_by(Job.run_id.desc(), Job.id).limit(limit)
            if run_id is not None:
                stmt = stmt.where(Job.run_id == run_id)
            return [job_dict(j) for j in s.scalars(stmt)]

        return db.read(q)
    finally:
        db.dispose()


def show_job(job_id: int, *, workspace: str | Path, meta: str | None = None) -> dict[str, Any]:
    db = _db(workspace, meta)
    try:

        def q(s: Session) -> dict[str, Any]:
            job = _get(s, job_id)
            events = s.scalars(select(Event).where(Event.job_id == job_id).order_by(Event.id))
            lineage = s.scalars(
                select(Lineage).where(Lineage.job_id == job_id).order_by(Lineage.id)
            )
            return job_dict(job) | {
                "logs": job.logs,
                "host": job.host,
                "events": [{"status": e.status, "at": e.at, "message": e.message} for e in events],
                "lineage": [
                    {"from": f"{e.src_kind}:{e.src_id}", "to": f"{e.dst_kind}:{e.dst_id}"}
                    for e in lineage
                ],
            }

        return db.read(q)
    finally:
        db.dispose()


def cancel_job(job_id: int, *, workspace: str | Path, meta: str | None = None) -> dict[str, Any]:
    """Ask the job's runner to stop it; a job whose runner is gone is cancelled here."""
    db = _db(workspace, meta)
    try:

        def q(s: Session) -> dict[str, Any]:
            job = _get(s, job_id)
            if Status(job.status).done:
                raise JobError(
                    f"job {job_id} ('{job.name}') is already {job.status}; nothing to cancel"
                )
            if job.status == Status.queued.value and is_service_run(s.get(Run, job.run_id)):
                cancel_queued_service_job(s, job)
            else:
                job.cancel_requested = True
            return job_dict(job)

        out = db.write(q)
        from relgraph.jobs.runner import recover

        recover(db)  # a job without a live runner will never see the request
        return out
    finally:
        db.dispose()


def retry_job(
    job_id: int,
    *,
    workspace: str | Path,
    meta: str | None = None,
    executor: str | None = None,
    webhook: str | None = None,
    on_update: Any = None,
) -> RunResult:
    """Put a failed/cancelled/blocked job and what it blocked back to pending; resume its run.

    A job started through the REST service goes back to its queue instead (status
    ``queued``, same id): the ``relgraph serve`` process on the workspace runs it.
    """
    db = _db(workspace, meta)
    try:
        from relgraph.jobs.runner import recover

        recover(db)

        def service(s: Session) -> RunResult | None:
            job = _get(s, job_id)
            run = s.get(Run, job.run_id)
            if not is_service_run(run):
                return None
            requeue_service_job(s, job, by=f"retry (attempt {job.attempts + 1}) from the CLI")
            return RunResult(run_id=job.run_id, status=Status.queued.value, jobs=[job])

        queued = db.write(service)
        if queued is not None:
            return queued

        def q(s: Session) -> tuple[int, PipelineSpec, str]:
            job = _get(s, job_id)
            if job.status not in (
                Status.failed.value,
                Status.cancelled.value,
                Status.blocked.value,
            ):
                raise JobError(
                    f"job {job_id} ('{job.name}') is {job.status}; only failed, cancelled or "
                    "blocked jobs can be retried"
                )
            run = s.get(Run, job.run_id)
            assert run is not None
            if run.status == Status.running.value:
                raise JobError(
                    f"run {run.id} of job {job_id} is still running; wait for it or cancel it"
                )
            # The DB holds the redacted spec; its secrets are in the secret store.
            text = SecretStore.for_workspace(run.workspace).spec(run.spec_text)
            spec = PipelineSpec.from_yaml(text, path=run.spec_path)
            again = {job.name, *downstream(spec, job.name)}
            for j in s.scalars(
                select(Job).where(
                    Job.run_id == run.id,
                    Job.name.in_(again),
                    or_(
                        *(
                            Job.status == st.value
                            for st in (Status.failed, Status.cancelled, Status.blocked)
                        )
                    ),
                )
            ):
                j.cancel_requested = False
                j.input_hash = None  # its inputs may have been fixed since
                j.error = None
                j.finished_at = None
                set_status(s, j, Status.pending.value, message=f"retry of job {job_id}")
            run.finished_at = utcnow()
            return run.id, spec, run.workspace

        run_id, spec, ws = db.write(q)
        runner = Runner(
            spec,
            workspace=ws,
            db=db,
            executor=make_executor(executor),
            webhook=webhook,
            on_update=on_update,
        )
        return runner.run(run_id)
    finally:
        db.dispose()
