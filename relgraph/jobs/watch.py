"""Watch a source and, when its data changes, ingest it and run a pipeline (``relgraph watch``).

One loop, one source (a folder of data files or a SQLite file):

1. Every ``interval`` seconds (or at the times of a cron :class:`Schedule`) the
   source's files are *stat*-ed: names, sizes, modification times. That is cheap
   and reads no data.
2. When that changed, the source must hold still first: it is stat-ed again after
   ``settle`` seconds and counts as written only when nothing moved (the
   stable-size check), no SQLite ``-journal`` (a write in progress) is there, and,
   with ``marker=NAME``, the folder holds the file ``NAME`` that a writer creates
   last (``_SUCCESS``). Half-written files are never ingested.
3. Then the content hash (what the pipeline's ingest job hashes) decides: the same
   bytes as the last change handled (a ``touch``, a copy of the same files) do
   nothing. New bytes are ingested into the workspace, then the pipeline runs once
   (:func:`relgraph.jobs.run_pipeline`, which re-runs only the jobs whose inputs
   changed). The hash handled is kept in ``<workspace>/watch/``, so a restarted
   watch does not run the same change twice.
4. A source that cannot be read (a folder that is gone for a moment, an unmounted
   share, a locked file) is retried with exponential backoff, each failure reported;
   ``max_failures`` in a row ends the watch with the last error.

PostgreSQL sources have no cheap change signal here: use a cron schedule with the
pipeline instead (its ingest job reads the database at each run).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relgraph import api
from relgraph.errors import JobError, RelgraphError
from relgraph.jobs.kinds import source_fingerprint
from relgraph.jobs.runner import run_pipeline
from relgraph.jobs.schedule import Schedule
from relgraph.redact import redact
from relgraph.store import atomic

Signature = tuple[tuple[str, int, int], ...]


class SourceUnreachable(JobError):
    """The source could not be read this time (it may come back)."""


@dataclass(frozen=True)
class WatchEvent:
    # change | unstable | waiting | unchanged | ingested | run | unreachable | error | recovered
    kind: str
    message: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class WatchResult:
    runs: list[dict[str, Any]] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "events": [asdict(e) for e in self.events]}


def source_path(source: str) -> Path:
    """The local path a watchable source names; :class:`JobError` for other kinds."""
    if source.startswith("sqlite:///"):
        return Path(source[len("sqlite:///") :])
    if "://" in source:
        raise JobError(
            f"relgraph watch polls folders and SQLite files, not {redact(source).split('://')[0]}"
            ":// sources; give the pipeline a cron schedule instead (relgraph watch --cron)"
        )
    return Path(source)


def signature(source: str) -> Signature:
    """(name, size, mtime) of every file the source consists of; raises SourceUnreachable."""
    path = source_path(source)
    try:
        if path.is_dir():
            entries = []
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue  # hidden: a writer's temporary file, not data yet
                st = f.stat()
                entries.append((str(rel), st.st_size, st.st_mtime_ns))
            return tuple(entries)
        st = path.stat()
        out = [(path.name, st.st_size, st.st_mtime_ns)]
        for suffix in ("-wal", "-journal"):  # SQLite's write-ahead log and rollback journal
            side = path.with_name(path.name + suffix)
            if side.exists():
                s = side.stat()
                out.append((side.name, s.st_size, s.st_mtime_ns))
        return tuple(out)
    except OSError as e:
        raise SourceUnreachable(f"cannot read source '{path}': {e.strerror or e}") from e


def _in_progress(source: str, sig: Signature, marker: str | None) -> str | None:
    """Why the source is not ready to be read, or None."""
    path = source_path(source)
    if not path.is_dir() and any(name.endswith("-journal") for name, _, _ in sig):
        return "a SQLite write is in progress (its -journal file exists)"
    if marker and path.is_dir() and not any(name == marker for name, _, _ in sig):
        return f"waiting for the marker file '{marker}'"
    if not sig:
        return "the source holds no files"
    return None


class Watcher:
    """The state of one watch loop (see the module docstring); :meth:`run` drives it."""

    def __init__(
        self,
        source: str,
        *,
        pipeline: str | Path | None,
        workspace: str | Path,
        interval: float = 60.0,
        settle: float | None = None,
        marker: str | None = None,
        schedule: Schedule | None = None,
        max_runs: int | None = None,
        max_polls: int | None = None,
        max_failures: int | None = None,
        backoff_max: float = 300.0,
        executor: str | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        source_path(source)  # refuses sources it cannot watch, before the loop
        if interval <= 0:
            raise JobError("--interval must be a positive number of seconds")
        self.source = source
        self.pipeline = pipeline
        self.workspace = Path(workspace)
        self.interval = interval
        self.settle = min(interval, 2.0) if settle is None else settle
        self.marker = marker
        self.schedule = schedule
        self.max_runs = max_runs
        self.max_polls = max_polls
        self.max_failures = max_failures
        self.backoff_max = backoff_max
        self.executor = executor
        self.on_event = on_event
        self.sleep = sleep
        self.result = WatchResult()
        self.failures = 0
        key = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        self.state_file = self.workspace / "watch" / f"{key}.json"

    def _emit(self, kind: str, message: str, **data: Any) -> None:
        event = WatchEvent(kind, message, data=data)
        self.result.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _handled(self) -> str | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        fp = state.get("fingerprint") if isinstance(state, dict) else None
        return fp if isinstance(fp, str) else None

    def _remember(self, fingerprint: str, snapshot: str, run: dict[str, Any] | None) -> None:
        atomic.write_text(
            self.state_file,
            json.dumps(
                {
                    "source": redact(self.source),
                    "fingerprint": fingerprint,
                    "snapshot": snapshot,
                    "run": run,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
                indent=1,
            ),
        )

    def _wait(self) -> None:
        if self.schedule is not None:
            self.sleep(self.schedule.seconds_until_next())
        else:
            self.sleep(self.interval)

    def _stable(self, sig: Signature) -> Signature | None:
        """The signature once the source held still for ``settle`` seconds; None if it moved."""
        self.sleep(self.settle)
        again = signature(self.source)
        return sig if again == sig else None

    def poll(self, last: Signature | None) -> Signature | None:
        """One look at the source; returns the signature now handled (or ``last``)."""
        sig = signature(self.source)
        if sig == last:
            return last
        self._emit("change", f"source '{redact(self.source)}' changed on disk", files=len(sig))
        stable = self._stable(sig)
        if stable is None:
            self._emit("unstable", "source still being written; looking again next time")
            return last
        why = _in_progress(self.source, stable, self.marker)
        if why is not None:
            self._emit("waiting", why)
            return last
        fingerprint = source_fingerprint(self.source)
        if fingerprint is None:
            raise SourceUnreachable(f"source '{redact(self.source)}' vanished while being read")
        if fingerprint == self._handled():
            self._emit("unchanged", "same data as the change already handled: nothing to run")
            return stable
        ingest = api.ingest(self.source, workspace=self.workspace)
        if signature(self.source) != stable:
            # Written to while it was read: this snapshot may mix old and new files.
            self._emit("unstable", "source changed while it was read; ingesting it again next time")
            return last
        snap = ingest.snapshot
        self._emit(
            "ingested",
            f"snapshot {snap.id} ({'new' if ingest.created else 'already stored'})",
            snapshot=snap.id,
            storage=snap.manifest.storage,
            notes=snap.manifest.notes,
        )
        run: dict[str, Any] | None = None
        if self.pipeline is not None:
            r = run_pipeline(self.pipeline, workspace=self.workspace, executor=self.executor)
            run = {"run_id": r.run_id, "status": r.status, "snapshot": snap.id}
            self._emit("run", f"pipeline run {r.run_id}: {r.status}", **run)
        self.result.runs.append(run or {"snapshot": snap.id})
        self._remember(fingerprint, snap.id, run)
        return stable

    def run(self) -> WatchResult:
        """Poll until ``max_runs`` changes were handled or ``max_polls`` looks were taken."""
        last: Signature | None = None
        polls = 0
        while True:
            polls += 1
            try:
                last = self.poll(last)
                if self.failures:
                    self._emit(
                        "recovered", f"source readable again after {self.failures} failure(s)"
                    )
                    self.failures = 0
            except (RelgraphError, OSError) as e:
                # Unreachable, or unreadable for now (bad data, a locked file): retried.
                kind = "unreachable" if isinstance(e, SourceUnreachable | OSError) else "error"
                self.failures += 1
                if self.max_failures is not None and self.failures >= self.max_failures:
                    self._emit(kind, f"giving up after {self.failures} failures: {e}")
                    raise
                delay = min(self.interval * 2 ** (self.failures - 1), self.backoff_max)
                self._emit(
                    kind,
                    f"{e} (failure {self.failures}); retrying in {delay:g} s",
                    failures=self.failures,
                    retry_in=delay,
                )
                if self.max_polls is not None and polls >= self.max_polls:
                    return self.result
                self.sleep(delay)
                continue
            if self.max_runs is not None and len(self.result.runs) >= self.max_runs:
                return self.result
            if self.max_polls is not None and polls >= self.max_polls:
                return self.result
            self._wait()


def watch(source: str, **kwargs: Any) -> WatchResult:
    """Watch ``source`` (see :class:`Watcher` for the options) until its limits are reached."""
    return Watcher(source, **kwargs).run()
