"""relgraph watch: a changed folder is ingested and its pipeline run once per change."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app
from relgraph.errors import JobError
from relgraph.jobs.schedule import parse_schedule
from relgraph.jobs.watch import SourceUnreachable, Watcher, signature
from relgraph.testing.growing import GrowingDatabase

DB = GrowingDatabase(users=100, orders=400, rate=0.05, days=2)
SETTLE, INTERVAL = 0.001, 0.002


def _spec(tmp: Path, src: Path) -> Path:
    spec = tmp / "p.yaml"
    spec.write_text(
        f"name: w\nsources:\n  db: {{uri: {src}}}\njobs:\n  ingest: {{type: ingest, source: db}}\n"
    )
    return spec


@pytest.mark.slow  # two pipeline runs (job processes) and five ingests
def test_watch_runs_the_pipeline_once_per_change(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    spec = _spec(tmp_path, src)
    state = {"interval": 0, "writing": False}
    moved = tmp_path / "away"

    def sleep(seconds: float) -> None:
        """The loop's clock: each wait between polls is where the 'world' changes."""
        if seconds == SETTLE:
            if state["writing"]:  # still being written while the watch checks stability
                with (src / "orders.parquet").open("ab") as f:
                    f.write(b"x" * 100)
            return
        state["interval"] += 1
        step = state["interval"]
        if step == 1:  # same bytes, new mtime: not a change of data
            os.utime(src / "orders.parquet", ns=(1, 1))
        elif step == 2:  # the source goes away for a moment
            src.rename(moved)
        elif step == 3:
            pass  # still away: a second failure, a longer wait
        elif step == 4:
            moved.rename(src)
            state["writing"] = True  # a writer starts on the file: half-written
            with (src / "orders.parquet").open("ab") as f:
                f.write(b"partial")
        elif step == 5:
            state["writing"] = False
            DB.write(src, 1)  # the writer is done: day 1

    w = Watcher(str(src), pipeline=spec, workspace=ws, interval=INTERVAL, settle=SETTLE,
                max_runs=2, max_polls=20, sleep=sleep)  # fmt: skip
    result = w.run()
    kinds = [e.kind for e in result.events]
    assert len(result.runs) == 2, kinds
    assert all(r["status"] == "succeeded" for r in result.runs)
    assert kinds.count("run") == 2 and kinds.count("ingested") == 2
    assert "unchanged" in kinds  # the touch
    assert kinds.count("unreachable") == 2 and "recovered" in kinds
    backoff = [e.data["retry_in"] for e in result.events if e.kind == "unreachable"]
    assert backoff == [INTERVAL, 2 * INTERVAL]
    assert "unstable" in kinds  # the half-written file was not ingested
    # Each run's snapshot is that day's data, the second a delta of the first.
    snaps = [api.snapshot(r["snapshot"], workspace=ws) for r in result.runs]
    assert snaps[0].manifest.row_counts["orders"] == DB.count(DB.orders, 0)
    assert snaps[1].manifest.row_counts["orders"] == DB.count(DB.orders, 1)
    assert snaps[1].manifest.storage["orders"] == "delta"
    assert len(api.snapshots(ws)) == 2  # nothing half-written was ever stored

    # A restarted watch remembers the change it handled: no second run for it.
    again = Watcher(str(src), pipeline=spec, workspace=ws, interval=INTERVAL, settle=SETTLE,
                    max_polls=1, sleep=lambda s: None).run()  # fmt: skip
    assert again.runs == [] and [e.kind for e in again.events] == ["change", "unchanged"]


def test_marker_file_and_giving_up(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    calls = {"n": 0}

    def sleep(seconds: float) -> None:
        if seconds == INTERVAL:
            calls["n"] += 1
            (src / "_SUCCESS").write_text("")  # the writer finished

    r = Watcher(str(src), pipeline=None, workspace=ws, interval=INTERVAL, settle=SETTLE,
                marker="_SUCCESS", max_runs=1, max_polls=5, sleep=sleep).run()  # fmt: skip
    kinds = [e.kind for e in r.events]
    assert kinds[:2] == ["change", "waiting"] and "ingested" in kinds and len(r.runs) == 1
    gone = Watcher(str(tmp_path / "nothing"), pipeline=None, workspace=ws, interval=INTERVAL,
                   max_failures=3, sleep=lambda s: None)  # fmt: skip
    with pytest.raises(SourceUnreachable):
        gone.run()
    assert [e.kind for e in gone.result.events] == ["unreachable"] * 3


def test_sqlite_journal_is_a_write_in_progress(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    con.commit()
    con.close()
    (tmp_path / "shop.db-journal").write_bytes(b"j")
    w = Watcher(f"sqlite:///{db}", pipeline=None, workspace=tmp_path / "ws", interval=INTERVAL,
                settle=SETTLE, max_polls=1, sleep=lambda s: None)  # fmt: skip
    assert [e.kind for e in w.run().events] == ["change", "waiting"]
    (tmp_path / "shop.db-journal").unlink()
    w.max_polls, w.result.events = 1, []
    assert [e.kind for e in w.run().events] == ["change", "ingested"]
    assert len(signature(f"sqlite:///{db}")) == 1


def test_refusals_and_cron(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="cron"):
        Watcher("postgresql://u:secret@h/db", pipeline=None, workspace=tmp_path)
    s = parse_schedule("*/15 * * * *")
    assert s.next_after(datetime(2026, 1, 1, 10, 7, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 15, tzinfo=UTC
    )
    assert parse_schedule({"cron": "0 6 * * *"}).cron == "0 6 * * *"
    for bad in ("every day", "* * *", {"when": "x"}, 5, "61 * * * *"):
        with pytest.raises(JobError):
            parse_schedule(bad)


def test_cli_watch_once(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    spec = _spec(tmp_path, src)
    args = ["watch", str(src), "--pipeline", str(spec), "--workspace", str(ws), "--interval",
            "0.01", "--settle", "0", "--max-runs", "1"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "ingested" in r.output and "pipeline run" in r.output and "succeeded" in r.output
    bad = CliRunner().invoke(app, [*args[:4], "--cron", "nope", "--max-runs", "1"])
    assert bad.exit_code != 0 and "cron" in bad.output


def test_a_spec_schedule_is_parsed_and_checked() -> None:
    from relgraph.jobs.spec import PipelineSpec

    jobs = "jobs:\n  a: {type: python, function: 'steps:emit'}\n"
    spec = PipelineSpec.from_yaml("schedule: '0 6 * * *'\n" + jobs)
    assert spec.schedule is not None
    after = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert spec.schedule.next_after(after) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    assert PipelineSpec.from_yaml(jobs).schedule is None
    with pytest.raises(JobError, match="schedule"):
        PipelineSpec.from_yaml("schedule: 'every day'\n" + jobs)
