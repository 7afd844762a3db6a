from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from relgraph import jobs as rgjobs
from relgraph.jobs import MetaDB
from relgraph.jobs.models import Event, Job

pytestmark = pytest.mark.postgres


def test_pipeline_state_lives_in_postgresql(tmp_path: Path, write_spec, meta_url: str) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec("""
jobs:
  a: {type: python, function: "steps:emit"}
  b: {type: python, function: "steps:emit", needs: [a]}
""")
    ws = tmp_path / "ws"
    first = rgjobs.run_pipeline(spec, workspace=ws, meta=meta_url, executor="local:2")
    assert first.ok, [(j.name, j.error) for j in first.jobs]
    second = rgjobs.run_pipeline(spec, workspace=ws, meta=meta_url)
    assert [j.status for j in second.jobs] == ["skipped", "skipped"]
    assert not (ws / "meta.db").exists()

    db = MetaDB.open(meta_url)
    try:
        assert db.engine.dialect.name == "postgresql"
        tables = set(inspect(db.engine).get_table_names())
        assert {
            "runs",
            "jobs",
            "events",
            "models",
            "metrics",
            "outputs",
            "lineage",
            "alembic_version",
        } <= tables
        with db.session() as s:
            jobs = s.scalars(select(Job).order_by(Job.id)).all()
            assert [(j.run_id, j.name, j.status) for j in jobs] == [
                (first.run_id, "a", "succeeded"),
                (first.run_id, "b", "succeeded"),
                (second.run_id, "a", "skipped"),
                (second.run_id, "b", "skipped"),
            ]
            n_events = len(s.scalars(select(Event).where(Event.job_id == jobs[1].id)).all())
            assert n_events == 4  # pending, queued, running (from the worker), succeeded
    finally:
        db.dispose()
    listed = rgjobs.list_jobs(workspace=ws, meta=meta_url)
    assert len(listed) == 4


def test_opening_twice_does_not_migrate_twice(meta_url: str) -> None:
    a = MetaDB.open(meta_url)
    b = MetaDB.open(meta_url)
    with a.engine.connect() as con:
        assert con.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    a.dispose()
    b.dispose()
