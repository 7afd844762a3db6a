"""Load test of the REST service: N concurrent clients on loopback for a bounded time.

Starts ``relgraph serve`` in its own process on a free port against a workspace with
the F1 example ingested (made in a temp folder unless ``--workspace`` is given), a
finished job or two and a predictions output of F1 size, then runs ``--clients``
concurrent clients that alternate between listing jobs and paging predictions.
Prints requests/s, p50/p99 latency and errors per endpoint, the ratio of the
reads' p99 to the p99 of ``/health`` (no auth, no data) measured in the same run, and
the CPU time server and clients spent per request (a figure the machine's load does
not change much, unlike latency).

    python benchmarks/service.py                # 60 s, 8 clients
    python benchmarks/service.py --seconds 10 --clients 4 [--client httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relgraph import api  # noqa: E402
from relgraph.jobs.outputs import register_output  # noqa: E402
from relgraph.service import TokenStore  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prepare(ws: Path) -> str:
    """F1 snapshot + a predictions output shaped like a binary task's test split."""
    if not (ws / "snapshots").is_dir():
        api.ingest(str(ROOT / "examples" / "f1"), workspace=ws)
    snap = api.snapshot(workspace=ws)
    drivers = snap.read_table("drivers", columns=["driverId"]).column(0).to_numpy()
    anchors = np.arange(
        np.datetime64("2019-09-08"),
        np.datetime64("2019-09-08") + np.timedelta64(40 * 30, "D"),
        np.timedelta64(30, "D"),
    )
    rng = np.random.default_rng(0)
    ent = np.tile(drivers, len(anchors))
    anc = np.repeat(anchors.astype("datetime64[us]"), len(drivers))
    prob = rng.random(len(ent))
    preds = pa.table(
        {"ENTITY": ent, "ANCHOR_TIMESTAMP": anc, "PREDICTION": prob > 0.5, "TRUE_PROB": prob}
    )
    return register_output(ws, "predictions", preds, {"model_id": "benchmark", "table": "drivers"})


