"""Fixtures of the policy, secrets and hardening tests: a service on 127.0.0.1 with a
source root, a PostgreSQL server that checks passwords, a ``relgraph serve`` process.

(Kept out of ``conftest.py``: another suite of ``tests/security`` owns that file.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from relgraph.jobs.secretstore import SecretStore
from relgraph.service import TokenStore, create_app
from relgraph.service.hardening import AuthThrottle
from relgraph.testing.postgres import pg_bindir
from tests.conftest import _free_port, write_shop
from tests.service.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]
V1 = "/api/v1"


@dataclass
class Site:
    """A tmp layout: a workspace, a source root (with a shop), files outside both."""

    base: Path
    workspace: Path
    root: Path
    outside: Path
    secrets: Path

    @classmethod
    def make(cls, base: Path) -> Site:
        site = cls(base, base / "ws", base / "data", base / "outside", base / "secrets")
        write_shop(site.root / "shop")
        write_shop(site.outside / "shop")
        (site.outside / "t.csv").write_text("id,x\n1,2\n")
        shop_db(site.outside / "shop.db")
        return site


def shop_db(path: Path) -> Path:
    """A two-table SQLite shop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, "
        "user_id INTEGER REFERENCES users(user_id), total REAL);"
        "INSERT INTO users VALUES (1, 'ann'), (2, 'bob');"
        "INSERT INTO orders VALUES (1, 1, 3.5), (2, 2, 4.0), (3, 1, 1.0);"
    )
    con.commit()
    con.close()
    return path


@dataclass
class Service:
    """A live service of a :class:`Site` and a token per role."""

    url: str
    site: Site
    tokens: dict[str, str]
    app: Any
    # One client for all requests: a new httpx client costs ~0.1 s (its TLS context).
    http: httpx.Client = field(default_factory=httpx.Client)

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    # Requests to ``/api/v1`` + path; keyword arguments go to httpx.
    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(f"{self.url}{V1}{path}", **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(f"{self.url}{V1}{path}", **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(f"{self.url}{V1}{path}", **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(f"{self.url}{V1}{path}", **kw)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.http.get(
                f"{self.url}{V1}/jobs/{job_id}", headers=self.h("viewer")
            ).json()
            if job["status"] in ("succeeded", "failed", "cancelled", "blocked"):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site.make(tmp_path)


@contextlib.contextmanager
def serving(site: Site) -> Iterator[Service]:
    """The service of ``site`` on 127.0.0.1: roots ``site.root``, PostgreSQL on this
    machine and any bucket allowed, a quick backoff (10 bad tokens, then 0.5 s … 2 s)."""
    app = create_app(
        site.workspace,
        source_roots=[site.root],
        allow_urls=["postgresql://127.0.0.1:*", "s3://*"],
        secrets=SecretStore(site.secrets),
        throttle=AuthThrottle(max_failures=10, window_s=60, base_s=0.5, max_s=2.0),
    )
    store = TokenStore(site.workspace)
    tokens = {r: store.create(r, name=r).token for r in ("viewer", "editor", "admin")}
    try:
        with LiveServer(app) as srv, httpx.Client(timeout=30) as http:
            yield Service(srv.url, site, tokens, app, http)
    finally:
        app.state.relgraph.runner.shutdown()


@pytest.fixture
def service(site: Site) -> Iterator[Service]:
    with serving(site) as srv:
        yield srv


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for a module's tests that only read or are refused."""
    with serving(Site.make(tmp_path_factory.mktemp("shared"))) as srv:
        yield srv


# -- a PostgreSQL server that checks passwords ----------------------------------------------
@dataclass
class PasswordPG:
    host: str
    port: int
    user: str
    password: str
    socket_dir: Path  # the postgres superuser connects here, trusted

    def url(self, db: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{db}"


PG_PASSWORD = "Pg-s3cret-Alice-7Q"


@pytest.fixture(scope="module")
def password_pg() -> Iterator[PasswordPG]:
    """A throw-away PostgreSQL server whose TCP clients must give a password (scram),
    unlike the session's trusting one: a job re-run with a redacted '***' password
    fails here."""
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb/pg_ctl)")
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="relgraph-pgpw-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without 'runuser'")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(tmp, user="postgres")
    data, port = tmp / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, env=env, cwd=tmp)

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start")
    pg = PasswordPG("127.0.0.1", port, "alice", PG_PASSWORD, tmp)
    try:
        _admin(pg, "postgres", f"CREATE ROLE alice LOGIN PASSWORD '{PG_PASSWORD}'")
        yield pg
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            cwd=tmp,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _admin(pg: PasswordPG, db: str, *statements: str) -> None:
    import psycopg

    url = f"postgresql:///{db}?host={pg.socket_dir}&port={pg.port}&user=postgres"
    for _ in range(50):
        try:
            with psycopg.connect(url, autocommit=True) as c:
                for st in statements:
                    c.execute(st)
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not come up")


def make_pg_shop(pg: PasswordPG, db: str) -> str:
    """Database ``db`` owned by alice with a users/orders shop; returns its password URL."""
    _admin(pg, "postgres", f"CREATE DATABASE {db} OWNER alice")
    _admin(
        pg,
        db,
        "CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)",
        "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, "
        "user_id INTEGER REFERENCES users(user_id), total REAL)",
        "INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')",
        "INSERT INTO orders VALUES (1, 1, 3.5), (2, 2, 4.0), (3, 1, 1.0), (4, 3, 2.0)",
        "ALTER TABLE users OWNER TO alice",
        "ALTER TABLE orders OWNER TO alice",
    )
    return pg.url(db)


# -- ``relgraph serve`` as a process (killed with SIGKILL by the tests) ----------------------
@dataclass
class ServeProcess:
    workspace: Path
    secrets: Path
    logs: Path
    args: list[str]
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / f"serve-{self.starts}.out", "wb")  # noqa: SIM115
        err = open(self.logs / f"serve-{self.starts}.err", "wb")  # noqa: SIM115
        env = {**os.environ, "RELGRAPH_SECRETS_DIR": str(self.secrets), "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "relgraph",
                "serve",
                "-w",
                str(self.workspace),
                "--port",
                str(self.port),
                *self.args,
            ],
            stdout=out,
            stderr=err,
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, (self.logs / f"serve-{self.starts}.err").read_text()
            assert time.monotonic() < deadline, "relgraph serve did not start"
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tokens_for(workspace: Path) -> dict[str, str]:
    store = TokenStore(workspace)
    return {r: store.create(r, name=r).token for r in ("viewer", "editor", "admin")}


def dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
