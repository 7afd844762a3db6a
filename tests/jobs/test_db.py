from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from relgraph.errors import JobError
from relgraph.jobs import MetaDB
from relgraph.jobs import db as dbmod
from relgraph.jobs.models import Base, Run


def test_migrations_create_exactly_the_models_schema(tmp_path: Path) -> None:
    db = MetaDB.open(workspace=tmp_path)
    with db.engine.connect() as con:
        diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
        mode = con.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert diff == []
    assert mode == "wal"
    assert (tmp_path / "meta.db").is_file()


def _add_run(s) -> int:  # type: ignore[no-untyped-def]
    run = Run(pipeline="p", spec_text="", workspace="w", executor="local", host="h", pid=1)
    s.add(run)
    s.flush()
    return run.id


@pytest.mark.parametrize("busy_timeout_ms", [30_000, 50])
def test_a_write_waits_out_another_writer_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busy_timeout_ms: int
) -> None:
    # With a short busy timeout SQLite gives up first and MetaDB's retry loop takes over.
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", busy_timeout_ms)
    db = MetaDB.open(workspace=tmp_path)
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO events (status, at) VALUES ('x', '2020-01-01')")
    threading.Timer(1.0, lambda: other.execute("COMMIT")).start()
    t0 = time.monotonic()
    run_id = db.write(_add_run)
    assert time.monotonic() - t0 >= 0.9
    with db.session() as s:
        assert s.scalars(select(Run.id)).all() == [run_id]
    other.close()


def test_a_bad_url_is_a_job_error() -> None:
    with pytest.raises(JobError, match="cannot open metadata database"):
        MetaDB.open("nosuchdialect://x")
