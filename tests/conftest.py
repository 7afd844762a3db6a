"""Shared fixtures: the bundled F1 example, a real PostgreSQL server, an S3 server.

PostgreSQL: the tests start their own throw-away server from the binaries of the
Debian ``postgresql`` package (``apt-get install -y postgresql``); they skip, and
say why, only when no such binaries exist. S3: moto's server on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from relgraph.testing.postgres import NoPostgres, temporary_postgres

REPO = Path(__file__).resolve().parent.parent
F1 = REPO / "examples" / "f1"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, split the cores between the workers instead of oversubscribing.

    Each worker's torch (and the CLI subprocesses it starts, through OMP_NUM_THREADS)
    would otherwise use every core, so two workers on a 2-core CI machine would run
    four compute threads on two cores and each training step would slow down.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def f1_dir() -> Path:
    return F1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL server for this test session; yields its URL (database ``postgres``)."""
    server = temporary_postgres()
    try:
        url = server.__enter__()
    except NoPostgres as e:
        pytest.skip(str(e))
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def meta_url(postgres_url: str) -> str:
    """A fresh, empty PostgreSQL database for a metadata DB (jobs, runs, events)."""
    import psycopg

    name = f"meta_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port) with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


SHOP_USERS = "user_id,name,signup_date\n1,Ada,2024-01-01\n2,Bob,2024-01-05\n3,Cy,2024-02-01\n"
SHOP_ITEMS = 'item_id,title,price\n1,"Pen, blue",1.5\n2,Ink,\\N\n3,Pad,3\n'
SHOP_ORDERS = (
    "order_id,user_id,item_id,created_at\n"
    "1,1,1,2024-03-01 10:00:00\n2,1,2,2024-03-02T11:00:00\n3,2,3,2024-03-03\n"
    "4,3,1,2024-03-04 09:30:00\n5,2,2,2024-03-05 12:00:00\n"
)


def write_shop(folder: Path, **overrides: str) -> Path:
    """A tiny shop as CSVs (users, items, orders); ``overrides`` replace a file's text."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"users": SHOP_USERS, "items": SHOP_ITEMS, "orders": SHOP_ORDERS} | overrides
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


@pytest.fixture()
def shop_dir(tmp_path: Path) -> Path:
    return write_shop(tmp_path / "shop")


@pytest.fixture()
def make_shop(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make_shop(name, **overrides)``: a shop folder under tmp_path with some files replaced."""

    def make(name: str = "shop", **overrides: str) -> Path:
        return write_shop(tmp_path / name, **overrides)

    return make
