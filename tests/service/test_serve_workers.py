"""``relgraph serve --workers 2``: two worker processes on one DB job store, each job
claimed by one of them, once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import select

from relgraph.jobs import MetaDB
from relgraph.jobs.models import Event, Job
from relgraph.jobs.procs import pid_alive
from relgraph.service import TokenStore
from tests.service.conftest import ROOT, auth, free_port

JOBS = 12


def _wait(what: str, ok: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(600)
def _serve(
    tmp_path: Path, ws: Path, port: int, log: IO[str], *extra: str
) -> subprocess.Popen[bytes]:
    """``relgraph serve`` on ``port`` with its output in ``log``."""
    args = ["serve", "--port", str(port), "-w", str(ws), "--secrets-dir", str(tmp_path / "sec")]
    return subprocess.Popen(
        [sys.executable, "-m", "relgraph", *args, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_two_worker_processes_run_every_job_once(tmp_path: Path) -> None:
    ws, src = tmp_path / "ws", tmp_path / "src"
    folders = []
    for i in range(JOBS):
        f = src / f"s{i}"
        f.mkdir(parents=True)
        rows = "\n".join(f"{u},user {u},{i}" for u in range(200))
        (f / "users.csv").write_text("user_id,name,batch\n" + rows + "\n")
        folders.append(f)
    ws.mkdir()
    token = TokenStore(ws).create("editor").token
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = _serve(tmp_path, ws, port, log, "--workers", "2", "--source-root", str(src))
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        text = lambda: (tmp_path / "serve.log").read_text()  # noqa: E731
        _wait("two ready workers", lambda: text().count("ready") >= 2)
        with httpx.Client(headers=auth(token), timeout=30) as http:
            ids = [
                http.post(f"{url}/jobs", json={"kind": "ingest", "params": {"source": str(f)}})
                .raise_for_status()
                .json()["id"]
                for f in folders
            ]

            def done() -> bool:
                return all(
                    http.get(f"{url}/jobs/{i}").json()["status"]
                    in ("succeeded", "failed", "cancelled")
                    for i in ids
                )

            _wait("all jobs", done, timeout=300)
            shown = [http.get(f"{url}/jobs/{i}").json() for i in ids]
        assert [j["status"] for j in shown] == ["succeeded"] * JOBS, [j["error"] for j in shown]
        assert len({j["result"]["snapshot_id"] for j in shown}) == JOBS
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)
        log.close()

    db = MetaDB.open(workspace=ws)
    try:
        with db.session() as s:
            jobs = s.scalars(select(Job).where(Job.id.in_([int(i) for i in ids]))).all()
            starts = Counter(
                e.job_id
                for e in s.scalars(select(Event).where(Event.status == "running"))
                if e.job_id is not None
            )
    finally:
        db.dispose()
    assert all(starts[j.id] == 1 and j.attempts == 1 for j in jobs), starts
    workers = {j.worker for j in jobs}
    # Both processes ran jobs, and neither is the HTTP process.
    assert len(workers) == 2, workers
    assert f"service:{socket.gethostname()}:{serve.pid}" not in workers
    pids = [int(str(w).rsplit(":", 1)[1]) for w in workers]
    _wait("the workers to exit with the service", lambda: not any(map(pid_alive, pids)), 30)


@pytest.mark.timeout(600)
def test_after_kill_9_of_the_service_its_running_job_is_reported_lost(tmp_path: Path) -> None:
    from relgraph.service import DBJobRunner
    from relgraph.testing import planted_snapshot

    ws = tmp_path / "ws"
    planted_snapshot(ws, num_users=80, num_items=20)
    token = TokenStore(ws).create("editor").token
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = _serve(tmp_path, ws, port, log, "--workers", "1")
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait("a ready worker", lambda: "ready" in (tmp_path / "serve.log").read_text())
        with httpx.Client(headers=auth(token), timeout=30) as http:
            query = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"
            job_id = (
                http.post(f"{url}/jobs", json={"kind": "train", "params": {"query": query}})
                .raise_for_status()
                .json()["id"]
            )
            _wait("the job to run", lambda: http.get(f"{url}/jobs/{job_id}").json()["progress"] > 0)
        worker_pid = int(_job_pid(ws, int(job_id)))
        os.kill(serve.pid, signal.SIGKILL)  # the machine's view: the service is gone at once
        serve.wait(10)
        _wait("its worker to follow", lambda: not pid_alive(worker_pid), 30)
    finally:
        if serve.poll() is None:
            serve.kill()
        log.close()
    # The next service on the workspace says what happened and what to do.
    runner = DBJobRunner(ws, {})
    try:
        lost = runner.get(job_id)
    finally:
        runner.shutdown()
    assert lost.status == "failed", lost
    assert lost.error is not None and lost.error.startswith("lost: "), lost.error
    assert f"POST /api/v1/jobs/{job_id}/retry" in lost.error and "pipeline" not in lost.error


def _job_pid(ws: Path, job_id: int) -> int:
    db = MetaDB.open(workspace=ws)
    try:
        with db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.pid is not None
            return job.pid
    finally:
        db.dispose()
