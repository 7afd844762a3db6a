"""Infer a :class:`Schema` from Arrow tables (and any keys the source declares).

Rules, in order, each written so a user can predict them:

1. **Primary key** — declared, else the id-like column that names its table
   (``id``, ``users.user_id``, ``races.raceId``) if at most 10% of its rows are
   duplicates or NULLs (validation then reports those as errors), else the
   first unique non-NULL id-like column (``id``, ``*Id``, ``*_id``), else the
   first column when it is a unique non-NULL integer (``seasons.year``).
2. **Foreign keys** — declared, else (for files) column ``A.c`` links to ``B``
   when ``c`` is id-like, is not ``A``'s own primary key, equals ``B``'s primary
   key name (or ``<b>Id``/``<b>_id`` for singular ``b`` of ``B``), and at least
   95% of its distinct values, or of its non-NULL rows, occur in ``B``'s key
   (the rest are reported as dangling by validation, never dropped).
3. **Time column** — a date/timestamp column whose name reads as an event time
   (``date``, ``timestamp``, ``created_at``, ``*_date``, ...; never a birth
   date). A DATE with a sibling clock column (``date`` + ``time``) is combined.
   A table without one inherits the time of the row its only timed foreign key
   points at (``results`` rows happen when their race happens).
4. **Semantic types** — keys are ``id``; dates ``timestamp``; numbers
   ``numerical``; strings ``categorical`` when few distinct short values,
   ``multicategorical`` when values are short lists (``a|b|c``), else ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.schema.numeric_text import mostly_numbers
from relgraph.schema.types import (
    DERIVED_TIME_COLUMN,
    Column,
    ForeignKey,
    Schema,
    SType,
    TableSchema,
    TimeSpec,
)
from relgraph.sources.base import DeclaredKeys

ID_RE = re.compile(r"(^id$)|([a-z0-9]Id$)|(_id$)|([a-z0-9]ID$)", re.ASCII)
TIME_NAME_RE = re.compile(
    r"^(date|datetime|time|timestamp|ts|created|updated|event_time|.*_at|.*_date|.*_time|"
    r".*_ts|.*date|.*Date|.*Timestamp|.*timestamp|date.*|Date.*)$"
)
NOT_EVENT_TIME_RE = re.compile(r"(dob|birth|born|expir|valid_to|valid_until)", re.IGNORECASE)
LIST_SEP_RE = re.compile(r"[|;]")
FK_CONTAINMENT = 0.95


def is_id_like(name: str) -> bool:
    return bool(ID_RE.search(name))


def _singular(name: str) -> str:
    n = name.lower()
    if n.endswith("ies"):
        return n[:-3] + "y"
    if n.endswith("ses") or n.endswith("xes"):
        return n[:-2]
    if n.endswith("s") and not n.endswith("ss"):
        return n[:-1]
    return n


def _strictly_increasing(col: pa.ChunkedArray) -> bool:
    """An integer column without NULLs whose values only go up (so all distinct).

    Exported key columns are nearly always sorted; this O(n) vectorised test
    proves uniqueness exactly without building a hash table of every value.
    """
    if col.null_count or not pa.types.is_integer(col.type) or len(col) == 0:
        return False
    # Chunk by chunk: ChunkedArray.to_numpy imports pandas (~1 s) on first use.
    last = None
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        values = _int_values(chunk)
        if (last is not None and values[0] <= last) or not np.all(values[1:] > values[:-1]):
            return False
        last = values[-1]
    return True


def _int_values(chunk: pa.Array) -> np.ndarray:
    """A NULL-free integer chunk as a zero-copy numpy view.

    Not ``to_numpy()``: pyarrow imports pandas (about a second) on its first call.
    """
    t = chunk.type
    dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(t) else ''}int{t.bit_width}")
    return np.frombuffer(
        chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
    )


def distinct_count(col: pa.ChunkedArray) -> int:
    """Exact number of distinct non-NULL values."""
    if _strictly_increasing(col):
        return len(col)
    return int(pc.count_distinct(col, mode="only_valid").as_py())


def _is_unique_not_null(col: pa.ChunkedArray) -> bool:
    if col.null_count:
        return False
    if len(col) == 0:
        return False
    return distinct_count(col) == len(col)


def _is_temporal(t: pa.DataType) -> bool:
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _names_table(column: str, table: str) -> bool:
    """``id``, or ``<table>Id``/``<table>_id`` for the table's singular or plural name."""
    base = re.sub(r"(_?id|Id|ID)$", "", column).replace("_", "").lower()
    stems = {_singular(table).replace("_", ""), table.replace("_", "").lower()}
    return column.lower() == "id" or base in stems


