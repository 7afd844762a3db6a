"""Materialise derived time columns (``TimeSpec``) into the tables, with DuckDB.

Runs at ingest, so every later stage simply reads ``TableSchema.time_column``.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from relgraph._sql import quote_ident as _q
from relgraph.errors import SchemaError
from relgraph.schema.types import Schema


def derive_time_columns(tables: dict[str, pa.Table], schema: Schema) -> dict[str, pa.Table]:
    """Return ``tables`` with every combined/inherited time column added."""
    out = dict(tables)
    pending = {n for n, t in schema.tables.items() if t.time_spec is not None and n in out}
    con = duckdb.connect()
    # Zoned times become UTC wall times whatever the machine's zone (CONTRACTS: naive UTC).
    con.execute("SET TimeZone = 'UTC'")
    while pending:
        progressed = False
        for name in sorted(pending):
            ts = schema[name]
            spec = ts.time_spec
            assert spec is not None  # filtered above; narrows the type for mypy
            col = ts.time_column or "_rg_time"
            derived = spec.kind in ("combine", "inherit") and col in out[name].schema.names
            base = out[name].drop_columns([col]) if derived else out[name]
            offset = f" + INTERVAL ({int(spec.offset_seconds)}) SECOND"
            if spec.kind == "parse":
                # Validation has already refused unparseable values. Through TIMESTAMPTZ
                # so that a text offset ('...-04:00') moves the time to UTC instead of
                # being dropped; text without one is read as UTC (the session's zone).
                con.register("t", out[name])
                res = con.sql(
                    f"SELECT * REPLACE (CAST(CAST({_q(col)} AS TIMESTAMPTZ) AS TIMESTAMP) "
                    f"AS {_q(col)}) FROM t"
                ).to_arrow_table()
                con.unregister("t")
            elif spec.kind == "epoch":
                # Unix epoch integers -> UTC TIMESTAMP (snapshots hold naive UTC times).
                div = {"s": 1, "ms": 1_000, "us": 1_000_000}.get(spec.unit or "s", 1)
                con.register("t", out[name])
                res = con.sql(
                    f"SELECT * REPLACE (CAST(make_timestamp(CAST({_q(col)} AS BIGINT) * "
                    f"{1_000_000 // div}) AS TIMESTAMP) AS {_q(col)}) FROM t"
                ).to_arrow_table()
                con.unregister("t")
            elif spec.kind == "combine":
                if spec.date_column is None or spec.clock_column is None:
                    raise SchemaError(f"table '{name}': combine needs a date and a clock column")
                con.register("t", base)
                expr = (
                    f"CAST({_q(spec.date_column)} AS DATE) + "
                    f"COALESCE(CAST({_q(spec.clock_column)} AS TIME), TIME '00:00:00')"
                )
                res = con.sql(f"SELECT *, ({expr}){offset} AS {_q(col)} FROM t").to_arrow_table()
                con.unregister("t")
            elif spec.kind == "inherit":
                fk = next((f for f in ts.foreign_keys if f.column == spec.via), None)
                if fk is None:
                    raise SchemaError(
                        f"table '{name}' inherits its time via '{spec.via}', "
                        "which is not one of its foreign keys"
                    )
                if fk.target in pending:
                    continue  # the parent's own time is not materialised yet
                parent = schema[fk.target]
                if parent.time_column is None or parent.primary_key is None:
                    raise SchemaError(
                        f"table '{name}' inherits its time from '{fk.target}', "
                        "which has no time column or no primary key"
                    )
                res = base.append_column(
                    col,
                    _inherited_time(
                        base.column(spec.via or ""),
                        out[fk.target].column(parent.primary_key),
                        out[fk.target].column(parent.time_column),
                        spec.offset_seconds,
                    ),
                )
            else:
                pending.discard(name)
                progressed = True
                continue
            out[name] = res
            pending.discard(name)
            progressed = True
        if not progressed:
            raise SchemaError(
                "time columns inherit from each other in a cycle: " + ", ".join(sorted(pending))
            )
    return out


def _inherited_time(
    fk: pa.ChunkedArray, keys: pa.ChunkedArray, times: pa.ChunkedArray, offset_seconds: int
) -> pa.ChunkedArray:
    """For each foreign-key value, the time of the parent row it points at (+ offset).

    A hash lookup in Arrow: row order is kept by construction (snapshots hash
    the same) and, unlike a join, a duplicated parent key cannot multiply rows.
    Dangling or NULL keys get a NULL time.
    """
    if keys.type != fk.type:
        keys = keys.cast(fk.type)
    idx = pc.index_in(fk, value_set=keys.combine_chunks())
    parent_times = times.combine_chunks().cast(pa.timestamp("us"))
    out = parent_times.take(idx)
    if offset_seconds:
        # Built from bytes: pa.scalar()/pa.array() import pandas (~1 s) on first use.
        micros = (offset_seconds * 1_000_000).to_bytes(8, "little", signed=True)
        shift = pa.Array.from_buffers(pa.duration("us"), 1, [None, pa.py_buffer(micros)])[0]
        out = pc.add(out, shift)
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])
