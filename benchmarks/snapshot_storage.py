"""Storage of daily snapshots of a growing database: delta snapshots vs one snapshot.

A generated database (relgraph.testing.growing: users, items, orders) grows by 1%
a day; each day's files are ingested into one workspace, as a daily job would. The
figure is the disk space of all snapshots together (each file counted once: shared
files are hard links) divided by the space of one snapshot (day 0, and the last day
ingested alone into a fresh workspace). Target: 30 days <= 1.5x one snapshot.

    python benchmarks/snapshot_storage.py                      # 30 days, 500k orders
    python benchmarks/snapshot_storage.py --orders 2000000 --days 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.testing.growing import GrowingDatabase  # noqa: E402


def disk_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``, each inode once (hard links share their bytes)."""
    seen: set[int] = set()
    total = 0
    for p in folder.rglob("*"):
        st = p.lstat()
        if p.is_file() and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30, help="snapshots to take (day 0 .. days-1)")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=500_000)
    ap.add_argument("--rate", type=float, default=0.01)
    args = ap.parse_args()
    db = GrowingDatabase(
        users=args.users, orders=args.orders, rate=args.rate, days=args.days - 1, seed=0
    )
    with tempfile.TemporaryDirectory(prefix="rg-storage-") as tmp:
        src, ws = Path(tmp) / "src", Path(tmp) / "ws"
        t0 = time.perf_counter()
        kinds: dict[str, int] = {}
        for day in range(args.days):
            db.write(src, day)
            snap = api.ingest(str(src), workspace=ws).snapshot
            for kind in snap.manifest.storage.values():
                kinds[kind] = kinds.get(kind, 0) + 1
            if day == 0:
                first = disk_bytes(snap.path)
            for note in snap.manifest.notes:
                print(f"day {day}: note: {note}")
        seconds = time.perf_counter() - t0
        all_snaps = disk_bytes(ws / "snapshots")
        alone = api.ingest(str(src), workspace=Path(tmp) / "alone").snapshot
        last = disk_bytes(alone.path)
        n = len(api.snapshots(ws))
        rows = sum(alone.manifest.row_counts.values())
    print(f"{n} daily snapshots, +{args.rate:.0%} a day; last day {rows:,} rows")
    print(f"tables stored as: {dict(sorted(kinds.items()))}  ({seconds:.1f} s for all ingests)")
    print(f"one snapshot, day 0:              {first / 2**20:9.2f} MiB")
    print(f"one snapshot, last day (alone):   {last / 2**20:9.2f} MiB")
    print(f"all {n} snapshots:                {all_snaps / 2**20:9.2f} MiB")
    print(f"full copies would take about:     {n * (first + last) / 2 / 2**20:9.2f} MiB")
    print(f"storage ratio vs day-0 snapshot:  {all_snaps / first:.2f}x  (target <= 1.5x)")
    print(f"storage ratio vs last snapshot:   {all_snaps / last:.2f}x")


if __name__ == "__main__":
    main()
