"""Online prediction latency: a real ``relgraph serve`` on loopback, 8 concurrent clients.

For each database (the bundled F1, and a generated one of ``--rows`` event rows made by
DuckDB as in ``benchmarks/ingest.py``), the benchmark ingests it, fits a GNN with the
``fast`` budget's configuration (channels 64, fan-outs 32/16) on a sample of the
training rows (latency depends on the configuration, not on how well it is trained),
starts ``python -m relgraph serve`` in its own process, warms the model up, then
runs ``--clients`` concurrent clients for ``--seconds`` each with requests of 1 and of
100 random entity keys. Printed per size: requests, errors, p50/p99 latency,
requests/s, entities/s and the server's CPU time per request (a figure the machine's
load changes far less than latency); beside them, the batch path's cost per entity measured in
the same run (``prediction_table`` — the batch writer's function — over up to
``--batch`` entities at once, in this process, while the server idles).

    python benchmarks/online.py                       # F1 + 10M generated rows
    python benchmarks/online.py --rows 1000000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relgraph import api  # noqa: E402
from relgraph.graph import build_graph  # noqa: E402
from relgraph.graph.features import build_features  # noqa: E402
from relgraph.query import build_task_tables  # noqa: E402
from relgraph.query.task import hidden_columns  # noqa: E402
from relgraph.service import TokenStore  # noqa: E402
from relgraph.store.workspace import Workspace  # noqa: E402
from relgraph.train.artifacts import load_model, model_dir, save_model  # noqa: E402
from relgraph.train.loop import GNNTrainer  # noqa: E402
from relgraph.train.search import Budget  # noqa: E402

F1_QUERY = "PREDICT COUNT(results.*, 0, 90, days) > 0 FOR EACH drivers.driverId"
GEN_QUERY = "PREDICT COUNT(events.*, 0, 30, days) > 0 FOR EACH users.user_id"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def generate(folder: Path, rows: int) -> None:
    """``users`` (rows / 100) and ``events`` (``rows``, spread over a year) as CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    users = max(rows // 100, 10)
    step = max(1, 365 * 86400 // rows)  # seconds between events: 3 s for 10M rows
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS user_id, ['de', 'fr', 'us', 'jp'][1 + range % 4] AS country, "
        f"18 + range % 60 AS age FROM range({users})) "
        f"TO '{folder / 'users.csv'}' (HEADER, DELIMITER ',')"
    )
    con.execute(
        f"COPY (SELECT range AS event_id, (hash(range) % {users})::BIGINT AS user_id, "
        f"round((hash(range + 1) % 100000)::BIGINT / 100.0, 2) AS amount, "
        f"['view', 'cart', 'buy', 'return'][1 + (hash(range + 2) % 4)::BIGINT] AS kind, "
        f"TIMESTAMP '2024-01-01' + to_seconds(range * {step}) AS created_at "
        f"FROM range({rows})) TO '{folder / 'events.csv'}' (HEADER, DELIMITER ',')"
    )


def fit_model(ws: Path, query: str, model_id: str, train_rows: int) -> tuple[str, float]:
    """A GNN with the fast budget's configuration, one epoch on a sample; stored."""
    t0 = time.monotonic()
    snap = Workspace(ws).snapshot()
    tables = build_task_tables(snap, query)
    rng = np.random.default_rng(0)

    def sample(t: pa.Table, n: int) -> pa.Table:
        return t.take(np.sort(rng.permutation(t.num_rows)[:n])) if t.num_rows > n else t

    config = Budget.preset("fast").base
    config = type(config).from_dict(config.to_dict() | {"epochs": 1})
    trainer = GNNTrainer(
        task=tables.task,
        graph=build_graph(snap),
        features=build_features(snap).without(hidden_columns(query)),
        config=config,
    ).fit(sample(tables.train.table, train_rows), sample(tables.val.table, train_rows // 4))
    meta = {
        "model_id": model_id, "query": query, "task": tables.task.to_dict(),
        "snapshot_id": snap.id, "config": config.to_dict(), "seed": 0,
        "val_cutoff": tables.val_cutoff.isoformat(), "test_cutoff": tables.test_cutoff.isoformat(),
        "gnn_state": trainer.state(), "candidates": {"gnn": {}}, "selected": "gnn",
    }  # fmt: skip
    save_model(model_dir(ws, model_id), meta, trainer.model_.state_dict(), None)
    return model_id, time.monotonic() - t0


def batch_cost(ws: Path, model_id: str, keys: list[Any], n: int) -> tuple[float, int]:
    """Seconds per entity of the batch writer's function over ``n`` entities at once."""
    from relgraph.predict.models import load_predictor
    from relgraph.predict.run import latest_time, load_trainer, prediction_table

    files = load_model(ws, model_id)
    snap = Workspace(ws).snapshot(files.snapshot_id)
    pred = load_predictor(files, snap, "gnn", gnn_loader=load_trainer)
    anchor = latest_time(snap) or datetime.now()
    chosen = keys[:n]
    rows = pa.table(
        {
            "ENTITY": pa.array(chosen),
            "ANCHOR_TIMESTAMP": pa.array([anchor] * len(chosen), pa.timestamp("us")),
        }
    )
    prediction_table(pred, rows.slice(0, 64), model_id, snap, embedding=False)  # warm
    t0 = time.perf_counter()
    prediction_table(pred, rows, model_id, snap, embedding=False)
    return (time.perf_counter() - t0) / len(chosen), len(chosen)


async def load(url: str, token: str, model: str, keys: list[Any], size: int, clients: int,
               seconds: float) -> dict[str, Any]:  # fmt: skip
    lat: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30, limits=limits
    ) as http:

        async def one(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.monotonic() < stop:
                body = {"keys": rng.sample(keys, size)}
                t0 = time.perf_counter()
                try:
                    r = await http.post(f"/api/v1/models/{model}/predict", json=body)
                    bad = r.status_code != 200 or any("error" in x for x in r.json()["results"])
                except httpx.HTTPError:
                    bad = True
                lat.append(time.perf_counter() - t0)
                errors += int(bad)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(clients)))
        wall = time.monotonic() - t0
    a = np.asarray(lat) * 1000
    return {
        "size": size, "requests": len(lat), "errors": errors,
        "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
        "rps": len(lat) / wall, "entities_per_s": len(lat) * size / wall,
    }  # fmt: skip


def run_one(name: str, ws: Path, query: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    model, fit_s = fit_model(ws, query, f"online-{name}", args.train_rows)
    files = load_model(ws, model)
    snap = Workspace(ws).snapshot(files.snapshot_id)
    ent = files.meta["task"]["entity_table"]
    pk = snap.schema[ent].primary_key
    keys = snap.read_table(ent, columns=[pk]).column(0).to_pylist()
    random.Random(0).shuffle(keys)
    per_entity, batch_n = batch_cost(ws, model, keys, args.batch)
    token = TokenStore(ws).create("viewer", name="benchmark").token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "relgraph", "serve", "-w", str(ws), "--port", str(port)]
        + (["--torch-threads", str(args.torch_threads)] if args.torch_threads else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("relgraph serve did not start")
            time.sleep(0.2)
        t0 = time.monotonic()
        h = {"Authorization": f"Bearer {token}"}
        first = httpx.post(
            f"{url}/api/v1/models/{model}/predict", json={"keys": keys[:1]}, headers=h, timeout=600
        )
        first.raise_for_status()
        load_s = time.monotonic() - t0
        for size in (1, 100):  # warm-up: every code path and size once or twice
            for _ in range(5):
                httpx.post(
                    f"{url}/api/v1/models/{model}/predict",
                    json={"keys": keys[:size]}, headers=h, timeout=60,
                ).raise_for_status()  # fmt: skip
        out = []
        for size in (1, 100):
            cpu0 = cpu_seconds(server.pid)
            res = asyncio.run(load(url, token, model, keys, size, args.clients, args.seconds))
            # Server CPU per request: what a request costs whatever else runs on the box.
            res["cpu_ms"] = (cpu_seconds(server.pid) - cpu0) / max(res["requests"], 1) * 1000
            res |= {
                "db": name, "entities": len(keys), "fit_s": fit_s, "first_request_s": load_s,
                "batch_us_per_entity": per_entity * 1e6, "batch_n": batch_n,
            }  # fmt: skip
            out.append(res)
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="generated event rows (0: none)")
    ap.add_argument("--no-f1", action="store_true")
    ap.add_argument("--seconds", type=float, default=20.0, help="per request size")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--train-rows", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=20000, help="entities in the batch timing")
    ap.add_argument(
        "--torch-threads", type=int, default=None, help="relgraph serve --torch-threads"
    )
    ap.add_argument("--keep", type=Path, default=None, help="workspaces here, kept")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="rg-online-"))
    results = []
    if not args.no_f1:
        ws = base / "f1"
        if not (ws / "snapshots").is_dir():
            api.ingest(str(ROOT / "examples" / "f1"), workspace=ws)
        results += run_one("f1", ws, F1_QUERY, args)
    if args.rows:
        ws = base / f"gen{args.rows}"
        if not (ws / "snapshots").is_dir():
            t0 = time.monotonic()
            generate(base / f"gen{args.rows}-csv", args.rows)
            api.ingest(str(base / f"gen{args.rows}-csv"), workspace=ws)
            print(f"generated + ingested {args.rows:,} rows in {time.monotonic() - t0:.0f} s")
        results += run_one(f"gen{args.rows}", ws, GEN_QUERY, args)
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    print(f"server: relgraph serve --torch-threads {args.torch_threads or 'default'}")
    print(
        "| db | entities | keys/request | requests | errors | p50 ms | p99 ms | req/s "
        "| entities/s | server CPU ms/request | batch µs/entity (n) | first request s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['db']} | {r['entities']:,} | {r['size']} | {r['requests']} | {r['errors']} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rps']:.1f} | {r['entities_per_s']:.0f} "
            f"| {r['cpu_ms']:.1f} "
            f"| {r['batch_us_per_entity']:.0f} ({r['batch_n']:,}) | {r['first_request_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
