"""A service job's progress as the API shows it: forward only, with an ETA."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from relgraph.service import DBJobRunner


def test_a_running_job_shows_forward_progress_and_an_eta(tmp_path: Path) -> None:
    gate = threading.Event()

    def steps(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        ctx.progress(0.5, "half")
        ctx.progress(0.2, "a late report of an earlier step")
        ctx.flush()
        gate.wait(30)
        return {}

    runner = DBJobRunner(tmp_path, {"steps": steps})
    try:
        job_id = runner.submit("steps", {}).id
        deadline = time.monotonic() + 30
        info = runner.get(job_id)
        while info.message != "a late report of an earlier step" and time.monotonic() < deadline:
            time.sleep(0.05)
            info = runner.get(job_id)
        shown = info.to_dict()
        assert shown["status"] == "running" and shown["progress"] == 0.5
        assert shown["eta_s"] is not None and shown["eta_s"] >= 0
        gate.set()
        done = runner.wait(job_id, timeout=30).to_dict()
        assert done["status"] == "succeeded" and done["progress"] == 1.0
        assert done["eta_s"] is None
    finally:
        gate.set()
        runner.shutdown()
