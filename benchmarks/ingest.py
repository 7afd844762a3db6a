"""Ingest throughput: relgraph's whole ingest beside DuckDB's own read_csv of the same files.

relgraph's ingest = read (DuckDB CSV reader) + schema inference + validation
(exact key checks) + derived times + Parquet/zstd write + content hashing. The
reference is DuckDB materialising the same CSV files into a table in the same
run; the ratio relgraph/DuckDB (rows/s) is the figure (target >= 0.5).

    python benchmarks/ingest.py                  # F1 + a generated 10M-row table
    python benchmarks/ingest.py --rows 1000000   # smaller generated table
    python benchmarks/ingest.py --profile        # also print where the time goes
    python benchmarks/ingest.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.sources.files import CSV_SUFFIXES  # noqa: E402


def duckdb_read(folder: Path) -> tuple[int, float]:
    """(rows, seconds) for DuckDB reading every CSV of ``folder`` into tables."""
    con = duckdb.connect()
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith(CSV_SUFFIXES))
    t0 = time.perf_counter()
    rows = 0
    for i, f in enumerate(files):
        path = str(f).replace("'", "''")
        # The two options F1 needs to be read at all (\\N NULLs, short rows);
        # type detection and everything else are DuckDB's defaults.
        con.execute(
            f"CREATE TABLE t{i} AS SELECT * FROM read_csv('{path}', "
            "nullstr=['\\N', ''], null_padding=true)"
        )
        rows += con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
    return rows, time.perf_counter() - t0


def relgraph_ingest(folder: Path, workspace: Path, profile: bool) -> tuple[int, float, str]:
    """(rows, seconds, snapshot id) for a cold ``relgraph ingest`` of ``folder``."""
    shutil.rmtree(workspace, ignore_errors=True)
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    result = api.ingest(str(folder), workspace=workspace)
    if prof:
        prof.disable()
    seconds = time.perf_counter() - t0
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    rows = sum(result.snapshot.manifest.row_counts.values())
    return rows, seconds, result.snapshot.id


def generate(folder: Path, rows: int) -> None:
    """A users table and an events table of ``rows`` rows linking to it, as CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    users = max(rows // 100, 10)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS user_id, 'user' || range AS name, "
        f"['de', 'fr', 'us', 'jp'][1 + range % 4] AS country FROM range({users})) "
        f"TO '{folder / 'users.csv'}' (HEADER, DELIMITER ',')"
    )
    con.execute(
        f"COPY (SELECT range AS event_id, (hash(range) % {users})::BIGINT AS user_id, "
        f"round((hash(range + 1) % 100000)::BIGINT / 100.0, 2) AS amount, "
        f"['view', 'cart', 'buy', 'return'][1 + (hash(range + 2) % 4)::BIGINT] AS kind, "
        f"TIMESTAMP '2024-01-01' + to_seconds(range * 3) AS created_at "
        f"FROM range({rows})) TO '{folder / 'events.csv'}' (HEADER, DELIMITER ',')"
    )


def best_of(
    rounds: int, folder: Path, workspace: Path, profile: bool
) -> tuple[tuple[int, float, str], tuple[int, float]]:
    """Interleaved rounds of both readers; the fastest run of each."""
    refs, rgs = [], []
    for i in range(max(rounds, 1)):
        refs.append(duckdb_read(folder))
        rgs.append(relgraph_ingest(folder, workspace, profile and i == 0))
    return min(rgs, key=lambda r: r[1]), min(refs, key=lambda r: r[1])


