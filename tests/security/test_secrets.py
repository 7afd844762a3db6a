"""Secrets never reach a record: the one redaction, the secret store, and a secret scan.

The slow scan runs what the issue reproduced: a ``relgraph serve`` process ingests a
PostgreSQL source whose server checks passwords and S3 sources whose URLs carry a
secret key; it is killed with SIGKILL while a password job is queued and restarted;
the queued job then succeeds (with the real password from the secret store, not the
redacted one); a pipeline with a password URL fails, is fixed and retried from the CLI.
Then every file of the workspace, every log and every API answer is searched for the
secrets: none may hold one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from relgraph.jobs.secretstore import SecretStore
from relgraph.redact import RedactFilter, redact, redact_params, secret_values
from tests.conftest import _free_port
from tests.security import _fixtures_policy as fx
from tests.security._fixtures_policy import (
    PG_PASSWORD,
    REPO,
    V1,
    PasswordPG,
    ServeProcess,
    Service,
    make_pg_shop,
    tokens_for,
)

site = fx.site
service = fx.service
password_pg = fx.password_pg


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("postgresql://alice:PW-1@db:5432/shop", "PW-1"),
        ("postgres://alice:p%40ss:w0rd@db/x?sslmode=require", "p%40ss:w0rd"),
        ("could not connect to postgresql://a:hunter22@10.0.0.1/db: refused", "hunter22"),
        ("s3://b/p?access_key=AK&secret_key=SK-123&endpoint=http://h:9", "SK-123"),
        ("s3://b/p?aws_secret_access_key=SK-456", "SK-456"),
        ("host=db dbname=x user=a password=Conn-Info-9", "Conn-Info-9"),
        ("sources:\n  pg:\n    password: Yaml-Pw-7\n", "Yaml-Pw-7"),
        ('{"token": "Json-Tok-8", "x": 1}', "Json-Tok-8"),
        ("https://u:Basic-Pw-3@example.com/path", "Basic-Pw-3"),
    ],
)
def test_redact_hides_the_secret(text: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out and "***" in out, out
    assert redact(out) == out  # idempotent


def test_redact_keeps_what_is_not_secret() -> None:
    for text in (
        "unknown or revoked token",
        "missing bearer token: send 'Authorization: Bearer <token>'",
        "http://127.0.0.1:8000/api/v1/jobs",
        "postgresql://alice@db:5432/shop?schema=s",
        "read table orders (2/3)",
    ):
        assert redact(text) == text


def test_known_values_and_params() -> None:
    params = {
        "source": "postgresql://alice:Pw%2Fslash@db/x",
        "password": "Sep-Pw-1",
        "opts": {"secret_key": "Nested-2"},
        "k": 3,
    }
    known = secret_values(params)
    assert {"Pw%2Fslash", "Pw/slash", "Sep-Pw-1", "Nested-2"} <= known
    shown = redact_params(params, known)
    assert "Pw" not in json.dumps(shown) and "Nested" not in json.dumps(shown)
    assert shown["k"] == 3 and shown["source"] == "postgresql://alice:***@db/x"
    # A driver that quotes the decoded password in its own words is caught too.
    assert redact("auth failed for 'Pw/slash'", known) == "auth failed for '***'"


def test_the_log_filter_redacts_messages_and_tracebacks(tmp_path: Path) -> None:
    import logging

    f = tmp_path / "x.log"
    handler = logging.FileHandler(f)
    handler.addFilter(RedactFilter({"Known-Secret-5"}))
    log = logging.getLogger("relgraph.test.redact")
    log.addHandler(handler)
    try:
        log.warning("connecting to %s", "postgresql://a:Arg-Pw-4@h/db")
        try:
            raise RuntimeError("boom Known-Secret-5")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = f.read_text()
    assert "Arg-Pw-4" not in text and "Known-Secret-5" not in text
    assert "RuntimeError: boom ***" in text


def _grep(secrets: list[str], texts: dict[str, bytes]) -> list[tuple[str, str]]:
    needles = {s for v in secrets for s in (v, quote(v, safe=""))}
    return [(name, n) for name, data in texts.items() for n in needles if n.encode() in data]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_failing_secret_urls_leave_no_trace(service: Service) -> None:
    pg_pw, s3_secret = "Fast-pg-Secret-1", "Fast-S3-Secret-2"
    sources = [
        f"postgresql://alice:{pg_pw}@127.0.0.1:1/shop",
        f"s3://bkt/p/?access_key=AKFAST&secret_key={s3_secret}&endpoint=http://127.0.0.1:1",
    ]
    seen: dict[str, bytes] = {}
    h = service.h("editor")
    for i, source in enumerate(sources):
        r = service.post("/sources", headers=h, json={"source": source})
        seen[f"post-{i}"] = r.content
        assert r.status_code == 202, r.text
        job = service.wait(r.json()["id"])
        assert job["status"] == "failed" and job["error"], job
        retried = service.post(f"/jobs/{job['id']}/retry", headers=h)
        seen[f"retry-{i}"] = retried.content
        again = service.wait(job["id"])
        assert again["status"] == "failed" and again["attempts"] == 2
        for path in (f"/jobs/{job['id']}", f"/jobs/{job['id']}/logs"):
            seen[path] = service.get(path, headers=h).content
    # FastAPI's 422 would echo the input: ours is redacted.
    long = service.post("/sources", headers=h, json={"source": sources[0] + "x" * 5000})
    assert long.status_code == 422
    seen["422"] = long.content
    for path in ("/jobs", "/sources", "/snapshots"):
        seen[path] = service.get(path, headers=h).content
    assert "***" in seen["/jobs"].decode()
    ws = service.site.workspace
    assert _grep([pg_pw, s3_secret], seen | _files(ws)) == []
    # The failed jobs' full parameters wait for a retry in the private store, outside ws.
    store = service.site.secrets
    held = _files(store)
    assert len(held) == 2 and _grep([pg_pw], held) and _grep([s3_secret], held)
    assert store.stat().st_mode & 0o777 == 0o700
    assert all(Path(p).stat().st_mode & 0o777 == 0o600 for p in held)
    assert not store.resolve().is_relative_to(ws.resolve())


def test_a_succeeded_job_drops_its_secrets(site: fx.Site) -> None:
    from relgraph.service import create_app

    store = SecretStore(site.secrets)
    app = create_app(site.workspace, source_roots=[site.root], secrets=store)
    runner = app.state.relgraph.runner
    runner.kinds["echo"] = lambda ctx, params: {"got": params["source"]}
    try:
        job = runner.submit("echo", {"source": "postgresql://a:Drop-Me-6@h/db"})
        done = runner.wait(job.id, timeout=30)
    finally:
        runner.shutdown()
    assert done.status == "succeeded"
    assert done.result == {"got": "postgresql://a:***@h/db"}  # results are redacted too
    assert list(site.secrets.glob("*.json")) == []


# -- the secret scan -----------------------------------------------------------------------
S3_SECRET = "S3-Secret-Key-9zQ"
S3_ACCESS = "AKIAMOTOTEST"


@pytest.fixture
def moto_s3() -> Iterator[str]:
    """moto's S3 on 127.0.0.1 with bucket 'lake': raw/users.csv, raw/orders.csv."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="raw/users.csv", Body=b"user_id,name\n1,ann\n2,bob\n")
    s3.put_object(
        Bucket="lake", Key="raw/orders.csv", Body=b"order_id,user_id,total\n1,1,2.5\n2,2,1.0\n"
    )
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP server that accepts and never answers: a job reading from it keeps running."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        t.join(5)
        for c in held:
            c.close()
        sock.close()


