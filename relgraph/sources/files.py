"""A folder (or a single file) of CSV, Parquet or JSON-lines tables, read with DuckDB."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph._sql import quote_literal
from relgraph.errors import SourceError
from relgraph.sources.base import ProgressFn, SourceTables
from relgraph.sources.sqlite import SQLITE_SUFFIXES

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


DELIMITERS = (",", "\t", ";", "|")


def _open_text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    # utf-8-sig: a byte-order mark is not part of the first column's name.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def sniff_header(path: Path) -> tuple[str, list[str]]:
    """(delimiter, header fields) from the first line, read by Python's csv module.

    DuckDB's sniffer is too forgiving for relgraph's purpose: it widens the
    table when a row has *more* fields than the header and reads an unterminated
    quote as a literal character. Fixing the dialect from the header lets the
    reader (and :func:`diagnose_csv`) refuse such rows.
    """
    with _open_text(path) as f:
        first = f.readline()
    if not first.strip():
        raise SourceError(f"cannot read '{path}': the file is empty or its first line is blank")
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        delim = "\t"
    else:
        # The candidate that splits the header (outside quotes) into most fields.
        delim = max(DELIMITERS, key=lambda d: len(next(csv.reader([first], delimiter=d))))
    header = next(csv.reader([first], delimiter=delim))
    return delim, header


def csv_reader_sql(
    path: Path, *, full_scan: bool, delimiter: str = ",", parallel: bool = True
) -> str:
    """The DuckDB ``read_csv`` call relgraph uses; the benchmark times it too."""
    nulls = "[" + ", ".join(quote_literal(s) for s in NULL_STRINGS) + "]"
    sample = ", sample_size=-1" if full_scan else ""
    serial = "" if parallel else ", parallel=false"
    # null_padding: rows with fewer fields than the header (F1 races.csv 2025
    # rows) get NULLs; rows with *more* fields are refused by read_file.
    # dateformat: only ISO dates are dates; DuckDB would otherwise read
    # '6/18/52' as 2052-06-18 (two-digit years are ambiguous). Such columns stay
    # text and can be declared in the schema file.
    return (
        f"read_csv({quote_literal(str(path))}, header=true, delim={quote_literal(delimiter)}, "
        f"quote='\"', escape='\"', nullstr={nulls}, null_padding=true, "
        f"dateformat='%Y-%m-%d', auto_detect=true{sample}{serial})"
    )


def diagnose_csv(path: Path, delimiter: str) -> str | None:
    """Where a CSV breaks the rules, in words (``None``: no problem found).

    Runs only after a read failed or looked wrong, so its speed does not matter.
    """
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        start = 1
        try:
            header = next(reader)
            width = len(header)
            start = reader.line_num + 1
            for row in reader:
                if len(row) > width and any(v != "" for v in row[width:]):
                    return (
                        f"line {start} has {len(row)} fields but the header has {width}; "
                        "quote values that contain the delimiter"
                    )
                start = reader.line_num + 1
        except csv.Error as e:
            if "end of data" in str(e) or "EOF" in str(e):
                return f"unterminated quoted field starting at line {start}; close the quote"
            return f"malformed quoting at line {start}: {e}"
    return None


_LINE_RE = re.compile(r"[Ll]ine:?\s*(\d+)")


def _read_csv(path: Path, con: duckdb.DuckDBPyConnection) -> pa.Table:
    delim, header = sniff_header(path)
    # Types come from DuckDB's sample (a full-scan detection pass costs nearly
    # as much as the read itself). A late odd value then raises a
    # ConversionException and the file is read again with a full scan: a wrong
    # guess costs time, never data.
    full, parallel = False, True
    try:
        while True:
            try:
                sql = csv_reader_sql(path, full_scan=full, delimiter=delim, parallel=parallel)
                table = con.sql(f"SELECT * FROM {sql}").to_arrow_table()
                break
            except duckdb.ConversionException:
                if full:
                    raise
                full = True
            except duckdb.Error as e:
                # DuckDB's parallel scanner cannot pad short rows when quoted
                # fields hold newlines; the serial one can.
                if not parallel or "parallel=false" not in str(e):
                    raise
                parallel = False
    except duckdb.Error as e:
        problem = diagnose_csv(path, delim)
        if problem is not None:
            raise SourceError(f"cannot read '{path}': {problem}") from e
        raise
    if table.num_columns > len(header):
        extra = table.select(list(range(len(header), table.num_columns)))
        if any(c.null_count < len(c) for c in extra.columns):
            problem = diagnose_csv(path, delim) or (
                f"some rows have more than the header's {len(header)} fields"
            )
            raise SourceError(f"cannot read '{path}': {problem}")
        # Trailing delimiters on every line: empty extra fields carry nothing.
        table = table.select(list(range(len(header))))
    return normalize_table(table)


def normalize_table(table: pa.Table) -> pa.Table:
    """Times with a zone become UTC wall times: snapshots hold naive TIMESTAMPs."""
    fields = []
    changed = False
    for f in table.schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            fields.append(pa.field(f.name, pa.timestamp(f.type.unit), f.nullable))
            changed = True
        else:
            fields.append(f)
    return table.cast(pa.schema(fields)) if changed else table


def read_file(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Read one CSV/Parquet/JSON-lines file into Arrow, or raise :class:`SourceError`."""
    con = con or duckdb.connect()
    lower = path.name.lower()
    try:
        if lower.endswith(CSV_SUFFIXES):
            return _read_csv(path, con)
        if lower.endswith(PARQUET_SUFFIXES):
            table = con.sql(f"SELECT * FROM read_parquet({quote_literal(str(path))})")
            out = table.to_arrow_table()
            # DuckDB cuts a column name at NUL ("a\0b" -> "a"): keep the file's own
            # names, so that ingest's name check sees (and refuses) what is there.
            names = pq.read_schema(path).names
            if len(names) == out.num_columns and names != out.column_names:
                out = out.rename_columns(names)
            return normalize_table(out)
        if lower.endswith(JSON_SUFFIXES):
            return normalize_table(
                con.sql(
                    f"SELECT * FROM read_json_auto({quote_literal(str(path))}, format='auto', "
                    "dateformat='%Y-%m-%d')"
                ).to_arrow_table()
            )
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
            # A folder holding a database file is a common first try: name the source to use.
            dbs = sorted(
                p.name
                for p in self.path.iterdir()
                if p.is_file() and p.suffix.lower() in SQLITE_SUFFIXES
            )
            hint = f"; to read the SQLite file, ingest '{self.path / dbs[0]}'" if dbs else ""
            raise SourceError(
                f"no data files in '{self.path}': expected files ending in "
                f"{', '.join(SUPPORTED)}{hint}"
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