def load_postgres(url: str, folder: Path) -> str:
    """Copy the generated CSVs into schema ``relgraph_bench`` (with keys); its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS relgraph_bench CASCADE")
        con.execute("CREATE SCHEMA relgraph_bench")
        con.execute(
            "CREATE TABLE relgraph_bench.users (user_id bigint PRIMARY KEY, name text, "
            "country text)"
        )
        con.execute(
            "CREATE TABLE relgraph_bench.events (event_id bigint PRIMARY KEY, "
            "user_id bigint REFERENCES relgraph_bench.users, amount float8, kind text, "
            "created_at timestamp)"
        )
        for table in ("users", "events"):
            sql = f"COPY relgraph_bench.{table} FROM STDIN (FORMAT csv, HEADER)"
            with con.cursor().copy(sql) as copy, (folder / f"{table}.csv").open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
        con.execute("ANALYZE")
    return url + ("&" if "?" in url else "?") + "schema=relgraph_bench"


def postgres_copy(url: str) -> tuple[int, float]:
    """(rows, seconds) for the server's raw ``COPY … TO STDOUT`` of both tables, drained."""
    import psycopg

    from relgraph.sources.postgres import split_url

    conninfo, schema = split_url(url)
    rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as con:
        for table in ("users", "events"):
            with con.cursor().copy(f"COPY {schema}.{table} TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    rows += bytes(chunk).count(b"\n")
    return rows, time.perf_counter() - t0


def best_of_postgres(
    rounds: int, url: str, workspace: Path
) -> tuple[tuple[int, float, str], tuple[int, float]]:
    refs, rgs = [], []
    for _ in range(max(rounds, 1)):
        refs.append(postgres_copy(url))
        shutil.rmtree(workspace, ignore_errors=True)
        t0 = time.perf_counter()
        result = api.ingest(url, workspace=workspace)
        secs = time.perf_counter() - t0
        rows = sum(result.snapshot.manifest.row_counts.values())
        rgs.append((rows, secs, result.snapshot.id))
    return min(rgs, key=lambda r: r[1]), min(refs, key=lambda r: r[1])


def report(
    name: str, rg: tuple[int, float, str], ref: tuple[int, float], ref_name: str = "duckdb read_csv"
) -> None:
    rows, secs, sid = rg
    ref_rows, ref_secs = ref
    rg_rate, ref_rate = rows / secs, ref_rows / ref_secs
    print(
        f"{name:<12} rows {rows:>11,}  relgraph {secs:7.2f}s {rg_rate:>12,.0f} rows/s   "
        f"{ref_name} {ref_secs:6.2f}s {ref_rate:>12,.0f} rows/s   "
        f"ratio {rg_rate / ref_rate:.2f}  (snapshot {sid})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the generated table")
    ap.add_argument("--no-f1", action="store_true", help="skip the F1 example")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of each ingest")
    ap.add_argument("--keep", type=Path, default=None, help="generate into this folder and keep it")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds (DuckDB then relgraph each round); the best of each is kept, "
        "which damps noise from other work on a shared machine",
    )
    ap.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="also load the generated table into this PostgreSQL database (schema "
        "relgraph_bench) and time ingesting it against the server's raw COPY TO STDOUT",
    )
    args = ap.parse_args()

    print(
        f"machine: {os.cpu_count()} cores, duckdb {duckdb.__version__}, "
        f"python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="relgraph-bench-") as tmp:
        work = Path(tmp)
        if not args.no_f1:
            f1 = REPO / "examples" / "f1"
            report("f1", *best_of(args.repeat, f1, work / "ws-f1", args.profile))
        folder = args.keep or work / "gen"
        if not (folder / "events.csv").is_file():
            t0 = time.perf_counter()
            generate(folder, args.rows)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
            print(
                f"generated {args.rows:,} rows ({size:,.0f} MiB) in {time.perf_counter() - t0:.1f}s"
            )
        report("generated", *best_of(args.repeat, folder, work / "ws-gen", args.profile))
        if args.postgres:
            url = load_postgres(args.postgres, folder)
            rg, ref = best_of_postgres(args.repeat, url, work / "ws-pg")
            report("postgres", rg, ref, ref_name="raw COPY TO STDOUT")


if __name__ == "__main__":
    main()
