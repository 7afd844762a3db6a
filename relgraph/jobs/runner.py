"""Runs a pipeline: builds the job graph, skips what is up to date, runs the rest in order.

1. Recover jobs that a crashed runner or worker left "running".
2. Record a run and one pending job per spec entry.
3. Loop: a pending job whose needs all succeeded gets its input hash (type +
   params + upstream outputs + source bytes); an earlier success with the same
   hash whose outputs still exist is reused (``skipped``), otherwise it is
   submitted to the executor. A job whose need failed is ``blocked``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import relgraph
from relgraph.errors import JobError
from relgraph.jobs.dag import topological_order
from relgraph.jobs.db import MetaDB
from relgraph.jobs.events import Notifier, set_status
from relgraph.jobs.executors import Executor, make_executor
from relgraph.jobs.kinds import extra_fingerprint, hash_inputs
from relgraph.jobs.models import (
    Job,
    Lineage,
    Metric,
    Model,
    Output,
    Query,
    Run,
    SnapshotRow,
    Source,
    Status,
    is_service_run,
    utcnow,
)
from relgraph.jobs.procs import pid_alive
from relgraph.jobs.progress import eta_seconds
from relgraph.jobs.registry import KINDS
from relgraph.jobs.secretstore import SecretStore
from relgraph.jobs.spec import PipelineSpec
from relgraph.jobs.worker import output_rel
from relgraph.redact import redact, redact_params, secret_values

log = logging.getLogger(__name__)

POLL_S = 0.2
# A worker that has not heartbeat for this long (on another host) is presumed lost.
STALE_AFTER = timedelta(seconds=60)
# Output keys that name a file under the workspace, and kinds of lineage nodes.
FILE_KEYS = ("labels", "embeddings", "predictions", "clusters", "projection")
LINEAGE_KEYS = ("snapshot", "model", "pretrained", *FILE_KEYS)

UpdateFn = Callable[[list[Job]], None]


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str
    jobs: list[Job]

    @property
    def ok(self) -> bool:
        return self.status == Status.succeeded.value

    def job(self, name: str) -> Job:
        for j in self.jobs:
            if j.name == name:
                return j
        raise JobError(f"run {self.run_id} has no job '{name}'")

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "jobs": [job_dict(j) for j in self.jobs],
        }


def job_dict(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "run_id": j.run_id,
        "name": j.name,
        "type": j.type,
        "status": j.status,
        "attempts": j.attempts,
        "progress": j.progress,
        "eta_s": eta_seconds(
            j.progress, j.started_at, utcnow(), running=j.status == Status.running.value
        ),
        "progress_message": j.progress_message,
        "params": j.params,
        "needs": j.needs,
        "input_hash": j.input_hash,
        "worker": j.worker,
        "pid": j.pid,
        "created_at": j.created_at,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "duration_s": j.duration_s,
        "error": j.error,
        "outputs": j.outputs,
        "reused_from": j.reused_from,
    }


def _raise_on_sigterm() -> Any:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(previous: Any) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def recover(db: MetaDB, *, notifier: Notifier | None = None) -> list[int]:
    """Mark jobs whose runner or worker died as failed, so that the next run redoes them."""
    host = socket.gethostname()
    now = utcnow()

    def lost(s: Session) -> list[int]:
        out = []
        live = (Status.pending.value, Status.queued.value, Status.running.value)
        for job in s.scalars(select(Job).where(Job.status.in_(live))):
            run = s.get(Run, job.run_id)
            why = None
            if run is not None and run.host == host and not pid_alive(run.pid):
                owner = "the service that ran it" if is_service_run(run) else "its runner"
                why = f"{owner} (pid {run.pid}) is gone"
            if (
                job.status == Status.running.value
                and job.host == host
                and job.pid
                and not pid_alive(job.pid)
            ):
                why = f"its worker (pid {job.pid}) is gone"
            beat = job.heartbeat_at
            if why is None and beat is not None and job.status == Status.running.value:
                if beat.tzinfo is None:
                    beat = beat.replace(tzinfo=now.tzinfo)
                if now - beat > STALE_AFTER and (
                    run is None or not (run.host == host and pid_alive(run.pid))
                ):
                    why = f"no heartbeat since {beat.isoformat()}"
            if why is None:
                continue
            job.error = f"lost: {why}; {_next_step(job, run)}"
            job.finished_at = now
            set_status(s, job, Status.failed.value, message=job.error, notifier=notifier)
            if run is not None and run.status == Status.running.value:
                run.status = Status.failed.value
                run.finished_at = now
            out.append(job.id)
        return out

    ids = db.write(lost)
    if ids:
        log.warning("marked %d lost job(s) as failed: %s", len(ids), ids)
    return ids


def _next_step(job: Job, run: Run | None) -> str:
    """What the user does about a lost job: a job started through the REST API has no
    pipeline to run again; it is retried under its id."""
    if is_service_run(run):
        return (
            f"it was started through the API: retry it with POST /api/v1/jobs/{job.id}/retry "
            f"or 'relgraph jobs retry {job.id}'"
        )
    return f"run the pipeline again (or 'relgraph jobs retry {job.id}')"


def input_hash(job_type: str, params: dict[str, Any], inputs: dict[str, Any]) -> str:
    payload = {
        "type": job_type,
        "params": params,
        "inputs": inputs,
        "external": extra_fingerprint(
            job_type, params, KINDS[job_type].params.PATHS if job_type in KINDS else ()
        ),
        "relgraph": relgraph.__version__ if hasattr(relgraph, "__version__") else "0",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def outputs_exist(workspace: Path, outputs: dict[str, Any] | None) -> bool:
    if outputs is None:
        return False
    for key in FILE_KEYS:
        rel = outputs.get(key)
        if isinstance(rel, str) and not (workspace / rel).exists():
            return False
    snap = outputs.get("snapshot")
    if isinstance(snap, str) and not (workspace / "snapshots" / snap / "manifest.json").is_file():
        return False
    model = outputs.get("model")
    if isinstance(model, str) and not (workspace / "models" / model).exists():
        return False
    trunk = outputs.get("pretrained")
    return not (isinstance(trunk, str) and not (workspace / "pretrained" / trunk).exists())


def resolve_params(
    spec: PipelineSpec, params: dict[str, Any], job_type: str | None = None
) -> dict[str, Any]:
    """Params as the job sees them: sources and queries replaced by what they name, and
    the kind's file parameters (``Params.PATHS``) made relative to the spec's folder."""
    out = dict(params)
    kind = KINDS.get(job_type) if job_type else None
    for key in kind.params.PATHS if kind is not None else ():
        value = out.get(key)
        if isinstance(value, str):
            out[key] = spec.resolve_path(value)
        elif isinstance(value, list):
            out[key] = [spec.resolve_path(str(v)) for v in value]
    if "source" in out:
        src = spec.sources[out["source"]]
        out["uri"] = spec.resolve_path(src.uri)
        if src.schema:
            out.setdefault("schema", src.schema)
    if out.get("schema"):
        out["schema"] = spec.resolve_path(str(out["schema"]))
    if "query" in out:
        out["query_text"] = spec.queries[out["query"]]
    return out


class Runner:
    """Drives one run of a pipeline to its end."""

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        workspace: str | Path,
        db: MetaDB,
        executor: Executor,
        webhook: str | None = None,
        on_update: UpdateFn | None = None,
    ) -> None:
        self.spec = spec
        self.workspace = Path(workspace).resolve()
        self.db = db
        self.executor = executor
        self.notifier = Notifier(webhook or spec.webhook)
        self.on_update = on_update
        # The spec's secrets: masked in every error and log line this runner records.
        self.known = secret_values(spec.text) | secret_values(
            [s.uri for s in spec.sources.values()]
        )

    def start(self) -> int:
        """Record a new run with one pending job per spec entry; returns the run id."""
        order = topological_order(self.spec)
        # The DB keeps the redacted spec; a retry finds the full one in the secret store.
        stored = redact(self.spec.text, self.known)
        if stored != self.spec.text:
            SecretStore.for_workspace(self.workspace).put_spec(stored, self.spec.text)

        def create(s: Session) -> int:
            run = Run(
                pipeline=self.spec.name,
                spec_path=self.spec.path,
                spec_text=stored,
                workspace=str(self.workspace),
                executor=self.executor.name,
                host=socket.gethostname(),
                pid=os.getpid(),
                heartbeat_at=utcnow(),
            )
            s.add(run)
            s.flush()
            for name in order:
                js = self.spec.job(name)
                job = Job(
                    run_id=run.id,
                    name=name,
                    type=js.type,
                    params=redact_params(dict(js.params), self.known),
                    needs=list(js.needs),
                )
                s.add(job)
                s.flush()
                set_status(s, job, Status.pending.value, notifier=self.notifier)
            return run.id

        return self.db.write(create)

    def run(self, run_id: int | None = None) -> RunResult:
        """Run (or, given ``run_id``, resume) a run until every job is done."""
        if run_id is not None:
            # Owned by this process first: else recovery takes the pending jobs of a run
            # whose first runner exited (a CLI retry) for lost ones and fails them.
            self._reopen(run_id)
        recover(self.db, notifier=self.notifier)
        if run_id is None:
            run_id = self.start()
        previous = _raise_on_sigterm()
        try:
            self._loop(run_id)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: stop the workers, record why, leave the run resumable.
            self.executor.close()
            self._abandon(run_id, "the runner was interrupted")
            raise
        finally:
            self.executor.close()
            self.notifier.close()
            _restore_sigterm(previous)
        return self._finish(run_id)

    def _abandon(self, run_id: int, why: str) -> None:
        def abandon(s: Session) -> None:
            for job in self._jobs(s, run_id):
                if job.status in (Status.queued.value, Status.running.value):
                    job.error = f"{why}; run the pipeline again (or 'relgraph jobs retry {job.id}')"
                    job.finished_at = utcnow()
                    set_status(
                        s, job, Status.failed.value, message=job.error, notifier=self.notifier
                    )
            run = s.get(Run, run_id)
            if run is not None:
                run.status = Status.failed.value
                run.finished_at = utcnow()

        self.db.write(abandon)

    def _reopen(self, run_id: int) -> None:
        def reopen(s: Session) -> None:
            run = s.get(Run, run_id)
            if run is None:
                raise JobError(f"no run {run_id}")
            run.status = Status.running.value
            run.pid = os.getpid()
            run.host = socket.gethostname()
            run.finished_at = None

        self.db.write(reopen)

    def _jobs(self, s: Session, run_id: int) -> list[Job]:
        return list(s.scalars(select(Job).where(Job.run_id == run_id).order_by(Job.id)))

    def _loop(self, run_id: int) -> None:
        running: dict[int, float] = {}
        last_beat = 0.0
        while True:
            progressed = self.db.write(lambda s: self._schedule(s, run_id, running))
            for key, result in self.executor.poll(POLL_S if running else 0):
                started = running.pop(key)
                self.db.write(
                    functools.partial(self._complete, job_id=key, result=result, started=started)
                )
            self._handle_cancels(run_id)
            jobs = self.db.read(lambda s: self._jobs(s, run_id))
            if self.on_update is not None:
                self.on_update(jobs)
            if all(Status(j.status).done for j in jobs) and not running:
                return
            if time.monotonic() - last_beat > 5:
                last_beat = time.monotonic()
                self.db.write(lambda s: setattr(s.get(Run, run_id), "heartbeat_at", utcnow()))
            if not progressed and not running:
                time.sleep(POLL_S)

    def _schedule(self, s: Session, run_id: int, running: dict[int, float]) -> bool:
        jobs = self._jobs(s, run_id)
        by_name = {j.name: j for j in jobs}
        progressed = False
        for job in jobs:
            if job.status != Status.pending.value:
                continue
            needs = [by_name[n] for n in job.needs]
            bad = [
                n
                for n in needs
                if n.status in (Status.failed.value, Status.blocked.value, Status.cancelled.value)
            ]
            if bad:
                first = bad[0]
                if first.status == Status.blocked.value and first.error:
                    job.error = first.error  # name the root cause, not the chain
                else:
                    reason = first.error or first.status
                    job.error = (
                        f"blocked: job '{first.name}' (id {first.id}) {first.status}: {reason}"
                    )
                job.finished_at = utcnow()
                set_status(s, job, Status.blocked.value, message=job.error, notifier=self.notifier)
                progressed = True
                continue
            if not all(Status(n.status).ok for n in needs):
                continue
            # The spec's own params, not the DB's redacted copy.
            params = (
                resolve_params(
                    self.spec, dict(self.spec.job(job.name).params), self.spec.job(job.name).type
                )
                if self._from_spec(job)
                else dict(job.params)
            )
            inputs = {n.name: n.outputs or {} for n in needs}
            # Hashed once per attempt: a job waiting for a free slot must not re-read
            # its source files on every poll.
            h = job.input_hash or input_hash(
                job.type, params, hash_inputs(job.type, params, inputs, self.workspace)
            )
            job.input_hash = h
            prior = self._prior(s, job, h)
            if prior is not None:
                job.outputs = prior.outputs
                job.reused_from = prior.id
                job.finished_at = utcnow()
                job.progress = 1.0
                set_status(
                    s,
                    job,
                    Status.skipped.value,
                    message=f"inputs unchanged since job {prior.id}",
                    notifier=self.notifier,
                )
                progressed = True
                continue
            if len(running) >= self.executor.slots:
                continue
            job.attempts += 1
            job.error = None
            job.started_at = utcnow()
            job.progress = 0.0
            payload = {
                "job_id": job.id,
                "name": job.name,
                "type": job.type,
                "params": params,
                "inputs": inputs,
                "input_hash": h,
                "workspace": str(self.workspace),
                "meta": self.db.url,
                "webhook": self.notifier.url,
            }
            set_status(
                s,
                job,
                Status.queued.value,
                message=f"attempt {job.attempts} on {self.executor.name}",
                notifier=self.notifier,
            )
            s.flush()
            self.executor.submit(job.id, payload)
            running[job.id] = time.monotonic()
            progressed = True
        return progressed

    def _from_spec(self, job: Job) -> bool:
        return any(j.name == job.name for j in self.spec.jobs)

    def _prior(self, s: Session, job: Job, h: str) -> Job | None:
        q = (
            select(Job)
            .where(
                Job.input_hash == h,
                Job.type == job.type,
                Job.status == Status.succeeded.value,
                Job.id != job.id,
            )
            .order_by(Job.id.desc())
        )
        for prior in s.scalars(q):
            if outputs_exist(self.workspace, prior.outputs):
                return prior
        return None

    def _complete(self, s: Session, job_id: int, result: dict[str, Any], started: float) -> None:
        job = s.get(Job, job_id)
        assert job is not None
        job.finished_at = utcnow()
        job.duration_s = round(time.monotonic() - started, 3)
        if result.get("worker"):
            job.worker = result["worker"]
        if result.get("ok"):
            job.outputs = result["outputs"]
            job.progress = 1.0
            set_status(s, job, Status.succeeded.value, notifier=self.notifier)
            self._record(s, job)
            return
        job.error = redact(str(result.get("error")), self.known)
        tb = result.get("traceback")
        if tb:
            job.logs = ((job.logs or "") + "\n" + redact(tb, self.known))[-40_000:]
        status = (
            Status.cancelled if result.get("cancelled") or job.cancel_requested else Status.failed
        )
        set_status(s, job, status.value, message=job.error, notifier=self.notifier)

    def _record(self, s: Session, job: Job) -> None:
        """Models, metrics, outputs, sources, snapshots and lineage of a succeeded job."""
        out = job.outputs or {}
        params = job.params
        snap = out.get("snapshot")
        if job.type == "ingest" and isinstance(snap, str):
            src = self.spec.sources.get(str(params.get("source")))
            if src is not None:
                s.add(Source(name=src.name, uri=redact(src.uri, self.known), job_id=job.id))
            if s.get(SnapshotRow, snap) is None:
                from relgraph.store.workspace import Workspace

                m = Workspace(self.workspace).snapshot(snap).manifest
                s.add(
                    SnapshotRow(
                        id=snap,
                        source=m.source,
                        parent=m.parent,
                        row_counts=m.row_counts,
                        schema=m.schema.to_dict(),
                    )
                )
        qid = None
        if "query" in params and params["query"] in self.spec.queries:
            text = self.spec.queries[params["query"]]
            qid = hashlib.sha256(text.encode()).hexdigest()[:16]
            if s.get(Query, qid) is None:
                s.add(Query(id=qid, name=params["query"], text=text))
        model = out.get("model") if job.type in ("train", "pretrain") else None
        model = model or out.get("pretrained")
        if isinstance(model, str) and s.get(Model, model) is None:
            s.add(
                Model(
                    id=model,
                    job_id=job.id,
                    snapshot_id=snap,
                    query_id=qid,
                    path=f"{'pretrained' if job.type == 'pretrain' else 'models'}/{model}",
                )
            )
        for name, value in (out.get("metrics") or {}).items():
            s.add(Metric(job_id=job.id, model_id=model, name=name, value=float(value)))
        own = output_rel(job.type, job.input_hash or "")
        for key in FILE_KEYS:
            v = out.get(key)
            if isinstance(v, str) and v.startswith(own):  # not a pass-through of an input
                s.add(Output(job_id=job.id, kind=key, path=v))
        # Lineage: everything this job read → everything it made.
        made = {(k, str(out[k])) for k in LINEAGE_KEYS if isinstance(out.get(k), str)}
        read: set[tuple[str, str]] = set()
        if qid is not None:
            read.add(("query", qid))
        for need in s.scalars(select(Job).where(Job.run_id == job.run_id, Job.name.in_(job.needs))):
            for k in LINEAGE_KEYS:
                v = (need.outputs or {}).get(k)
                if isinstance(v, str):
                    read.add((k, v))
        for src_kind, src_id in sorted(read):
            for dst_kind, dst_id in sorted(made - read):
                s.add(
                    Lineage(
                        src_kind=src_kind,
                        src_id=src_id,
                        dst_kind=dst_kind,
                        dst_id=dst_id,
                        job_id=job.id,
                    )
                )

    def _handle_cancels(self, run_id: int) -> None:
        def cancels(s: Session) -> None:
            for job in self._jobs(s, run_id):
                if not job.cancel_requested:
                    continue
                if job.status in (Status.queued.value, Status.running.value):
                    self.executor.cancel(job.id)
                elif job.status == Status.pending.value:
                    job.error = "cancelled before it started"
                    job.finished_at = utcnow()
                    set_status(
                        s, job, Status.cancelled.value, message=job.error, notifier=self.notifier
                    )

        self.db.write(cancels)

    def _finish(self, run_id: int) -> RunResult:
        def fin(s: Session) -> RunResult:
            run = s.get(Run, run_id)
            assert run is not None
            jobs = self._jobs(s, run_id)
            ok = all(Status(j.status).ok for j in jobs)
            run.status = Status.succeeded.value if ok else Status.failed.value
            run.finished_at = utcnow()
            return RunResult(run_id=run_id, status=run.status, jobs=jobs)

        return self.db.write(fin)


def run_pipeline(
    spec: str | Path | PipelineSpec,
    *,
    workspace: str | Path | None = None,
    meta: str | None = None,
    executor: str | Executor | None = None,
    webhook: str | None = None,
    on_update: UpdateFn | None = None,
) -> RunResult:
    """Run a pipeline spec (a YAML file or a :class:`PipelineSpec`) to its end.

    ``workspace`` defaults to the spec's ``workspace:`` (relative to the spec), then
    ``.relgraph``; ``meta`` to ``workspace/meta.db``.
    """
    from relgraph.store.workspace import DEFAULT_WORKSPACE

    spec = spec if isinstance(spec, PipelineSpec) else PipelineSpec.load(spec)
    if workspace is None:
        workspace = spec.resolve_path(spec.workspace) if spec.workspace else DEFAULT_WORKSPACE
    db = MetaDB.open(meta, workspace=workspace)
    ex = (
        executor
        if executor is not None and not isinstance(executor, str)
        else make_executor(executor)
    )
    try:
        return Runner(
            spec, workspace=workspace, db=db, executor=ex, webhook=webhook, on_update=on_update
        ).run()
    finally:
        db.dispose()
