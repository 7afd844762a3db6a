"""Cheap job steps for the tests (``type: python`` jobs import them by name)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.analyze.embeddings import to_table
from relgraph.jobs.kinds import JobContext


def emit(ctx: JobContext) -> dict[str, Any]:
    """Writes ``n`` lines (slowly when ``sleep`` is set) that depend on its inputs."""
    n = int(ctx.params.get("n", 5))
    sleep = float(ctx.params.get("sleep", 0))
    upstream = json.dumps(
        {k: v.get("digest") or v.get("snapshot") for k, v in ctx.inputs.items()}, sort_keys=True
    )
    path, rel = ctx.file("data.txt")
    with path.open("w") as f:
        for i in range(n):
            f.write(f"{ctx.name} {i} {upstream}\n")
            f.flush()
            ctx.progress("lines", i + 1, n)
            if sleep:
                time.sleep(sleep / n)
    flag = ctx.params.get("fail_if_exists")
    if flag and Path(flag).exists():
        raise RuntimeError(f"planned failure: {flag} exists")
    return {"data": rel, "digest": hashlib.sha256(path.read_bytes()).hexdigest()}


def embeddings(ctx: JobContext) -> dict[str, Any]:
    """Deterministic embeddings of ``n`` entities in ``centres`` well separated blobs."""
    n, dim = int(ctx.params.get("n", 40)), int(ctx.params.get("dim", 8))
    centres = int(ctx.params.get("centres", 4))
    rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
    means = rng.normal(scale=20.0, size=(centres, dim))
    x = means[np.arange(n) % centres] + rng.normal(size=(n, dim))
    path, rel = ctx.file("embeddings.parquet")
    pq.write_table(to_table(pa.array(np.arange(n) + 100), x), path)
    return {"embeddings": rel}
