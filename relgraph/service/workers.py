"""``relgraph serve --workers N``: job worker processes beside the HTTP process.

The HTTP process records jobs (``queued``) and answers requests; it runs none. Each of
the N worker processes is a :class:`~relgraph.service.runner.DBJobRunner` on the same
metadata DB that claims queued jobs of this service (the claim locks the job's row, so
each job runs once) and runs them. A cancel reaches the worker running the job through
the DB (its runner reads the flag within ``CANCEL_POLL_S``). A worker that dies is
started again; the new one marks the job the dead one was running as lost.

Processes, not threads: a job holds the GIL through much of its Python code (feature
building, sampling glue), so threads of one process share one core's worth of Python.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("relgraph.service.workers")

# How often the service looks for worker processes that died.
MONITOR_S = 2.0


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process needs to run this service's jobs (picklable: the workers are
    spawned, not forked, from a process that already runs threads)."""

    workspace: str
    secrets_dir: str
    owner_pid: int  # the HTTP process: the owner of the jobs it records
    meta: str | None = None
    source_roots: tuple[str, ...] = ()
    allow_urls: tuple[str, ...] = ()
    threads: int = 1


def worker_main(config: WorkerConfig, index: int) -> None:
    """A worker process: claim and run this service's jobs until told to stop or until
    the service is gone."""
    from relgraph.jobs.secretstore import SecretStore
    from relgraph.service.policy import SourcePolicy
    from relgraph.service.runner import DBJobRunner
    from relgraph.service.tasks import default_kinds

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C reaches the group: the
    # service stops its workers itself, in order
    ws = Path(config.workspace)
    store = SecretStore(config.secrets_dir)
    policy = SourcePolicy(
        roots=config.source_roots, allow_urls=config.allow_urls, workspace=ws, secrets=store
    )
    runner = DBJobRunner(
        ws,
        default_kinds(ws, policy),
        workers=config.threads,
        meta=config.meta,
        secrets=store,
        owner_pid=config.owner_pid,
    )
    runner.start()
    log.info("job worker %d (pid %d) ready", index, os.getpid())
    while not stop.wait(1.0):
        if os.getppid() != config.owner_pid:
            # The service died (kill -9, out of memory): go as abruptly. What ran here stays
            # "running" until the next service reports it lost, with how to retry it; a
            # clean shutdown would record "cancelled", which nobody asked for.
            log.warning("job worker %d: the service (pid %d) is gone", index, config.owner_pid)
            os._exit(70)
    runner.shutdown()


class WorkerPool:
    """N worker processes, started again when one dies, stopped with the service."""

    def __init__(self, config: WorkerConfig, n: int) -> None:
        self.config = config
        self.n = n
        self._ctx: Any = mp.get_context("spawn")
        self._procs: list[Any] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WorkerPool(n={self.n}, alive={sum(p.is_alive() for p in self._procs)})"

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.pid is not None]

    def _spawn(self, index: int) -> Any:
        p = self._ctx.Process(
            target=worker_main, args=(self.config, index), name=f"relgraph-worker-{index}"
        )
        p.start()
        return p

    def start(self) -> None:
        with self._lock:
            self._procs = [self._spawn(i) for i in range(self.n)]
        self._monitor = threading.Thread(target=self._watch, name="relgraph-workers", daemon=True)
        self._monitor.start()

    def _watch(self) -> None:
        while not self._stop.wait(MONITOR_S):
            with self._lock:
                for i, p in enumerate(self._procs):
                    if not p.is_alive() and not self._stop.is_set():
                        log.warning(
                            "job worker %d (pid %s) exited with %s; starting another",
                            i,
                            p.pid,
                            p.exitcode,
                        )
                        self._procs[i] = self._spawn(i)

    def close(self, timeout: float = 60.0) -> None:
        """Stop the workers: each cancels what it runs (those jobs end ``cancelled``) and
        leaves what is queued for the next service."""
        self._stop.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker shuts its runner down
        for p in procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(5)