class RawHTTP:
    """GETs over one keep-alive HTTP/1.1 connection, parsed by hand.

    The load generator shares the machine's cores with the server: httpx costs ~2 ms of
    CPU per request, more than the server spends answering it, so by default the
    clients use this (~0.1 ms); ``--client httpx`` measures with httpx instead.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        hostport = url.split("://", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"Host: {hostport}\r\n{extra}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = next(
                int(v)
                for k, _, v in (line.partition(b":") for line in lines[1:])
                if k.strip().lower() == b"content-length"
            )
            return status, await self.reader.readexactly(length)
        except (OSError, ValueError, StopIteration, asyncio.IncompleteReadError):
            await self.close()
            return 0, b""

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpxGet:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            r = await self.http.get(path)
            return r.status_code, r.content
        except httpx.HTTPError:
            return 0, b""

    async def close(self) -> None:
        pass


Getter = RawHTTP | HttpxGet


def page_ok(status: int, body: bytes, check_json: bool) -> bool:
    """A 200 with a non-empty ``items`` list (parsed in full on every ``check_json``)."""
    if status != 200:
        return False
    if check_json:
        return bool(json.loads(body)["items"])
    return body.startswith(b'{"items":[{')


async def client_loop(
    http: Getter,
    pred_id: str,
    total: int,
    until: float,
    lat: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    i = 0
    while time.monotonic() < until:
        if i % 2 == 0:
            name, url = "list jobs", "/api/v1/jobs?limit=50"
        else:
            off = random.randrange(0, max(total - 100, 1))
            name, url = (
                "page predictions",
                f"/api/v1/predictions/{pred_id}/rows?limit=100&offset={off}",
            )
        t0 = time.perf_counter()
        status, body = await http.get(url)
        lat[name].append(time.perf_counter() - t0)
        if not page_ok(status, body, check_json=i % 20 < 2):
            errors[name] += 1
        i += 1
    await http.close()


async def health_probe(
    http: Getter, until: float, lat: list[float], errors: dict[str, int]
) -> None:
    while time.monotonic() < until:
        t0 = time.perf_counter()
        status, _ = await http.get("/health")
        lat.append(time.perf_counter() - t0)
        if status != 200:
            errors["health"] += 1
        await asyncio.sleep(0.05)
    await http.close()


async def run_load(
    url: str, token: str, pred_id: str, total: int, clients: int, seconds: float, client: str
) -> dict[str, object]:
    lat: dict[str, list[float]] = {"list jobs": [], "page predictions": []}
    health: list[float] = []
    errors = {"list jobs": 0, "page predictions": 0, "health": 0}
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as hx:

        def getter() -> Getter:
            return RawHTTP(url, headers) if client == "raw" else HttpxGet(hx)

        until = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(
            health_probe(getter(), until, health, errors),
            *(client_loop(getter(), pred_id, total, until, lat, errors) for _ in range(clients)),
        )
        elapsed = time.monotonic() - t0
    return {"lat": lat, "health": health, "errors": errors, "elapsed": elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--seconds", type=float, default=60.0, help="How long the clients run (default 60)."
    )
    ap.add_argument("--clients", type=int, default=8, help="Concurrent clients (default 8).")
    ap.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP client of the load generator (default raw: hand-parsed HTTP/1.1, cheap).",
    )
    ap.add_argument(
        "--workspace", type=Path, default=None, help="Workspace (default: a temp folder with F1)."
    )
    args = ap.parse_args()

    ws = args.workspace or Path(tempfile.mkdtemp(prefix="rg-bench-service-"))
    pred_id = prepare(ws)
    total = pq.read_metadata(ws / "outputs" / pred_id / "data.parquet").num_rows
    token = TokenStore(ws).create("editor", name="benchmark").token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "relgraph", "serve", "--workspace", str(ws), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(
                    "server did not start: "
                    + (server.stderr.read().decode() if server.stderr else "")
                )
            time.sleep(0.2)
        # A few finished jobs, so that listing them returns something.
        h = {"Authorization": f"Bearer {token}"}
        for params in ({"table": "circuits", "k": 3}, {"table": "constructors", "k": 3}):
            job = httpx.post(
                url + "/api/v1/jobs", json={"kind": "project", "params": params}, headers=h
            ).json()
            while httpx.get(f"{url}/api/v1/jobs/{job['id']}", headers=h).json()["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.2)
        server_cpu0, client_cpu0 = cpu_seconds(server.pid), time.process_time()
        res = asyncio.run(
            run_load(url, token, pred_id, total, args.clients, args.seconds, args.client)
        )
        server_cpu = cpu_seconds(server.pid) - server_cpu0
        client_cpu = time.process_time() - client_cpu0
        load = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=20)

    lat: dict[str, list[float]] = res["lat"]  # type: ignore[assignment]
    errors: dict[str, int] = res["errors"]  # type: ignore[assignment]
    elapsed: float = res["elapsed"]  # type: ignore[assignment]
    reads = [x for v in lat.values() for x in v]
    print(
        f"service load: {args.clients} clients ({args.client}), {elapsed:.1f} s, loopback, "
        f"1 server process, cpus={os.cpu_count()}"
    )
    print(
        f"{'endpoint':<18} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    )
    for name, xs in [*lat.items(), ("all reads", reads), ("health (ref)", res["health"])]:
        arr = np.asarray(xs) * 1000
        err = errors.get(
            name.split(" (")[0], sum(errors[k] for k in lat) if name == "all reads" else 0
        )
        print(
            f"{name:<18} {len(arr):>9} {len(arr) / elapsed:>8.1f} {np.percentile(arr, 50):>8.1f} "
            f"{np.percentile(arr, 99):>8.1f} {err:>7}"
        )
    p99 = float(np.percentile(np.asarray(reads) * 1000, 99))
    p99_health = float(np.percentile(np.asarray(res["health"]) * 1000, 99))
    print(
        f"reads p99 {p99:.1f} ms (target < 100 ms); "
        f"ratio to /health p99 under the same load: {p99 / p99_health:.2f}"
    )
    n = len(reads) + len(res["health"])  # type: ignore[arg-type]
    print(
        f"CPU per request: server {server_cpu / n * 1000:.2f} ms, "
        f"client {client_cpu / n * 1000:.2f} ms (server busy {server_cpu / elapsed:.0%} of one "
        "core); load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    total_errors = sum(errors.values())
    print(f"errors: {total_errors}")
    if total_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
