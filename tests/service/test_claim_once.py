"""Runners racing for the queued jobs of one service on one PostgreSQL job store: each
job is claimed, and run, once (what ``relgraph serve --workers N`` relies on)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from relgraph.service import DBJobRunner

pytestmark = pytest.mark.postgres
JOBS = 40


def test_racing_runners_run_each_job_once(tmp_path: Path, meta_url: str) -> None:
    runs: Counter[int] = Counter()
    lock = threading.Lock()

    def count(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            runs[int(params["n"])] += 1
        time.sleep(0.01)
        return {}

    # One service's jobs (the same owner), three runners of four threads each: twelve
    # claimers at once, as worker processes of one 'relgraph serve' would be.
    submitter = DBJobRunner(tmp_path, {"count": count}, workers=0, meta=meta_url)
    ids = [submitter.submit("count", {"n": n}).id for n in range(JOBS)]
    runners = [
        DBJobRunner(tmp_path, {"count": count}, workers=4, meta=meta_url, owner_pid=os.getpid())
        for _ in range(3)
    ]
    try:
        for r in runners:
            r.start()
        done = [submitter.wait(i, timeout=120) for i in ids]
    finally:
        for r in runners:
            r.shutdown()
        submitter.shutdown()
    assert [d.status for d in done] == ["succeeded"] * JOBS
    assert runs == Counter(range(JOBS)), {n: c for n, c in runs.items() if c != 1}