def _s3_url(prefix: str, endpoint: str) -> str:
    return (
        f"s3://{prefix}?access_key={S3_ACCESS}&secret_key={S3_SECRET}"
        f"&region=us-east-1&endpoint={endpoint}"
    )


class Recorder:
    """Requests to a :class:`ServeProcess`, each answer kept for the scan."""

    def __init__(self, srv: ServeProcess, tokens: dict[str, str]) -> None:
        self.srv, self.tokens = srv, tokens
        self.answers: dict[str, bytes] = {}
        self.http = httpx.Client(timeout=30)

    def call(self, method: str, path: str, role: str = "editor", **kw: Any) -> httpx.Response:
        r = self.http.request(
            method,
            f"{self.srv.url}{V1}{path}",
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            **kw,
        )
        self.answers[f"{len(self.answers)} {method} {path}"] = r.content
        return r

    def wait(self, job_id: str, until: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.call("GET", f"/jobs/{job_id}", "viewer").json()
            if job["status"] in until:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)


def _cli(*args: str, env: dict[str, str], logs: Path, name: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "relgraph", *args], capture_output=True, env=env, cwd=REPO
    )
    (logs / f"{name}.out").write_bytes(r.stdout)
    (logs / f"{name}.err").write_bytes(r.stderr)
    return r


