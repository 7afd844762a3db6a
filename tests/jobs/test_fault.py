"""kill -9 of a running job then resume; two pipelines at once on one workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, worker_env

from relgraph import jobs as rgjobs
from relgraph.jobs.worker import output_rel

SLOW = """
jobs:
  first: {type: python, function: "steps:emit", n: 4}
  slow: {type: python, function: "steps:emit", n: 40, sleep: 8, needs: [first]}
  after: {type: python, function: "steps:emit", needs: [slow]}
"""


def _start(spec: Path, ws: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "relgraph", "run", str(spec), "-w", str(ws), "--json", *extra],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_running(ws: Path, name: str, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (ws / "meta.db").is_file():
            for j in rgjobs.list_jobs(workspace=ws):
                if j["name"] == name and j["status"] == "running" and (j["progress"] or 0) > 0.1:
                    return j
        time.sleep(0.2)
    raise AssertionError(f"job {name} never ran")


def test_kill_9_mid_job_leaves_no_output_and_rerun_matches_an_uninterrupted_run(
    tmp_path: Path, write_spec
) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(SLOW)
    ws = tmp_path / "ws"
    proc = _start(spec, ws)
    job = _wait_running(ws, "slow")
    # The machine "dies": the worker and its runner are SIGKILLed half-way.
    os.kill(job["pid"], signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    final = ws / output_rel("python", job["input_hash"])
    assert not final.exists()
    staged = list(final.parent.glob(f".tmp-{final.name}-*"))
    assert staged, "the killed worker should have been writing in a staging folder"
    assert rgjobs.show_job(job["id"], workspace=ws)["status"] == "running"  # nobody told the DB yet

    resumed = rgjobs.run_pipeline(spec, workspace=ws)
    assert resumed.ok, [(j.name, j.error) for j in resumed.jobs]
    lost = rgjobs.show_job(job["id"], workspace=ws)
    assert lost["status"] == "failed" and "lost" in lost["error"]
    assert {j.name: j.status for j in resumed.jobs} == {
        "first": "skipped",
        "slow": "succeeded",
        "after": "succeeded",
    }
    assert not list(final.parent.glob(f".tmp-{final.name}-*"))

    clean_ws = tmp_path / "clean"
    clean = rgjobs.run_pipeline(
        write_spec(SLOW.replace("sleep: 8", "sleep: 0"), "fast.yaml"), workspace=clean_ws
    )
    for name in ("slow", "after"):
        a, b = resumed.job(name).outputs, clean.job(name).outputs
        assert a["digest"] == b["digest"]
        assert (ws / a["data"]).read_bytes() == (clean_ws / b["data"]).read_bytes()


def test_cancel_a_running_job_blocks_its_dependents(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(SLOW.replace("sleep: 8", "sleep: 30"))
    ws = tmp_path / "ws"
    proc = _start(spec, ws)
    job = _wait_running(ws, "slow")
    rgjobs.cancel_job(job["id"], workspace=ws)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 10, err.decode()
    result = json.loads(out)
    st = {j["name"]: j["status"] for j in result["jobs"]}
    assert st == {"first": "succeeded", "slow": "cancelled", "after": "blocked"}
    assert not (ws / output_rel("python", job["input_hash"])).exists()


def test_two_pipelines_at_once_on_one_workspace(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    shared = '  common: {type: python, function: "steps:emit", n: 30, sleep: 1.5}\n'

    def jobs(prefix: str, base: int) -> str:
        return "".join(
            f'  {prefix}{i}: {{type: python, function: "steps:emit", '
            f"n: {base + i}, needs: [common]}}\n"
            for i in range(6)
        )

    spec_a = write_spec("jobs:\n" + shared + jobs("x", 2), "a.yaml")
    spec_b = write_spec("jobs:\n" + shared + jobs("y", 12), "b.yaml")
    ws = tmp_path / "ws"
    procs = [_start(spec_a, ws, "-x", "local:2"), _start(spec_b, ws, "-x", "local:2")]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-3000:]
        assert b"database is locked" not in err
        results.append(json.loads(out))
    common = [next(j for j in r["jobs"] if j["name"] == "common") for r in results]
    # Both got the same output; it was computed once (the other waited on its lock and reused it).
    assert common[0]["outputs"] == common[1]["outputs"]
    outputs_dir = ws / output_rel("python", common[0]["input_hash"])
    assert (outputs_dir / "data.txt").read_text().count("\n") == 30
    logs = [rgjobs.show_job(c["id"], workspace=ws)["logs"] or "" for c in common]
    assert sum("reusing the identical output" in log for log in logs) == 1 or any(
        c["status"] == "skipped" for c in common
    )
    all_jobs = rgjobs.list_jobs(workspace=ws)
    assert len(all_jobs) == 14 and all(j["status"] in ("succeeded", "skipped") for j in all_jobs)


def _gone(pid: int, within: float = 15) -> bool:
    from relgraph.jobs.procs import pid_alive

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return False


def test_workers_stop_with_their_runner(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(SLOW.replace("sleep: 8", "sleep: 60"))
    ws = tmp_path / "ws"
    # SIGTERM: an orderly stop that records why.
    proc = _start(spec, ws)
    job = _wait_running(ws, "slow")
    proc.terminate()
    proc.wait(60)
    assert _gone(job["pid"])
    shown = rgjobs.show_job(job["id"], workspace=ws)
    assert shown["status"] == "failed" and "interrupted" in shown["error"]
    # SIGKILL of the runner alone: its worker notices and exits, no orphan keeps running.
    proc = _start(spec, ws)
    job = _wait_running(ws, "slow")
    proc.kill()
    proc.wait(30)
    assert _gone(job["pid"])
    assert not (ws / output_rel("python", job["input_hash"])).exists()
