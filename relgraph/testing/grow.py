"""A grown database from the F1 example: a copy cut at a year, to grow into the full data.

``write_f1_cut(src, dst, 2015)`` keeps the races up to 2015, every row that points at
a kept race, and the drivers and constructors that took part by then (drivers who first
raced later are *new entities* of the full data). Other tables are copied as they are.
Values are copied as text, untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

# Tables whose rows belong to a race (``raceId``).
RACE_TABLES = (
    "results", "qualifying", "pit_stops", "driver_standings", "constructor_standings",
    "constructor_results", "sprint_results",
)  # fmt: skip


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def write_f1_cut(src: str | Path, dst: str | Path, until_year: int) -> Path:
    """Write F1's CSVs (and ``schema.yaml`` if any) to ``dst``, cut after ``until_year``."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    races = _read(src / "races.csv")
    races = races[races["year"].astype(int) <= until_year]
    kept = set(races["raceId"])
    tables: dict[str, pd.DataFrame] = {"races": races}
    for name in RACE_TABLES:
        if (src / f"{name}.csv").is_file():
            t = _read(src / f"{name}.csv")
            tables[name] = t[t["raceId"].isin(kept)]
    seasons = _read(src / "seasons.csv")
    tables["seasons"] = seasons[seasons["year"].astype(int) <= until_year]
    for ent, col in (("drivers", "driverId"), ("constructors", "constructorId")):
        seen: set[str] = set()
        everywhere: set[str] = set()
        for name in RACE_TABLES:
            if name in tables and col in tables[name].columns:
                seen |= set(tables[name][col])
                everywhere |= set(_read(src / f"{name}.csv")[col])
        t = _read(src / f"{ent}.csv")
        # Entities that raced only later do not exist yet; those that never raced stay.
        tables[ent] = t[t[col].isin(seen) | ~t[col].isin(everywhere)]
    for f in src.iterdir():
        if (f.suffix == ".csv" and f.stem not in tables) or f.name == "schema.yaml":
            shutil.copy(f, dst / f.name)
    for name, t in tables.items():
        t.to_csv(dst / f"{name}.csv", index=False)
    return dst
