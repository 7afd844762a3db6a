"""The Ray executor against a real two-node Ray cluster started on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, worker_env

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[dict[str, str]]:
    if not Path(RAY).is_file() and shutil.which("ray") is None:
        pytest.skip("the 'ray' command is not installed")
    env = worker_env() | {"RAY_USAGE_STATS_ENABLED": "0"}
    gcs, client = _port(), _port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            f"--port={gcs}",
            f"--ray-client-server-port={client}",
            "--include-dashboard=false",
            *common,
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=180,
    )
    try:
        subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{gcs}", *common],
            check=True,
            env=env,
            capture_output=True,
            timeout=180,
        )
        yield {"gcs": f"127.0.0.1:{gcs}", "client": f"ray://127.0.0.1:{client}"}
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


SPEC = """
jobs:
  a: {type: python, function: "steps:emit", n: 4, sleep: 4}
  b: {type: python, function: "steps:emit", n: 5, sleep: 4}
  c: {type: python, function: "steps:emit", needs: [a, b]}
  emb: {type: python, function: "steps:embeddings", n: 20}
  clu: {type: cluster, needs: [emb], k: 2}
"""


@pytest.mark.parametrize("address", ["gcs", "client"])
def test_jobs_spread_over_both_nodes_and_match_a_local_run(
    ray_cluster: dict[str, str], address: str, tmp_path: Path, write_spec
) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(SPEC)
    executor = ray_cluster[address] if address == "client" else f"ray:{ray_cluster['gcs']}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "relgraph",
            "run",
            str(spec),
            "-w",
            str(tmp_path / "ray"),
            "--json",
            "-x",
            executor,
        ],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        timeout=300,
    )
    # stdout carries the run's JSON (each job's error); stderr carries Ray's log.
    assert proc.returncode == 0, proc.stdout.decode()[-3000:] + proc.stderr.decode()[-3000:]
    jobs = {j["name"]: j for j in json.loads(proc.stdout)["jobs"]}
    assert all(j["status"] == "succeeded" for j in jobs.values())
    # One CPU per node: a and b ran at the same time, so on different nodes.
    assert jobs["a"]["worker"].startswith("ray:") and jobs["a"]["worker"] != jobs["b"]["worker"]

    from relgraph import jobs as rgjobs

    local = rgjobs.run_pipeline(spec, workspace=tmp_path / "local")
    for name in ("a", "b", "c"):
        assert jobs[name]["outputs"]["digest"] == local.job(name).outputs["digest"]
    import pyarrow.parquet as pq

    ray_clusters = pq.read_table(tmp_path / "ray" / jobs["clu"]["outputs"]["clusters"])
    assert ray_clusters.equals(
        pq.read_table(tmp_path / "local" / local.job("clu").outputs["clusters"])
    )
