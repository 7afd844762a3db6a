"""The job interface the service talks to, and a small in-process runner behind it.

Requests never do long work: they ``submit`` a job and return its id; the dashboard
and the SDK poll ``get``/``logs``. :class:`JobRunner` is the seam — the local runner
here keeps state in ``<workspace>/service-jobs/`` and runs jobs on worker threads;
:mod:`relgraph.jobs` (metadata DB, DAG, executors) plugs in behind the same methods.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from relgraph.errors import JobError, RelgraphError
from relgraph.store import atomic

log = logging.getLogger("relgraph.service.jobs")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
MAX_LOG_LINES = 10_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobCancelled(Exception):
    """Raised inside a job (at its next progress report) once it was cancelled."""


@dataclass(frozen=True)
class JobInfo:
    """One job as the API shows it. ``params`` are already free of secrets."""

    id: str
    kind: str
    params: dict[str, Any]
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    retry_of: str | None = None
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "result": self.result,
            "retry_of": self.retry_of,
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobInfo:
        fields: dict[str, Any] = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**fields)


class JobContext:
    """Handed to a job function: report progress, write log lines, notice cancellation."""

    def __init__(self, runner: LocalJobRunner, job_id: str) -> None:
        self._runner = runner
        self.job_id = job_id
        self.cancelled = threading.Event()

    def log(self, line: str) -> None:
        self._runner._append_log(self.job_id, line)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` (0..1) done; raises :class:`JobCancelled` after a cancel."""
        if self.cancelled.is_set():
            raise JobCancelled()
        self._runner._update(
            self.job_id, progress=max(0.0, min(1.0, float(fraction))), message=message
        )

    def check(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()


# A job kind: (context, params with secrets) -> JSON-ready result.
JobFn = Callable[[JobContext, dict[str, Any]], dict[str, Any]]


class JobRunner(Protocol):
    """What the service needs from a job system."""

    kinds: dict[str, JobFn]

    def submit(
        self, kind: str, params: dict[str, Any], *, created_by: str | None = None
    ) -> JobInfo: ...
    def get(self, job_id: str) -> JobInfo: ...
    def list(
        self, *, limit: int, offset: int, status: str | None = None, kind: str | None = None
    ) -> tuple[builtins.list[JobInfo], int]: ...
    def logs(self, job_id: str, *, limit: int, offset: int) -> tuple[builtins.list[str], int]: ...
    def cancel(self, job_id: str) -> JobInfo: ...
    def retry(self, job_id: str, *, created_by: str | None = None) -> JobInfo: ...
    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo: ...
    def shutdown(self) -> None: ...


class LocalJobRunner:
    """Runs jobs on ``workers`` threads of this process; state persisted as JSON per job.

    Jobs that were queued or running when the process stopped are marked failed at the
    next start ("interrupted"): their outputs are written atomically, so they left none,
    and ``retry`` runs them again.
    """

    def __init__(
        self,
        workspace: str | Path,
        kinds: dict[str, JobFn],
        *,
        workers: int = 1,
        redact: Callable[[dict[str, Any]], dict[str, Any]] = lambda p: p,
    ) -> None:
        self.root = Path(workspace) / "service-jobs"
        self.kinds = kinds
        self._redact = redact
        self._lock = threading.RLock()
        self._jobs: dict[str, JobInfo] = {}
        self._order: list[str] = []  # newest first
        self._logs: dict[str, list[str]] = {}
        self._secrets: dict[str, dict[str, Any]] = {}  # full params, memory only
        self._ctx: dict[str, JobContext] = {}
        self._done: dict[str, threading.Event] = {}
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # started on the first submit
        self._load()

    def __repr__(self) -> str:
        return f"LocalJobRunner({str(self.root)!r}, jobs={len(self._jobs)})"

    # -- persistence -------------------------------------------------------------
    def _load(self) -> None:
        if not self.root.is_dir():
            return
        jobs = []
        for p in self.root.glob("*.json"):
            try:
                jobs.append(JobInfo.from_dict(json.loads(p.read_text())))
            except (ValueError, TypeError) as e:
                log.warning("skipping unreadable job file %s: %s", p, e)
        for j in sorted(jobs, key=lambda j: j.created, reverse=True):
            if j.status not in FINISHED:
                j = replace(
                    j, status="failed", error="interrupted: the server stopped", finished=_now()
                )
                self._save(j)
            self._jobs[j.id] = j
            self._order.append(j.id)
            logf = self.root / f"{j.id}.log"
            self._logs[j.id] = logf.read_text().splitlines() if logf.is_file() else []
            ev = threading.Event()
            ev.set()
            self._done[j.id] = ev

    def _save(self, job: JobInfo) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.root / f"{job.id}.json", json.dumps(job.to_dict(), default=str))

    def _update(self, job_id: str, **changes: Any) -> JobInfo:
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
        # Progress ticks are frequent; persist only state changes.
        if set(changes) - {"progress", "message"}:
            self._save(job)
        return job

    def _append_log(self, job_id: str, line: str) -> None:
        stamped = f"{_now()} {line}"
        with self._lock:
            lines = self._logs.setdefault(job_id, [])
            if len(lines) < MAX_LOG_LINES:
                lines.append(stamped)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{job_id}.log", "a") as f:
            f.write(stamped + "\n")

    # -- running -------------------------------------------------------------------
    def _run(self, job_id: str) -> None:
        ctx = self._ctx[job_id]
        job = self._jobs[job_id]
        if ctx.cancelled.is_set():
            self._done[job_id].set()
            return
        self._update(job_id, status="running", started=_now())
        self._append_log(job_id, f"started {job.kind}")
        try:
            result = self.kinds[job.kind](ctx, self._secrets.get(job_id, job.params))
        except JobCancelled:
            self._update(job_id, status="cancelled", finished=_now())
            self._append_log(job_id, "cancelled")
        except RelgraphError as e:
            self._update(job_id, status="failed", finished=_now(), error=e.message)
            self._append_log(job_id, f"failed: {type(e).__name__}: {e.message}")
        except Exception as e:  # a bug, not a user error: keep the traceback in the log
            self._update(job_id, status="failed", finished=_now(), error=f"{type(e).__name__}: {e}")
            for line in traceback.format_exc().splitlines():
                self._append_log(job_id, line)
        else:
            self._update(
                job_id,
                status="succeeded",
                finished=_now(),
                progress=1.0,
                message="done",
                result=result,
            )
            self._append_log(job_id, "succeeded")
        finally:
            self._secrets.pop(job_id, None)
            self._done[job_id].set()

    # -- JobRunner -------------------------------------------------------------------
    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        created_by: str | None = None,
        retry_of: str | None = None,
    ) -> JobInfo:
        if kind not in self.kinds:
            raise JobError(f"unknown job kind '{kind}'; kinds: {', '.join(sorted(self.kinds))}")
        job = JobInfo(
            id=uuid.uuid4().hex[:12],
            kind=kind,
            params=self._redact(params),
            created_by=created_by,
            retry_of=retry_of,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._order.insert(0, job.id)
            self._logs[job.id] = []
            self._secrets[job.id] = dict(params)
            self._ctx[job.id] = JobContext(self, job.id)
            self._done[job.id] = threading.Event()
        self._save(job)
        self._append_log(job.id, f"queued {kind}")
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix="relgraph-job"
                )
            self._pool.submit(self._run, job.id)
        return job

    def get(self, job_id: str) -> JobInfo:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobError(f"no job '{job_id}'")
        return job

    def list(
        self, *, limit: int, offset: int, status: str | None = None, kind: str | None = None
    ) -> tuple[builtins.list[JobInfo], int]:
        with self._lock:
            jobs = [self._jobs[i] for i in self._order]
        if status is not None:
            jobs = [j for j in jobs if j.status == status]
        if kind is not None:
            jobs = [j for j in jobs if j.kind == kind]
        return jobs[offset : offset + limit], len(jobs)

    def logs(self, job_id: str, *, limit: int, offset: int) -> tuple[builtins.list[str], int]:
        self.get(job_id)
        with self._lock:
            lines = list(self._logs.get(job_id, []))
        return lines[offset : offset + limit], len(lines)

    def cancel(self, job_id: str) -> JobInfo:
        job = self.get(job_id)
        if job.status in FINISHED:
            raise JobError(f"job '{job_id}' already {job.status}; nothing to cancel")
        ctx = self._ctx.get(job_id)
        if ctx is not None:
            ctx.cancelled.set()
        if job.status == "queued":
            # It never started: the worker will skip it.
            job = self._update(job_id, status="cancelled", finished=_now())
            self._append_log(job_id, "cancelled before start")
        return self.get(job_id)

    def retry(self, job_id: str, *, created_by: str | None = None) -> JobInfo:
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobError(
                f"job '{job_id}' is {job.status}; only failed or cancelled jobs can be retried"
            )
        return self.submit(job.kind, job.params, created_by=created_by, retry_of=job.id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        self.get(job_id)
        self._done[job_id].wait(timeout)
        return self.get(job_id)

    def shutdown(self) -> None:
        """Cancel what runs, wait for the workers; a later ``submit`` starts new ones."""
        with self._lock:
            pool, self._pool = self._pool, None
            for job_id, ctx in self._ctx.items():
                if self._jobs[job_id].status not in FINISHED:
                    ctx.cancelled.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        # Jobs dropped from the queue never ran: record them as cancelled.
        for job_id, job in list(self._jobs.items()):
            if job.status == "queued":
                self._update(job_id, status="cancelled", finished=_now())
                self._done[job_id].set()