@pytest.mark.slow
def test_secret_scan_after_kill9_and_restart(
    tmp_path: Path, password_pg: PasswordPG, moto_s3: str, hanging_endpoint: str
) -> None:
    import os

    ws, secrets, logs, data = (tmp_path / n for n in ("ws", "secrets", "logs", "data"))
    data.mkdir()
    pg_url = make_pg_shop(password_pg, "shop")
    srv = ServeProcess(
        ws,
        secrets,
        logs,
        [
            "--job-workers",
            "1",
            "--source-root",
            str(data),
            "--allow-url",
            "postgresql://127.0.0.1:*",
            "--allow-url",
            "s3://lake/*",
        ],
    )
    ws.mkdir()
    tokens = tokens_for(ws)
    rec = Recorder(srv, tokens)
    env = {**os.environ, "RELGRAPH_SECRETS_DIR": str(secrets), "PYTHONPATH": str(REPO)}
    try:
        srv.start()
        # 1. A job that hangs on its S3 endpoint holds the only worker ...
        hang = rec.call("POST", "/sources", json={"source": _s3_url("lake/raw/", hanging_endpoint)})
        assert hang.status_code == 202, hang.text
        rec.wait(hang.json()["id"], ("running",))
        # ... so the PostgreSQL job (password in its URL) stays queued; then kill -9.
        queued = rec.call("POST", "/sources", json={"source": pg_url}).json()
        assert queued["status"] == "queued" and PG_PASSWORD not in json.dumps(queued)
        time.sleep(0.5)
        assert rec.call("GET", f"/jobs/{queued['id']}", "viewer").json()["status"] == "queued"
        srv.kill9()

        # 2. Restart: the queued job runs with the real password and succeeds.
        srv.start()
        done = rec.wait(queued["id"], ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        snap = rec.call("GET", f"/snapshots/{done['result']['snapshot_id']}", "viewer").json()
        assert snap["tables"]["orders"]["rows"] == 4
        lost = rec.wait(hang.json()["id"], ("failed",))
        assert "lost" in lost["error"]

        # 3. S3 with the secret key in the URL: read from moto; a bad bucket fails redacted.
        s3_job = rec.call("POST", "/sources", json={"source": _s3_url("lake/raw/", moto_s3)})
        s3_done = rec.wait(s3_job.json()["id"], ("succeeded", "failed"))
        assert s3_done["status"] == "succeeded", s3_done
        bad = rec.call("POST", "/sources", json={"source": _s3_url("lake/none/", moto_s3)})
        bad_done = rec.wait(bad.json()["id"], ("succeeded", "failed"))
        assert bad_done["status"] == "failed" and "s3://lake/none/" in bad_done["error"]
        assert "secret_key=***" in bad_done["error"]

        # 4. A pipeline with a password URL fails (no database yet), then a CLI retry
        #    succeeds: the DB's copy of the spec is redacted, the secret store has the rest.
        spec = tmp_path / "pipeline.yaml"
        spec.write_text(
            "name: secret-scan\n"
            f"sources:\n  pg: {{uri: '{password_pg.url('shop2')}'}}\n"
            "jobs:\n  load: {type: ingest, source: pg}\n"
        )
        first = _cli("run", str(spec), "-w", str(ws), "--json", env=env, logs=logs, name="run")
        assert first.returncode != 0
        make_pg_shop(password_pg, "shop2")
        failed = [
            j
            for j in rec.call("GET", "/jobs?limit=1000", "viewer").json()["items"]
            if j["origin"] == "pipeline" and j["status"] == "failed"
        ]
        assert len(failed) == 1, failed
        retry = _cli(
            "jobs", "retry", failed[0]["id"], "-w", str(ws), env=env, logs=logs, name="retry"
        )
        assert retry.returncode == 0, retry.stderr.decode()
        assert rec.call("GET", f"/jobs/{failed[0]['id']}", "viewer").json()["status"] == "succeeded"
        _cli("jobs", "show", failed[0]["id"], "-w", str(ws), env=env, logs=logs, name="show")

        # 5. Every answer the API gives about all of it.
        jobs = rec.call("GET", "/jobs?limit=1000", "viewer").json()["items"]
        assert len(jobs) == 5
        for j in jobs:
            rec.call("GET", f"/jobs/{j['id']}", "viewer")
            rec.call("GET", f"/jobs/{j['id']}/logs?limit=1000", "viewer")
        for path in ("/sources", "/snapshots", "/openapi.json", "/me"):
            rec.call("GET", path, "viewer")
        for s in rec.call("GET", "/snapshots", "viewer").json()["items"]:
            rec.call("GET", f"/snapshots/{s['snapshot_id']}", "viewer")
            rec.call("GET", f"/snapshots/{s['snapshot_id']}/validation", "viewer")
    finally:
        srv.stop()

    # 6. The scan: workspace files, logs of both servers and the CLI, API answers.
    found = _grep([PG_PASSWORD, S3_SECRET], _files(ws) | _files(logs) | rec.answers)
    assert found == [], found
    scanned = _files(ws)
    assert str(ws / "meta.db") in scanned and len(rec.answers) > 30
    # Two snapshots of two tables: PostgreSQL (shop and shop2 hold the same rows) and S3.
    assert sum(p.endswith(".parquet") for p in scanned) == 4
    # The secrets are kept where only this user can read them, outside the workspace:
    # the failed S3 job's parameters (for a retry) and the pipeline's spec; the queued
    # PostgreSQL job's file went when it succeeded.
    held = _files(secrets)
    assert len(held) == 3, sorted(held)  # the hanging and the bad S3 job, the spec
    for p in held:
        assert Path(p).stat().st_mode & 0o777 == 0o600
    assert secrets.stat().st_mode & 0o777 == 0o700
    # meta.db and every workspace file: the owner's only.
    assert ws.stat().st_mode & 0o077 == 0
    loose = [p for p in ws.rglob("*") if p.stat().st_mode & 0o077]
    assert loose == [], loose