def infer_primary_key(name: str, table: pa.Table) -> str | None:
    """The primary key of ``table`` (see rule 1 of the module docstring), or ``None``.

    A column that names its own table (``users.user_id``) is the key even when
    it has a few duplicates or NULLs, so that validation reports them as errors
    instead of the table silently losing its key and its links.
    """
    keyish: list[str] = [
        str(f.name)
        for f in table.schema
        if is_id_like(f.name) and (pa.types.is_integer(f.type) or pa.types.is_string(f.type))
    ]
    for c in keyish:
        if _names_table(c, name) and _mostly_unique(table.column(c)):
            return c
    candidates = [c for c in keyish if _is_unique_not_null(table.column(c))]
    if candidates:
        return candidates[0]
    if table.num_columns:
        first = table.schema[0]
        if pa.types.is_integer(first.type) and _is_unique_not_null(table.column(0)):
            return str(first.name)
    return None


def _mostly_unique(col: pa.ChunkedArray) -> bool:
    """At most 10% of the rows (at least one) are duplicates or NULLs."""
    n = len(col)
    return n > 0 and n - distinct_count(col) <= max(1, n // 10)


def _distinct_set(col: pa.ChunkedArray) -> pa.Array:
    values = pc.unique(col.drop_null())
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def infer_foreign_keys(
    name: str, table: pa.Table, pkeys: dict[str, str | None], tables: dict[str, pa.Table]
) -> tuple[ForeignKey, ...]:
    own_pk = pkeys.get(name)
    fks: list[ForeignKey] = []
    for f in table.schema:
        if f.name == own_pk or not is_id_like(f.name):
            continue
        for target, tpk in pkeys.items():
            if tpk is None or target == name:
                continue
            stem = _singular(target).replace("_", "")
            base = re.sub(r"(_?id|Id|ID)$", "", f.name).replace("_", "").lower()
            if f.name != tpk and base != stem:
                continue
            tcol = tables[target].column(tpk)
            if not _types_compatible(f.type, tcol.type):
                continue
            values = _distinct_set(table.column(f.name))
            if len(values) == 0:
                continue
            target_keys = _distinct_set(tcol)
            inside = pc.is_in(values, value_set=target_keys)
            share = (pc.sum(inside).as_py() or 0) / len(values)
            if share < FK_CONTAINMENT:
                # A few dangling values that each occur many times (orders of a
                # deleted user) do not make the link any less real: count rows too.
                col = table.column(f.name).drop_null()
                rows_in = pc.sum(pc.is_in(col, value_set=target_keys)).as_py() or 0
                share = max(share, rows_in / len(col))
            if share >= FK_CONTAINMENT:
                fks.append(ForeignKey(column=f.name, target=target))
                break
    return tuple(fks)


def _types_compatible(a: pa.DataType, b: pa.DataType) -> bool:
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return True
    return bool(a == b) or (pa.types.is_string(a) and pa.types.is_string(b))


def infer_own_time(table: pa.Table, pk: str | None, fk_cols: set[str]) -> TimeSpec | None:
    names = table.schema.names
    cands = [
        f.name
        for f in table.schema
        if _is_temporal(f.type)
        and f.name not in fk_cols
        and f.name != pk
        and TIME_NAME_RE.match(f.name)
        and not NOT_EVENT_TIME_RE.search(f.name)
    ]
    if not cands:
        cands = [
            f.name
            for f in table.schema
            if pa.types.is_string(f.type)
            and f.name not in fk_cols
            and f.name != pk
            and TIME_NAME_RE.match(f.name)
            and not NOT_EVENT_TIME_RE.search(f.name)
            and _mostly_timestamps(table.column(f.name))
        ]
        if not cands:
            return None
    exact = ("date", "timestamp", "datetime", "time", "ts", "created_at", "event_time")
    cands.sort(key=lambda c: (0 if c.lower() in exact else 1, names.index(c)))
    col = cands[0]
    if pa.types.is_date(table.schema.field(col).type):
        clock = _clock_sibling(table, col)
        if clock is not None:
            return TimeSpec(kind="combine", date_column=col, clock_column=clock)
    return TimeSpec(kind="column", date_column=col)


def _mostly_timestamps(col: pa.ChunkedArray) -> bool:
    """At least 90% of a text column's values read as ISO dates/timestamps."""
    values = col.drop_null()
    if len(values) == 0:
        return False
    # Cheap pre-test on the first values: ISO forms start with a YYYY-MM-DD date.
    head = values.slice(0, 1000)
    iso = pc.sum(pc.match_substring_regex(head, r"^\s*\d{4}-\d{1,2}-\d{1,2}")).as_py() or 0
    if iso < 0.9 * len(head):
        return False
    con = duckdb.connect()
    con.register("c", pa.table({"v": values}))
    rows = con.execute("SELECT count(TRY_CAST(v AS TIMESTAMP)) FROM c").fetchall()
    return bool(rows and rows[0][0] >= 0.9 * len(values))


def _clock_sibling(table: pa.Table, date_col: str) -> str | None:
    options = [re.sub(r"date", "time", date_col), re.sub(r"Date", "Time", date_col)]
    if date_col.lower() == "date":
        options.append("time")
    for o in options:
        if (
            o != date_col
            and o in table.schema.names
            and pa.types.is_time(table.schema.field(o).type)
        ):
            return o
    return None


def infer_stype(name: str, col: pa.ChunkedArray, *, is_key: bool) -> SType:
    t = col.type
    if is_key:
        return SType.id
    if _is_temporal(t):
        return SType.timestamp
    if pa.types.is_boolean(t) or pa.types.is_dictionary(t):
        return SType.categorical
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return SType.numerical
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return SType.numerical
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        vt = t.value_type
        if pa.types.is_floating(vt):
            return SType.embedding
        return SType.multicategorical
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_stype(col)
    return SType.text


STYPE_SAMPLE = 200_000


def _string_stype(col: pa.ChunkedArray) -> SType:
    # A spread-out sample is enough to tell labels from free text; keys and
    # links are decided elsewhere, on every row.
    # (Slices, not take(): building an index array from numpy imports pandas.)
    if len(col) > STYPE_SAMPLE:
        blocks, size = 200, STYPE_SAMPLE // 200
        step = len(col) // blocks
        col = pa.chunked_array(
            [c for i in range(blocks) for c in col.slice(i * step, size).chunks], type=col.type
        )
    nonnull = col.drop_null()
    n = len(nonnull)
    if n == 0:
        return SType.categorical
    if mostly_numbers(nonnull):
        # Numbers and clock times stored as text ("1:26.572"): read as seconds.
        return SType.numerical
    distinct = pc.count_distinct(nonnull).as_py()
    lengths = pc.utf8_length(nonnull)
    mean_len = float(pc.mean(lengths).as_py() or 0.0)
    if distinct <= max(10, min(1000, int(0.2 * n))) or (distinct <= 0.5 * n and mean_len <= 16):
        return SType.categorical
    sample = nonnull.slice(0, min(n, 2000)).to_pylist()
    with_sep = [s for s in sample if LIST_SEP_RE.search(s)]
    if len(with_sep) >= 0.5 * len(sample):
        tokens = {tok.strip() for s in sample for tok in LIST_SEP_RE.split(s)}
        if len(tokens) <= max(10, 0.2 * len(sample)):
            return SType.multicategorical
    return SType.text


def infer_schema(tables: dict[str, pa.Table], declared: DeclaredKeys | None = None) -> Schema:
    """Infer keys, links, time columns and semantic types for ``tables``."""
    declared = declared or DeclaredKeys()
    # 1. primary keys
    pkeys: dict[str, str | None] = {}
    for name, table in tables.items():
        pkeys[name] = declared.primary_keys.get(name) or infer_primary_key(name, table)
    # 2. foreign keys (declared constraints win over heuristics for SQL sources)
    fkeys: dict[str, tuple[ForeignKey, ...]] = {}
    for name, table in tables.items():
        if declared.foreign_keys or declared.primary_keys:
            fkeys[name] = tuple(
                fk for fk in declared.foreign_keys.get(name, ()) if fk.target in tables
            )
        else:
            fkeys[name] = infer_foreign_keys(name, table, pkeys, tables)
    # 3. time columns: own first, then inherited along foreign keys to a fixpoint
    specs: dict[str, TimeSpec | None] = {
        name: infer_own_time(table, pkeys[name], {fk.column for fk in fkeys[name]})
        for name, table in tables.items()
    }
    changed = True
    while changed:
        changed = False
        for name in tables:
            if specs[name] is not None:
                continue
            timed = [fk for fk in fkeys[name] if specs.get(fk.target) is not None]
            if len(timed) == 1:
                specs[name] = TimeSpec(kind="inherit", via=timed[0].column)
                changed = True
    # 4. columns and semantic types
    out: dict[str, TableSchema] = {}
    for name, table in tables.items():
        keys = {c for c in [pkeys[name]] if c} | {fk.column for fk in fkeys[name]}
        columns = [
            Column(
                f.name,
                str(f.type),
                infer_stype(f.name, table.column(f.name), is_key=f.name in keys),
            )
            for f in table.schema
        ]
        out[name] = make_table_schema(name, columns, pkeys[name], fkeys[name], specs[name])
    return Schema(tables=out)


def make_table_schema(
    name: str,
    columns: Iterable[Column],
    primary_key: str | None,
    foreign_keys: tuple[ForeignKey, ...],
    spec: TimeSpec | None,
) -> TableSchema:
    """Assemble a table schema; a derived time gets its stored column."""
    cols = list(columns)
    time_column: str | None = None
    if spec is not None:
        if spec.kind in ("column", "parse"):
            time_column = spec.date_column
            dtype = next((c.dtype for c in cols if c.name == time_column), "")
            # Every stored time column is a TIMESTAMP (CONTRACTS): text, DATEs and
            # other units are cast in place at ingest (validation first refuses
            # what cannot be cast); timestamp[us] columns need nothing.
            cast = dtype != "timestamp[us]"
            spec = TimeSpec(kind="parse", date_column=time_column) if cast else None
            cols = [
                Column(c.name, "timestamp[us]", SType.timestamp)
                if c.name == time_column and cast
                else c
                for c in cols
            ]
        else:
            time_column = DERIVED_TIME_COLUMN
            cols = [c for c in cols if c.name != DERIVED_TIME_COLUMN]
            cols.append(Column(DERIVED_TIME_COLUMN, "timestamp[us]", SType.timestamp))
    return TableSchema(
        name=name,
        columns=tuple(cols),
        primary_key=primary_key,
        foreign_keys=foreign_keys,
        time_column=time_column,
        time_spec=spec,
    )
