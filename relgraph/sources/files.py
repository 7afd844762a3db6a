"""A folder (or a single file) of CSV, Parquet or JSON-lines tables, read with DuckDB."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from relgraph.errors import SourceError
from relgraph.sources.base import ProgressFn, SourceTables

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
SUPPORTED = CSV_SUFFIXES + PARQUET_SUFFIXES + JSON_SUFFIXES
OVERRIDES_NAMES = ("schema.yaml", "schema.yml")

# ``\N`` is MySQL's NULL (the F1 dump uses it); an empty field is NULL too.
NULL_STRINGS = ["\\N", ""]


def table_name(path: Path) -> str:
    """File name without its data suffixes: ``results.csv.gz`` -> ``results``."""
    name = path.name
    for suffix in sorted(SUPPORTED, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def csv_reader_sql(path: Path, *, full_scan: bool) -> str:
    """The DuckDB ``read_csv`` call relgraph uses; the benchmark times it too."""
    nulls = "[" + ", ".join(_sql_str(s) for s in NULL_STRINGS) + "]"
    sample = ", sample_size=-1" if full_scan else ""
    # null_padding: rows with fewer fields than the header (F1 races.csv 2025
    # rows) get NULLs instead of failing; rows with *more* fields still fail.
    return (
        f"read_csv({_sql_str(str(path))}, header=true, nullstr={nulls}, "
        f"null_padding=true, auto_detect=true{sample})"
    )


_LINE_RE = re.compile(r"[Ll]ine:?\s*(\d+)")


def read_file(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Read one CSV/Parquet/JSON-lines file into Arrow, or raise :class:`SourceError`."""
    con = con or duckdb.connect()
    lower = path.name.lower()
    try:
        if lower.endswith(CSV_SUFFIXES):
            # Full-scan type detection for files up to 256 MB: a late odd value
            # must not fail the read after a 20k-row sample guessed a type.
            full = path.stat().st_size <= 256 * 2**20
            try:
                return con.sql(f"SELECT * FROM {csv_reader_sql(path, full_scan=full)}").to_arrow_table()
            except duckdb.ConversionException:
                if full:
                    raise
                return con.sql(f"SELECT * FROM {csv_reader_sql(path, full_scan=True)}").to_arrow_table()
        if lower.endswith(PARQUET_SUFFIXES):
            return con.sql(f"SELECT * FROM read_parquet({_sql_str(str(path))})").to_arrow_table()
        if lower.endswith(JSON_SUFFIXES):
            return con.sql(
                f"SELECT * FROM read_json_auto({_sql_str(str(path))}, format='auto')"
            ).to_arrow_table()
    except duckdb.Error as e:
        msg = str(e).strip().splitlines()
        first = msg[0] if msg else type(e).__name__
        m = _LINE_RE.search(str(e))
        where = f" (line {m.group(1)})" if m else ""
        detail = "\n  ".join(line for line in msg[1:6] if line.strip())
        raise SourceError(
            f"cannot read '{path}'{where}: {first}" + (f"\n  {detail}" if detail else "")
        ) from e
    raise SourceError(
        f"unsupported file type '{path.name}': expected one of {', '.join(SUPPORTED)}"
    )


class FileSource:
    """Tables from a folder of files (one table per file) or a single file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.uri = str(self.path)
        if not self.path.exists():
            raise SourceError(f"source path '{self.path}' does not exist")

    def __repr__(self) -> str:
        return f"FileSource({self.uri!r})"

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        found = sorted(
            p for p in self.path.iterdir() if p.is_file() and p.name.lower().endswith(SUPPORTED)
        )
        if not found:
            raise SourceError(
                f"no data files in '{self.path}': expected files ending in {', '.join(SUPPORTED)}"
            )
        return found

    def read(self, progress: ProgressFn | None = None) -> SourceTables:
        files = self.files()
        names: dict[str, Path] = {}
        for f in files:
            name = table_name(f)
            if name in names:
                raise SourceError(
                    f"two files give table '{name}': '{names[name].name}' and '{f.name}'"
                )
            names[name] = f
        con = duckdb.connect()
        tables: dict[str, pa.Table] = {}
        for i, (name, f) in enumerate(names.items()):
            if progress:
                progress(name, i, len(names))
            tables[name] = read_file(f, con)
        if progress:
            progress("", len(names), len(names))
        overrides = None
        if self.path.is_dir():
            for cand in OVERRIDES_NAMES:
                if (self.path / cand).is_file():
                    overrides = self.path / cand
                    break
        return SourceTables(uri=self.uri, tables=tables, overrides_file=overrides)
