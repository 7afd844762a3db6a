"""Where jobs run: a local pool of worker processes, or a Ray cluster.

Both take a job payload (a JSON-able dict) and hand back
:func:`relgraph.jobs.worker.execute`'s result; a worker that dies (SIGKILL,
out of memory, a lost Ray node) comes back as a failed result naming why.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from relgraph.errors import JobError
from relgraph.jobs.procs import pid_alive

log = logging.getLogger(__name__)

# Attempts at a Ray connection whose server-side start failed (see RayExecutor._connect).
RAY_CONNECT_ATTEMPTS = 3


class Executor(Protocol):
    name: str
    slots: int

    def submit(self, key: int, payload: dict[str, Any]) -> None: ...

    def poll(self, timeout: float) -> list[tuple[int, dict[str, Any]]]: ...

    def cancel(self, key: int) -> None: ...

    def close(self) -> None: ...


def _child(payload: dict[str, Any], conn: Connection) -> None:
    # Its own process group: cancelling a job also stops what the job started.
    os.setpgrp()
    # Jobs share the machine: each gets its slice of the cores, or torch/numba in
    # N parallel jobs would each start one thread per core and thrash.
    threads = str(payload.get("threads") or "")
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ.setdefault(var, threads)
    _exit_with_runner(int(payload["runner_pid"]))
    from relgraph.jobs.worker import execute

    conn.send(execute(payload))
    conn.close()


def _exit_with_runner(runner: int) -> None:
    """Stop this worker when the runner that started it dies.

    Without this a SIGKILLed runner would leave jobs running that nobody records;
    the staging folder a stopped worker leaves is removed by the next attempt.
    """
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not pid_alive(runner):
                os._exit(70)

    threading.Thread(target=watch, name="relgraph-parent-watch", daemon=True).start()


@dataclass
class _Proc:
    process: Any
    conn: Connection
    cancelled: bool = False


@dataclass
class LocalExecutor:
    """One worker process per job, at most ``slots`` at once (default: the CPU count)."""

    slots: int = field(default_factory=lambda: os.cpu_count() or 1)
    name: str = "local"
    _running: dict[int, _Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # forkserver: workers fork from a clean server that has imported relgraph
        # once, not from this (possibly threaded) runner.
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._ctx: Any = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["relgraph.jobs.worker"])

    def __repr__(self) -> str:
        return f"LocalExecutor(slots={self.slots})"

    def submit(self, key: int, payload: dict[str, Any]) -> None:
        payload = payload | {
            "threads": max(1, (os.cpu_count() or 1) // self.slots),
            "runner_pid": os.getpid(),
        }
        recv, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(payload, send), name=f"relgraph-job-{key}")
        proc.start()
        send.close()
        self._running[key] = _Proc(proc, recv)

    def poll(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        from multiprocessing.connection import wait

        if not self._running:
            return []
        handles = [p.conn for p in self._running.values()] + [
            p.process.sentinel for p in self._running.values()
        ]
        wait(handles, timeout)
        done: list[tuple[int, dict[str, Any]]] = []
        for key, p in list(self._running.items()):
            result: dict[str, Any] | None = None
            if p.conn.poll():
                try:
                    result = p.conn.recv()
                except (EOFError, OSError):
                    result = None
            if result is None and p.process.is_alive():
                continue
            p.process.join(5)
            if result is None:
                code = p.process.exitcode
                if p.cancelled:
                    why = "cancelled"
                elif code is not None and code < 0:
                    why = f"worker process killed by signal {signal.Signals(-code).name}"
                else:
                    why = f"worker process exited with code {code} before reporting a result"
                result = {"ok": False, "error": why, "cancelled": p.cancelled}
            p.conn.close()
            del self._running[key]
            done.append((key, result))
        return done

    def cancel(self, key: int) -> None:
        p = self._running.get(key)
        if p is None:
            return
        p.cancelled = True
        try:
            os.killpg(p.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            p.process.terminate()

    def close(self) -> None:
        for key in list(self._running):
            self.cancel(key)
        for p in self._running.values():
            p.process.join(5)
        self._running.clear()


@dataclass
class RayExecutor:
    """Jobs as Ray tasks: ``address`` is ``auto``/``None`` (local or $RAY_ADDRESS), ``host:port``
    or ``ray://host:port`` (Ray client)."""

    address: str | None = None
    slots: int = 0
    name: str = "ray"
    _refs: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            import ray
        except ImportError as e:
            raise JobError(
                "the Ray executor needs the 'ray' package: pip install 'ray[default]'"
            ) from e
        self._ray: Any = ray
        if not ray.is_initialized():
            self._connect()
        from relgraph.jobs.worker import execute

        self._remote = ray.remote(execute)
        if not self.slots:
            self.slots = max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def _connect(self) -> None:
        # A Ray client proxy starts one server process per connecting client, and that start
        # sometimes dies at once (seen in 4 of 13 test runs on a 2-core machine; the proxy
        # then answers "Initialization failure from server"). Ray disconnects cleanly on that
        # failure and the next attempt gets a fresh server, so it is retried; other errors
        # (wrong address, version mismatch) are not transient and fail at once.
        for attempt in range(1, RAY_CONNECT_ATTEMPTS + 1):
            try:
                self._ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
                return
            except ConnectionAbortedError as e:
                if attempt == RAY_CONNECT_ATTEMPTS:
                    raise JobError(
                        f"cannot connect to Ray at '{self.address}' after {attempt} attempts: {e}"
                    ) from e
                log.warning(
                    "Ray at %s refused the connection (attempt %d of %d), retrying: %s",
                    self.address,
                    attempt,
                    RAY_CONNECT_ATTEMPTS,
                    str(e).splitlines()[0],
                )
                time.sleep(2.0 * attempt)
            except Exception as e:
                raise JobError(f"cannot connect to Ray at '{self.address or 'local'}': {e}") from e

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, slots={self.slots})"

    def submit(self, key: int, payload: dict[str, Any]) -> None:
        cpus = float(payload["params"].get("num_cpus", 1))
        # Ray must not retry on its own: the runner decides, and records attempts.
        self._refs[key] = self._remote.options(num_cpus=cpus, max_retries=0).remote(payload)

    def poll(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        if not self._refs:
            return []
        # Ray client hands back new ref objects: match them by id, not identity.
        keys = {ref.hex(): k for k, ref in self._refs.items()}
        ready, _ = self._ray.wait(
            list(self._refs.values()), num_returns=len(self._refs), timeout=timeout
        )
        done = []
        for ref in ready:
            key = keys[ref.hex()]
            try:
                result = self._ray.get(ref)
            except self._ray.exceptions.TaskCancelledError:
                result = {"ok": False, "error": "cancelled", "cancelled": True}
            except Exception as e:  # a lost worker or node
                result = {"ok": False, "error": f"Ray task failed: {type(e).__name__}: {e}"}
            del self._refs[key]
            done.append((key, result))
        return done

    def cancel(self, key: int) -> None:
        ref = self._refs.get(key)
        if ref is not None:
            self._ray.cancel(ref, force=True)

    def close(self) -> None:
        for key in list(self._refs):
            self.cancel(key)
        self._refs.clear()


def make_executor(spec: str | None, *, slots: int | None = None) -> Executor:
    """``local`` (default), ``local:N``, ``ray``, ``ray:host:port`` or ``ray://host:port``."""
    spec = spec or "local"
    if spec == "local" or spec.startswith("local:"):
        n = slots or (int(spec.split(":", 1)[1]) if ":" in spec else None)
        return LocalExecutor(slots=n) if n else LocalExecutor()
    if spec == "ray":
        return RayExecutor(address=os.environ.get("RAY_ADDRESS"), slots=slots or 0)
    if spec.startswith("ray://"):
        return RayExecutor(address=spec, slots=slots or 0)
    if spec.startswith("ray:"):
        return RayExecutor(address=spec[len("ray:") :], slots=slots or 0)
    raise JobError(f"unknown executor '{spec}'; use 'local', 'local:N', 'ray' or 'ray://host:port'")
