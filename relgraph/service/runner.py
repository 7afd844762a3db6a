"""The service's jobs, kept in the metadata DB of :mod:`relgraph.jobs`.

There is one job store: ``<workspace>/meta.db`` (or ``--meta URL``). A job started
through the REST API, the dashboard or the SDK is a row of ``jobs`` in a run of its
own (``runs.executor == "service"``), so ``relgraph jobs`` lists it, and the service
lists, cancels and retries the jobs of ``relgraph run pipeline.yaml`` by the same ids.

Requests never do long work: :meth:`DBJobRunner.submit` records a ``queued`` job and
returns; worker threads of the service (or of its worker processes, ``relgraph serve
--workers N``) claim queued service jobs from the DB (one transaction that locks the
job's row: a job is claimed once) and run them (the kinds of :mod:`relgraph.jobs.registry`).
Progress and log lines reach the DB at most every :data:`FLUSH_S` (a watcher thread
writes what a job in a long step said last); a cancel (REST or ``relgraph jobs cancel``) sets
``cancel_requested``, which the runner reads within :data:`CANCEL_POLL_S` and the job's
loops notice at their next check (:mod:`relgraph.cancel`).

On start the runner adopts queued jobs whose service died (they never started, so
they simply run now) and calls :func:`relgraph.jobs.runner.recover`, which marks the
jobs a dead service left ``running`` as failed ("lost"); ``retry`` runs them again.
Connection secrets never reach the DB (:mod:`relgraph.redact`): it stores redacted
parameters, and a job whose parameters held a secret keeps the full ones in the
secret store (:mod:`relgraph.jobs.secretstore`, outside the workspace), referenced by
its run's ``secret_ref``, so that a queued job still runs after the service was
killed. Log lines, progress messages, errors and results are redacted, with the job's
own secrets as known values, before they are written.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from relgraph.cancel import CancelToken, JobCancelled
from relgraph.cancel import check as cancel_check
from relgraph.cancel import scope as cancel_scope
from relgraph.errors import JobError, JobParameterError, RelgraphError
from relgraph.jobs import queue
from relgraph.jobs.control import RETRYABLE, cancel_queued_service_job, requeue_service_job
from relgraph.jobs.db import BUSY_TIMEOUT_MS, MetaDB
from relgraph.jobs.events import set_status
from relgraph.jobs.models import (
    DONE,
    SERVICE_EXECUTOR,
    Event,
    Job,
    Run,
    Status,
    is_service_run,
    utcnow,
)
from relgraph.jobs.progress import eta_seconds
from relgraph.jobs.runner import recover
from relgraph.jobs.secretstore import SecretStore
from relgraph.redact import redact, redact_params, secret_values

log = logging.getLogger("relgraph.service.jobs")
T = TypeVar("T")

STATUSES = tuple(s.value for s in Status)
FINISHED = tuple(sorted(s.value for s in DONE))
# How often a running job's progress and log lines are written, and its cancel flag read.
FLUSH_S = 0.5
HEARTBEAT_S = 10.0
# How often the jobs running here are looked after between their own reports: their
# pending progress written, their cancel flags read (a cancel through another process, a
# second service or 'relgraph jobs cancel', reaches a job in the middle of a long step).
CANCEL_POLL_S = 0.5
# Idle workers look for jobs queued by other processes (a CLI retry) this often.
POLL_S = 1.0
# Reads are cached until the DB changes; changes by other processes are seen within this.
READ_TTL_S = 1.0
MAX_LOG_CHARS = 200_000


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:  # SQLite hands back the UTC times it stored without their zone
        t = t.replace(tzinfo=UTC)
    return t.isoformat(timespec="milliseconds")


def _stamp() -> str:
    return utcnow().isoformat(timespec="milliseconds")


def _finite(v: Any) -> Any:
    """JSON that any client parses: NaN and infinities become null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


@dataclass(frozen=True)
class JobInfo:
    """One job as the API shows it. ``params`` are free of secrets.

    ``origin`` is ``service`` for jobs started through the REST API and ``pipeline`` for
    the jobs of ``relgraph run`` (``name`` is then the job's name in the spec).
    """

    id: str
    kind: str
    params: dict[str, Any]
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    name: str = ""
    run_id: int | None = None
    attempts: int = 0
    origin: str = "service"
    # Seconds a running job has left at its pace so far (None when not running or unknown).
    eta_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "origin": self.origin,
            "run_id": self.run_id,
            "params": self.params,
            "status": self.status,
            "progress": self.progress,
            "eta_s": self.eta_s,
            "message": self.message,
            "attempts": self.attempts,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "result": self.result,
            "created_by": self.created_by,
        }


