"""A throw-away PostgreSQL server from the Debian ``postgresql`` binaries (tests, benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NoPostgres(RuntimeError):
    """No PostgreSQL binaries here (or no way to run them); the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path | None:
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


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Start a server on a free port; yield its URL (database ``postgres``); stop it after."""
    bindir = pg_bindir()
    if bindir is None:
        raise NoPostgres(
            "no PostgreSQL binaries (initdb/pg_ctl) found: install the Debian 'postgresql' "
            "package or set PG_BINDIR"
        )
    # initdb refuses to run as root: run the server as the 'postgres' user then.
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="relgraph-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise NoPostgres("running as root without 'runuser': cannot start PostgreSQL")
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
        _wait_for(url)
        yield url
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            cwd=tmp,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for(url: str) -> None:
    import psycopg

    for _ in range(50):
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL at {url} did not come up")


def load_sql(url: str, schema: str, sql: str) -> str:
    """Run a SQL dump inside a fresh PostgreSQL schema; the source URL for that schema."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.execute(f'CREATE SCHEMA "{schema}"')
        con.execute(f'SET search_path TO "{schema}"')
        con.execute(sql.encode())
    return f"{url}?schema={schema}"
