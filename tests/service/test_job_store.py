"""One job store: jobs of the REST service and of ``relgraph run`` are the same DB rows.

A job started through the REST API is listed by ``relgraph.jobs.list_jobs`` and ``relgraph jobs
--json`` under the same id; a pipeline job is listed, cancelled and retried through REST;
cancel and retry from either side act on the one row; a restarted service adopts what a
dead one left queued and fails what it left running.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from relgraph import jobs as rgjobs
from relgraph.cli import app as cli_app
from relgraph.jobs import MetaDB
from relgraph.jobs.events import set_status
from relgraph.jobs.models import SERVICE_EXECUTOR, Job, Run
from relgraph.service import DBJobRunner
from tests.service.conftest import auth
from tests.service.test_api import wait_job

V1 = "/api/v1"
cli = CliRunner()


def cli_jobs(ws: Path) -> dict[int, dict[str, Any]]:
    res = cli.invoke(cli_app, ["jobs", "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    return {j["id"]: j for j in json.loads(res.stdout)["jobs"]}


def blocking_kind(runner: Any) -> threading.Event:
    """A job kind ``block`` that runs until the returned gate opens (or it is cancelled)."""
    gate = threading.Event()

    def block(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        ctx.progress(0.25, "waiting")
        while not gate.wait(0.02):
            ctx.check()
        return {"done": True}

    runner.kinds["block"] = block
    return gate


def wait_until(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_rest_job_is_the_db_job_that_api_and_cli_list(
    client: TestClient, tokens: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    src = tmp_path / "tiny"
    src.mkdir()
    (src / "items.csv").write_text("item_id,price\n1,2.5\n2,3.0\n")
    h = auth(tokens["editor"])
    created = client.post(f"{V1}/sources", headers=h, json={"source": str(src)}).json()
    done = wait_job(client, tokens["viewer"], created["id"])
    assert done["status"] == "succeeded" and done["origin"] == "service"

    jid = int(done["id"])
    by_api = {j["id"]: j for j in rgjobs.list_jobs(workspace=workspace)}
    assert by_api[jid]["type"] == "ingest" and by_api[jid]["status"] == "succeeded"
    assert by_api[jid]["progress"] == 1.0
    assert by_api[jid]["outputs"]["snapshot_id"] == done["result"]["snapshot_id"]
    by_cli = cli_jobs(workspace)
    assert by_cli[jid]["status"] == "succeeded" and by_cli[jid]["params"]["source"] == str(src)
    shown = rgjobs.show_job(jid, workspace=workspace)
    assert [e["status"] for e in shown["events"]] == ["queued", "running", "succeeded"]
    assert "read table items" in shown["logs"]


def test_a_pipeline_job_is_listed_and_retried_through_rest(
    client: TestClient, tokens: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    src = tmp_path / "later"
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(f"sources:\n  s: {{uri: {src}}}\njobs:\n  load: {{type: ingest, source: s}}\n")
    run = rgjobs.run_pipeline(spec, workspace=workspace)
    failed = run.job("load")
    assert failed.status == "failed"

    h = auth(tokens["editor"])
    listed = client.get(f"{V1}/jobs", headers=h).json()["items"]
    mine = {j["id"]: j for j in listed}[str(failed.id)]
    assert mine["origin"] == "pipeline" and mine["name"] == "load" and mine["status"] == "failed"
    assert mine["error"] == failed.error
    failed_only = client.get(f"{V1}/jobs?status=failed", headers=h).json()
    assert [j["id"] for j in failed_only["items"]] == [str(failed.id)]
    # Nothing to cancel in a finished job, from either side.
    assert client.post(f"{V1}/jobs/{failed.id}/cancel", headers=h).status_code == 409

    # Fix the source, retry through REST: the pipeline runs again on a service thread.
    src.mkdir()
    (src / "t.csv").write_text("id,x\n1,2\n")
    r = client.post(f"{V1}/jobs/{failed.id}/retry", headers=h)
    assert r.status_code == 202 and r.json()["id"] == str(failed.id)
    again = wait_job(client, tokens["editor"], str(failed.id), timeout=120)
    assert again["status"] == "succeeded" and again["attempts"] == 2, again
    assert rgjobs.show_job(failed.id, workspace=workspace)["outputs"]["snapshot"]
    logs = client.get(f"{V1}/jobs/{failed.id}/logs", headers=h).json()["items"]
    statuses = [line.split(" ")[1] for line in logs]
    assert statuses[:4] == ["pending", "queued", "running", "failed"]
    assert statuses[-3:] == ["queued", "running", "succeeded"]


def test_cancel_through_rest_and_through_the_cli_act_on_the_db_job(
    app: FastAPI, client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    runner = app.state.relgraph.runner
    gate = blocking_kind(runner)
    h = auth(tokens["editor"])
    first = client.post(f"{V1}/jobs", headers=h, json={"kind": "block"}).json()
    second = client.post(f"{V1}/jobs", headers=h, json={"kind": "block"}).json()
    try:
        wait_until(
            lambda: client.get(f"{V1}/jobs/{first['id']}", headers=h).json()["status"] == "running"
        )
        # REST cancel of the queued one: cancelled in the DB at once.
        r = client.post(f"{V1}/jobs/{second['id']}/cancel", headers=h).json()
        assert r["status"] == "cancelled"
        assert cli_jobs(workspace)[int(second["id"])]["status"] == "cancelled"
        # The running one reports its progress into the DB...
        wait_until(lambda: cli_jobs(workspace)[int(first["id"])]["progress"] == 0.25)
        assert cli_jobs(workspace)[int(first["id"])]["progress_message"] == "waiting"
        # ...and stops when the CLI asks it to.
        res = cli.invoke(cli_app, ["jobs", "cancel", first["id"], "-w", str(workspace), "--json"])
        assert res.exit_code == 0, res.output
        done = wait_job(client, tokens["editor"], first["id"])
        assert done["status"] == "cancelled" and done["error"] == "cancelled"
    finally:
        gate.set()
    events = rgjobs.show_job(int(first["id"]), workspace=workspace)["events"]
    assert [e["status"] for e in events] == ["queued", "running", "cancelled"]


def test_retry_through_rest_and_through_the_cli_rerun_the_same_job(
    app: FastAPI, client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    runner = app.state.relgraph.runner
    attempts: list[int] = []

    def flaky(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError(f"planned failure {len(attempts)}")
        return {"attempt": len(attempts)}

    runner.kinds["flaky"] = flaky
    h = auth(tokens["editor"])
    job = client.post(f"{V1}/jobs", headers=h, json={"kind": "flaky"}).json()
    assert wait_job(client, tokens["editor"], job["id"])["status"] == "failed"
    assert client.post(f"{V1}/jobs/{job['id']}/retry", headers=h).json()["attempts"] == 2
    failed = wait_job(client, tokens["editor"], job["id"])
    assert failed["status"] == "failed" and "planned failure 2" in failed["error"]

    res = cli.invoke(cli_app, ["jobs", "retry", job["id"], "-w", str(workspace), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["jobs"][0]["status"] == "queued"
    done = wait_job(client, tokens["editor"], job["id"])
    assert done["status"] == "succeeded" and done["result"] == {"attempt": 3}
    assert done["attempts"] == 3 and done["error"] is None
    row = rgjobs.show_job(int(job["id"]), workspace=workspace)
    assert [e["status"] for e in row["events"]].count("running") == 3
    assert "planned failure 1" in row["logs"] and "retry (attempt 3) from the CLI" in row["logs"]


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_new_service_fails_what_a_dead_one_left_running_and_runs_what_it_left_queued(
    workspace: Path,
) -> None:
    db = MetaDB.open(workspace=workspace)
    dead = _dead_pid()

    def leave(s: Any) -> tuple[int, int]:
        ids = []
        for status in ("running", "queued"):
            run = Run(
                pipeline="echo",
                spec_text="{}",
                workspace=str(workspace),
                executor=SERVICE_EXECUTOR,
                host=socket.gethostname(),
                pid=dead,
            )
            s.add(run)
            s.flush()
            job = Job(run_id=run.id, name="echo", type="echo", params={"x": 1}, needs=[])
            s.add(job)
            s.flush()
            set_status(s, job, status)
            ids.append(job.id)
        return ids[0], ids[1]

    running, queued = db.write(leave)
    db.dispose()

    def echo(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        return dict(params)

    runner = DBJobRunner(workspace, {"echo": echo})
    try:
        lost = runner.get(str(running))
        assert lost.status == "failed" and f"pid {dead}" in (lost.error or "")
        # An API job has no pipeline to run again: the message says how to retry it.
        assert lost.error is not None and "pipeline" not in lost.error
        assert lost.error.startswith(f"lost: the service that ran it (pid {dead}) is gone")
        assert f"POST /api/v1/jobs/{running}/retry" in lost.error
        assert f"relgraph jobs retry {running}" in lost.error
        runner.start()
        done = runner.wait(str(queued), timeout=30)
        assert done.status == "succeeded" and done.result == {"x": 1}
    finally:
        runner.shutdown()
