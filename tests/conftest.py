"""Shared fixtures: the bundled F1 example, a real PostgreSQL server, an S3 server.

PostgreSQL: the tests start their own throw-away server from the binaries of the
Debian ``postgresql`` package (``apt-get install -y postgresql``); they skip, and
say why, only when no such binaries exist. S3: moto's server on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
F1 = REPO / "examples" / "f1"


@pytest.fixture(scope="session")
def f1_dir() -> Path:
    return F1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: $PG_BINDIR, PATH, or Debian's layout."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL server for this test session; yields its URL (database ``postgres``)."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL binaries (initdb/pg_ctl) found: install the Debian 'postgresql' "
            "package or set PG_BINDIR"
        )
    # initdb refuses to run as root: run the server as the 'postgres' user then.
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="relgraph-pg-"))
    if as_root:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without 'runuser': cannot start PostgreSQL as postgres")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(tmp, user="postgres")
    data = tmp / "data"
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, env=env, cwd=tmp)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off -c full_page_writes=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start")
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_for_postgres(url)
        yield url
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            cwd=tmp,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_postgres(url: str) -> None:
    import psycopg

    for _ in range(50):
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL at {url} did not come up")


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