class JobContext:
    """Handed to a job function: report progress, write log lines, notice cancellation
    (a :class:`relgraph.jobs.kinds.Context` whose jobs name what they read by id)."""

    surface: Literal["service"] = "service"
    inputs: Mapping[str, Mapping[str, Any]] = MappingProxyType({})  # no upstream jobs

    def __init__(
        self,
        runner: DBJobRunner,
        job_id: int,
        known: frozenset[str] = frozenset(),
        kind: str = "",
    ) -> None:
        self._runner = runner
        self.job_id = str(job_id)
        self._id = job_id
        self.workspace = runner.workspace
        self.name = self.type = kind
        self.known = known  # the job's secrets: masked in whatever it logs
        # Set by a cancel through this process, or seen in the DB by the cancel watcher;
        # the job's loops check it (relgraph.cancel) and stop within a step.
        self.token = CancelToken()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._lines: list[str] = []
        self._progress: tuple[float, str] | None = None
        self._shown = 0.0
        self._last_flush = time.monotonic()

    def log(self, line: str) -> None:
        with self._lock:
            self._lines.append(f"{_stamp()} {redact(line, self.known)}")
        self._maybe_flush()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` (0..1) done, never less than reported before; raises
        :class:`JobCancelled` after a cancel."""
        self.check()
        with self._lock:
            self._shown = max(self._shown, min(1.0, float(fraction)))
            self._progress = (self._shown, redact(message, self.known))
        self._maybe_flush()
        self.check()

    def report(self, fraction: float, message: str) -> None:
        """The job's fraction done (what :mod:`relgraph.jobs.kinds` calls)."""
        self.progress(fraction, message)

    def check(self) -> None:
        self._maybe_flush()
        if self.token.cancelled:
            raise JobCancelled("cancelled")

    def pending(self) -> bool:
        """Whether progress or log lines wait to be written."""
        with self._lock:
            return self._progress is not None or bool(self._lines)

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write pending progress and log lines; pick up a cancel requested elsewhere."""
        # One flush at a time (the job's thread and the runner's watcher both flush): the
        # DB sees the lines and the progress in the order they came.
        with self._flush_lock:
            with self._lock:
                lines, self._lines = self._lines, []
                prog, self._progress = self._progress, None
                self._last_flush = time.monotonic()
            if self._runner.flush(self._id, lines, prog):
                self.token.cancel()


# A job kind: (context, params with secrets) -> JSON-ready result. One with a
# ``check_params(params)`` method has its parameters checked on submit.
JobFn = Callable[[JobContext, dict[str, Any]], dict[str, Any]]


class JobRunner(Protocol):
    """What the service needs from a job system."""

    kinds: Mapping[str, JobFn]

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
    def start(self) -> None: ...
    def shutdown(self) -> None: ...


def _job_id(job_id: str) -> int:
    if not job_id.isdigit() or len(job_id) > 18:
        raise JobError(f"no job '{job_id[:80]}'; job ids are numbers (GET /api/v1/jobs)")
    return int(job_id)


def _read_engine(db: MetaDB) -> Engine | None:
    """An engine whose reads do not take SQLite's write lock (``MetaDB`` begins every
    transaction IMMEDIATE); WAL lets them run beside the writers. None: use ``db``."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )


class DBJobRunner:
    """Service jobs in the metadata DB, run by ``workers`` threads of this process.

    Args:
        workspace: The workspace; the DB is ``workspace/meta.db`` unless ``meta`` is given.
        kinds: Job kind → function (:func:`relgraph.service.tasks.default_kinds`: the
            registry's kinds, bound to this workspace).
        workers: Worker threads (jobs run at once).
        meta: Metadata DB URL (PostgreSQL for a team), as ``relgraph run --meta``.
        secrets: Where the full parameters of jobs with secrets wait (default: the
            workspace's :class:`~relgraph.jobs.secretstore.SecretStore`).
        owner_pid: The service process whose jobs this runner records and claims
            (default: this one). A worker process of ``relgraph serve --workers N``
            claims the jobs of the HTTP process that started it.
    """

    def __init__(
        self,
        workspace: str | Path,
        kinds: Mapping[str, JobFn],
        *,
        workers: int = 1,
        meta: str | None = None,
        secrets: SecretStore | None = None,
        owner_pid: int | None = None,
    ) -> None:
        self.workspace = Path(workspace)
        self.kinds: Mapping[str, JobFn] = kinds
        self.meta = meta
        self.db = MetaDB.open(meta, workspace=workspace)
        self._reader = _read_engine(self.db)
        self.secrets = secrets or SecretStore.for_workspace(self.workspace)
        self._workers = workers
        self._host = socket.gethostname()
        # ``_pid`` owns the jobs (runs.pid); ``_own_pid`` runs them (jobs.pid: a job whose
        # process died is lost, though its service lives on).
        self._pid = owner_pid or os.getpid()
        self._own_pid = os.getpid()
        self._lock = threading.Lock()
        self._ctx: dict[int, JobContext] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Read cache: cleared by this process's writes (``_version``), by changes of the
        # DB files (other processes' writes), and at the latest after READ_TTL_S.
        self._version = 0
        self._cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
        self._files = self._db_files()
        self._adopt_and_recover()

    def __repr__(self) -> str:
        return f"DBJobRunner({self.db.redacted_url!r}, workers={self._workers})"

    # -- DB access ---------------------------------------------------------------------
    def _db_files(self) -> list[Path]:
        db = self.db.engine.url.database
        if self._reader is None or not db:
            return []
        return [Path(db), Path(db + "-wal")]

    def _write(self, fn: Callable[[Session], T]) -> T:
        try:
            return self.db.write(fn)
        finally:
            with self._lock:
                self._version += 1

    def _read(self, fn: Callable[[Session], T]) -> T:
        if self._reader is None:
            return self.db.read(fn)
        engine = self._reader

        def once() -> T:
            with Session(engine) as s:
                return fn(s)

        return self.db.retry(once)

    def _change_key(self) -> tuple[Any, ...]:
        stats: list[Any] = []
        for f in self._files:
            try:
                st = f.stat()
                stats.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stats.append(None)
        return (self._version, int(time.monotonic() / READ_TTL_S), *stats)

    def _cached(self, key: tuple[Any, ...], fn: Callable[[Session], T]) -> T:
        change = self._change_key()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == change:
                return hit[1]  # type: ignore[no-any-return]
        value = self._read(fn)
        with self._lock:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = (change, value)
        return value

    def _info(self, job: Job, run: Run | None) -> JobInfo:
        service = is_service_run(run)
        created_by = queue.run_spec(run).get("created_by") if service else None
        # Stored redacted; redacted again for rows an older relgraph wrote.
        return JobInfo(
            id=str(job.id),
            kind=job.type,
            name=job.name,
            params=redact_params(dict(job.params or {})),
            status=job.status,
            progress=float(job.progress or 0.0),
            message=job.progress_message or "",
            created=_iso(job.created_at),
            started=_iso(job.started_at),
            finished=_iso(job.finished_at),
            error=redact(job.error) if job.error else job.error,
            result=_finite(job.outputs or {}),
            created_by=created_by,
            run_id=job.run_id,
            attempts=job.attempts,
            origin="service" if service else "pipeline",
            eta_s=eta_seconds(
                job.progress, job.started_at, utcnow(), running=job.status == Status.running.value
            ),
        )

    def _load(self, s: Session, job_id: str) -> tuple[Job, Run | None]:
        job = s.get(Job, _job_id(job_id))
        if job is None:
            raise JobError(f"no job '{job_id}'; GET /api/v1/jobs lists them")
        return job, s.get(Run, job.run_id)

    # -- start, recovery, workers ----------------------------------------------------------
    def _adopt_and_recover(self) -> None:
        """Queued jobs of a dead service run here; those it left running are failed."""
        adopted = self._write(lambda s: queue.adopt(s, host=self._host, owner=self._pid))
        if adopted:
            log.info("adopted %d queued job(s) of a stopped service: %s", len(adopted), adopted)
        recover(self.db)

    def start(self) -> None:
        """Start the worker threads (idempotent); ``submit`` calls it too."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            if self._threads:
                return
            self._stop.clear()
            for i in range(self._workers):
                t = threading.Thread(target=self._work, name=f"relgraph-job-{i}", daemon=True)
                t.start()
                self._threads.append(t)
            for target, name in (
                (self._heartbeat, "relgraph-job-beat"),
                (self._watch_running, "relgraph-job-watch"),
            ):
                t = threading.Thread(target=target, name=name, daemon=True)
                t.start()
                self._threads.append(t)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self._claim()
            except Exception:  # a DB hiccup must not kill the worker
                log.exception("claiming a job failed")
                claimed = None
            if claimed is None:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            self._execute(*claimed)

    def _claim(self) -> tuple[int, str, dict[str, Any], str | None] | None:
        """Take the oldest queued service job this process may run (one transaction)."""
        host, owner = self._host, self._pid
        if not self._read(lambda s: queue.claimable(s, host=host, owner=owner)):
            return None  # the common idle case: no write lock taken
        claimed = self._write(
            lambda s: queue.claim(s, host=host, owner=owner, pid=self._own_pid, kinds=self.kinds)
        )
        if claimed is None:
            return None
        return claimed.job_id, claimed.kind, claimed.params, claimed.secret_ref

    def _execute(
        self, job_id: int, kind: str, params: dict[str, Any], secret_ref: str | None
    ) -> None:
        t0 = time.monotonic()
        status, error, result = Status.succeeded.value, None, None
        # The full parameters: from the secret store when the record holds redacted ones.
        full = self.secrets.get(secret_ref) if secret_ref is not None else params
        ctx = JobContext(self, job_id, frozenset(secret_values(full)), kind)
        with self._lock:
            self._ctx[job_id] = ctx
        try:
            if not isinstance(full, dict):
                raise JobError(
                    f"the secrets of this job are gone from the secret store "
                    f"({self.secrets.root}); submit it again"
                )
            with cancel_scope(ctx.token):
                cancel_check()
                result = redact_params(self.kinds[kind](ctx, full), ctx.known)
        except JobCancelled:
            status, error = Status.cancelled.value, "cancelled"
        except RelgraphError as e:
            status, error = Status.failed.value, redact(e.message, ctx.known)
            ctx.log(f"failed: {type(e).__name__}: {e.message}")
        except Exception as e:  # a bug, not a user error: keep the traceback in the log
            status, error = Status.failed.value, redact(f"{type(e).__name__}: {e}", ctx.known)
            for line in traceback.format_exc().splitlines():
                ctx.log(line)
        ctx.log(status)
        # The last lines go with the end record; after the watcher's flush in flight, if
        # any, so that a late progress write cannot land after "done".
        with ctx._flush_lock, ctx._lock:
            lines, ctx._lines = ctx._lines, []
            ctx._progress = None
        try:
            self._finish(job_id, status, error, result, lines, time.monotonic() - t0)
        except Exception:
            log.exception("recording the end of job %s failed", job_id)
        finally:
            with self._lock:
                self._ctx.pop(job_id, None)
            if status == Status.succeeded.value and secret_ref is not None:
                self.secrets.delete(secret_ref)  # kept only while a retry may need them

    def _finish(
        self,
        job_id: int,
        status: str,
        error: str | None,
        result: dict[str, Any] | None,
        lines: builtins.list[str],
        seconds: float,
    ) -> None:
        def fin(s: Session) -> None:
            job = s.get(Job, job_id)
            if job is None:
                return
            job.logs = _append(job.logs, lines)
            job.finished_at = utcnow()
            job.duration_s = round(seconds, 3)
            job.error = error
            if status == Status.succeeded.value:
                job.progress = 1.0
                job.progress_message = "done"
                job.outputs = _finite(json.loads(json.dumps(result or {}, default=str)))
            set_status(s, job, status, message=error)
            run = s.get(Run, job.run_id)
            if run is not None:
                run.status = status
                run.finished_at = job.finished_at

        self._write(fin)

    def flush(
        self, job_id: int, lines: builtins.list[str], progress: tuple[float, str] | None
    ) -> bool:
        """Write a running job's progress and log lines; True when a cancel was requested."""

        def upd(s: Session) -> bool:
            job = s.get(Job, job_id)
            if job is None:
                return False
            if lines:
                job.logs = _append(job.logs, lines)
            if progress is not None:
                job.progress, job.progress_message = progress
            job.heartbeat_at = utcnow()
            return bool(job.cancel_requested)

        return self._write(upd)

    def _heartbeat(self) -> None:
        # Jobs that report nothing for a while still show a live worker to other hosts.
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                ids = list(self._ctx)
            if not ids:
                continue

            def beat(s: Session, ids: builtins.list[int] = ids) -> None:
                for j in s.scalars(select(Job).where(Job.id.in_(ids))):
                    j.heartbeat_at = utcnow()

            try:
                self._write(beat)
            except Exception:  # a missed beat is not worth stopping for
                log.debug("heartbeat failed", exc_info=True)

    def _watch_running(self) -> None:
        while not self._stop.wait(CANCEL_POLL_S):
            with self._lock:
                running = dict(self._ctx)
            if not running:
                continue

            try:
                # A job in a long step reports nothing: what it said last reaches the DB
                # anyway (a flush also reads its cancel flag); the rest only read the flag.
                quiet = []
                for job_id, ctx in running.items():
                    if ctx.pending():
                        ctx._maybe_flush()
                    else:
                        quiet.append(job_id)
                for job_id in self._asked_to_cancel(quiet) if quiet else ():
                    running[job_id].token.cancel()
            except Exception:  # a DB hiccup: the next poll tries again
                log.debug("watching running jobs failed", exc_info=True)

    def _asked_to_cancel(self, ids: builtins.list[int]) -> set[int]:
        def q(s: Session) -> set[int]:
            asked = select(Job.id).where(Job.id.in_(ids), Job.cancel_requested.is_(True))
            return set(s.scalars(asked))

        return self._read(q)

    # -- JobRunner -------------------------------------------------------------------------
    def submit(
        self, kind: str, params: dict[str, Any], *, created_by: str | None = None
    ) -> JobInfo:
        if kind not in self.kinds:
            # The request names nothing this server runs: a bad parameter (422), not a
            # conflict with the state of a job (409).
            raise JobParameterError(
                f"unknown job kind '{kind}'; kinds: {', '.join(sorted(self.kinds))}"
            )
        # Kinds that can check their parameters up front (registry.ServiceKind) refuse bad ones
        # here: the caller gets a 4xx instead of a job that fails.
        check = getattr(self.kinds[kind], "check_params", None)
        if check is not None:
            check(params)
        shown = redact_params(params, secret_values(params))
        # What the record cannot hold waits in the secret store, for a worker of this or
        # a later service (after a crash) to read.
        ref = self.secrets.put(params) if shown != params else None
        spec = {"kind": kind, "params": shown, "created_by": created_by}
        if ref is not None:
            spec["secret_ref"] = ref

        def create(s: Session) -> JobInfo:
            run = Run(
                pipeline=kind,
                spec_path=None,
                spec_text=json.dumps(spec),
                workspace=str(self.workspace.resolve()),
                executor=SERVICE_EXECUTOR,
                host=self._host,
                pid=self._pid,
                heartbeat_at=utcnow(),
            )
            s.add(run)
            s.flush()
            job = Job(
                run_id=run.id,
                name=kind,
                type=kind,
                params=shown,
                needs=[],
                attempts=1,
                progress=0.0,
                logs=f"{_stamp()} queued {kind}\n",
            )
            s.add(job)
            s.flush()
            by = f"by token {created_by}" if created_by else "through the API"
            set_status(s, job, Status.queued.value, message=f"submitted {by}")
            return self._info(job, run)

        try:
            info = self._write(create)
        except BaseException:
            if ref is not None:
                self.secrets.delete(ref)
            raise
        self.start()
        self._wake.set()
        return info

    def get(self, job_id: str) -> JobInfo:
        return self._cached(("get", job_id), lambda s: self._info(*self._load(s, job_id)))

    def list(
        self, *, limit: int, offset: int, status: str | None = None, kind: str | None = None
    ) -> tuple[builtins.list[JobInfo], int]:
        def q(s: Session) -> tuple[builtins.list[JobInfo], int]:
            where = []
            if status is not None:
                where.append(Job.status == status)
            if kind is not None:
                where.append(Job.type == kind)
            page = s.execute(
                select(Job, Run)
                .join(Run, Run.id == Job.run_id)
                .where(*where)
                .order_by(Job.id.desc())
                .limit(limit)
                .offset(offset)
            )
            items = [self._info(job, run) for job, run in page]
            total = s.scalar(select(func.count(Job.id)).where(*where)) or 0
            return items, int(total)

        return self._cached(("list", limit, offset, status, kind), q)

    def logs(self, job_id: str, *, limit: int, offset: int) -> tuple[builtins.list[str], int]:
        def q(s: Session) -> builtins.list[str]:
            job, run = self._load(s, job_id)
            if is_service_run(run):
                return (job.logs or "").splitlines()
            # A pipeline job: its state changes, then what its worker logged (in a file
            # until the job ends, then in the DB).
            events = s.scalars(select(Event).where(Event.job_id == job.id).order_by(Event.id))
            lines = [f"{_iso(e.at)} {e.status} {e.message or ''}".rstrip() for e in events]
            text = job.logs
            if text is None and run is not None:
                f = Path(run.workspace) / "logs" / f"job-{job.id}.log"
                text = f.read_text(errors="replace")[-MAX_LOG_CHARS:] if f.is_file() else ""
            return lines + (text or "").splitlines()

        lines = self._cached(("logs", job_id), q)
        return lines[offset : offset + limit], len(lines)

    def cancel(self, job_id: str) -> JobInfo:
        def q(s: Session) -> tuple[JobInfo, bool]:
            job, run = self._load(s, job_id)
            if Status(job.status).done:
                raise JobError(f"job '{job_id}' already {job.status}; nothing to cancel")
            service = is_service_run(run)
            if service and job.status == Status.queued.value:
                cancel_queued_service_job(s, job)
            else:
                job.cancel_requested = True  # its worker or pipeline runner stops it
            return self._info(job, run), service

        info, service = self._write(q)
        with self._lock:
            ctx = self._ctx.get(int(info.id))
        if ctx is not None:
            ctx.token.cancel()
        if not service:
            recover(self.db)  # a pipeline job whose runner is gone would never stop
            with self._lock:
                self._version += 1
            info = self.get(job_id)
        return info

    def retry(self, job_id: str, *, created_by: str | None = None) -> JobInfo:
        """Run a failed or cancelled job again under the same id (attempts + 1).

        A pipeline job is retried as ``relgraph jobs retry`` does (it and the jobs it
        blocked, in its run), on a thread of this service.
        """
        by = f"token {created_by}" if created_by else "the API"

        def q(s: Session) -> tuple[JobInfo, bool]:
            job, run = self._load(s, job_id)
            if not is_service_run(run):
                if job.status not in RETRYABLE:
                    raise JobError(
                        f"job '{job_id}' is {job.status}; only failed, cancelled or blocked "
                        "jobs can be retried"
                    )
                if run is not None and run.status == Status.running.value:
                    raise JobError(
                        f"run {run.id} of job '{job_id}' is still running; wait for it or cancel it"
                    )
                return self._info(job, run), False
            requeue_service_job(
                s,
                job,
                by=f"retry (attempt {job.attempts + 1}) by {by}",
                owner=(self._host, self._pid),
            )
            return self._info(job, run), True

        info, service = self._write(q)
        if service:
            self.start()
            self._wake.set()
            return info
        return self._retry_pipeline_job(info)

    def _retry_pipeline_job(self, info: JobInfo) -> JobInfo:
        from relgraph.jobs.control import retry_job

        started = threading.Event()

        def run() -> None:
            try:
                retry_job(
                    int(info.id),
                    workspace=self.workspace,
                    meta=self.meta,
                    on_update=lambda _jobs: started.set(),
                )
            except Exception:  # recorded in the DB by the pipeline runner
                log.exception("retry of pipeline job %s failed", info.id)
            finally:
                started.set()
                with self._lock:
                    self._version += 1

        threading.Thread(target=run, name=f"relgraph-retry-{info.id}", daemon=True).start()
        started.wait(10.0)  # until its run has put the job back to pending
        with self._lock:
            self._version += 1
        return self.get(info.id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.status in FINISHED or (deadline is not None and time.monotonic() > deadline):
                return info
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Cancel what runs here and stop the workers; jobs still queued stay queued
        (the next service on the workspace runs them); a later ``submit`` starts again."""
        with self._lock:
            threads, self._threads = self._threads, []
            for ctx in self._ctx.values():
                ctx.token.cancel()
        self._stop.set()
        self._wake.set()
        for t in threads:
            t.join(timeout=60)
        # Connections are reopened on the next use.
        if self._reader is not None:
            self._reader.dispose()
        self.db.dispose()


def _append(text: str | None, lines: builtins.list[str]) -> str:
    out = (text or "") + "".join(f"{line}\n" for line in lines)
    return out[-MAX_LOG_CHARS:]
