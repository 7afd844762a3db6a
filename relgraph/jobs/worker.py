"""Runs one job inside a worker process (local pool or Ray task).

The worker owns the job's output folder: it takes a file lock named after the
job's input hash (two pipelines computing the same thing wait for each other
and the second reuses the first's result), builds the output in a staging
folder and renames it into place only on success, so a worker killed half-way
leaves no partial output. It heartbeats to the metadata DB so that a runner
restarted after a crash can tell a lost job from a live one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from filelock import FileLock

from relgraph.errors import JobError, RelgraphError
from relgraph.jobs.db import MetaDB
from relgraph.jobs.events import Notifier, set_status
from relgraph.jobs.kinds import JobContext
from relgraph.jobs.models import Job, Status, utcnow
from relgraph.jobs.registry import KINDS
from relgraph.redact import RedactFilter, redact, secret_values
from relgraph.store import atomic

RESULT = "result.json"
HEARTBEAT_S = 2.0
PROGRESS_EVERY_S = 0.5
LOG_TAIL = 20_000


def output_rel(job_type: str, input_hash: str) -> str:
    return f"outputs/{job_type}/{input_hash[:24]}"


def read_result(workspace: Path, rel: str) -> dict[str, Any] | None:
    p = workspace / rel / RESULT
    if not p.is_file():
        return None
    data = json.loads(p.read_text())
    return data if isinstance(data, dict) else None


def execute(payload: dict[str, Any]) -> dict[str, Any]:
    """Run the job described by ``payload``; never raises, returns ``{"ok": ...}``."""
    try:
        return _execute(payload)
    except BaseException as e:  # the runner turns this into the job's error
        known = secret_values(payload.get("params"))
        return {
            "ok": False,
            "error": redact(
                f"{type(e).__name__}: {e}" if not isinstance(e, RelgraphError) else e.message,
                known,
            ),
            "traceback": redact(traceback.format_exc(), known),
        }


def _execute(p: dict[str, Any]) -> dict[str, Any]:
    workspace = Path(p["workspace"])
    job_id = int(p["job_id"])
    db = MetaDB.open(p["meta"])
    notifier = Notifier(p.get("webhook"))
    worker = p.get("worker") or _ray_node() or socket.gethostname()

    def start(s: Any) -> None:
        job = s.get(Job, job_id)
        job.pid = os.getpid()
        job.host = socket.gethostname()
        job.worker = worker
        job.heartbeat_at = utcnow()
        job.started_at = utcnow()
        set_status(s, job, Status.running.value, message=f"on {worker}", notifier=notifier)

    db.write(start)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(db, job_id, stop), daemon=True)
    beat.start()
    log_path = workspace / "logs" / f"job-{job_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    # What libraries log (a driver quoting its URL, say) reaches the file redacted.
    handler.addFilter(RedactFilter(secret_values(p.get("params"))))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        outputs = _run(p, workspace, db, job_id)
        return {"ok": True, "outputs": outputs, "worker": worker}
    finally:
        stop.set()
        root.removeHandler(handler)
        handler.close()
        tail = log_path.read_text(errors="replace")[-LOG_TAIL:] if log_path.is_file() else ""

        def save_logs(s: Any) -> None:
            s.get(Job, job_id).logs = tail

        db.write(save_logs)
        notifier.close()
        db.dispose()


def _run(p: dict[str, Any], workspace: Path, db: MetaDB, job_id: int) -> dict[str, Any]:
    job_type = p["type"]
    kind = KINDS.get(job_type)
    if kind is None or "pipeline" not in kind.surfaces:
        raise JobError(f"unknown job type '{job_type}'")
    # Checked before any lock or folder: a bad parameter fails the job naming it.
    params = kind.parse(p["params"], surface="pipeline")
    rel = output_rel(job_type, p["input_hash"])
    final = workspace / rel
    locks = workspace / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{job_type}-{p['input_hash'][:24]}.lock")):
        done = read_result(workspace, rel)
        if done is not None:
            logging.getLogger("relgraph.jobs").info("reusing the identical output in %s", rel)
            return done
        # Under this lock nobody else builds ``final``: its staging folders are leftovers
        # of a killed worker. (Other jobs' staging folders in the same parent are live.)
        for stale in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        last = [0.0]
        # What was last written: progress only moves forward, whatever a step reports.
        shown = [0.0]

        def report(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and fraction < 1.0:
                return
            last[0] = now
            shown[0] = max(shown[0], min(fraction, 1.0))

            def upd(s: Any) -> None:
                job = s.get(Job, job_id)
                job.progress = shown[0]
                job.progress_message = message

            db.write(upd)

        def progress(name: str, done_: int, total: int) -> None:
            report(done_ / total if total else shown[0], name)

        with atomic.staged_dir(final) as tmp:
            ctx = JobContext(
                job_id=job_id,
                name=p["name"],
                type=job_type,
                workspace=workspace,
                params=p["params"],
                inputs=p["inputs"],
                out_dir=tmp,
                out_rel=rel,
                progress=progress,
                report=report,
            )
            outputs = kind.run(ctx, params)
            (tmp / RESULT).write_text(json.dumps(outputs, indent=2, sort_keys=True, default=str))
            for f in tmp.rglob("*"):
                if f.is_file():
                    fd = os.open(f, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        return json.loads((final / RESULT).read_text())  # type: ignore[no-any-return]


def _heartbeat(db: MetaDB, job_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:

            def beat(s: Any) -> None:
                s.get(Job, job_id).heartbeat_at = utcnow()

            db.write(beat)
        except Exception:  # a missed beat is not worth killing the job
            logging.getLogger(__name__).debug("heartbeat failed", exc_info=True)


def _ray_node() -> str | None:
    import sys

    if "ray" not in sys.modules:  # importing Ray costs seconds; only Ray workers have it
        return None
    try:
        import ray

        if ray.is_initialized():
            return f"ray:{ray.get_runtime_context().get_node_id()[:12]}"
    except Exception:
        return None
    return None
