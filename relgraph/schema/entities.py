"""Entity tables derived from a key column, for entities that have no table of their own.

``ratings.userId`` names users, but a ratings export has no ``users`` table to
predict for. A schema file's ``entities:`` section makes one::

    entities:
      users: ratings.userId      # one row per distinct ratings.userId

The table holds the distinct non-NULL values under the column's name, so
inference then links ``ratings.userId -> users`` like any other key.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import SchemaError


def derive_entities(
    tables: dict[str, pa.Table], spec: dict[str, Any], *, origin: str = "schema file"
) -> dict[str, pa.Table]:
    """``tables`` plus one table per ``name: table.column`` entry of ``spec``."""
    out = dict(tables)
    for name, ref in (spec or {}).items():
        where = f"{origin}: entity '{name}'"
        if name in out:
            raise SchemaError(f"{where} is already a table of the source; pick another name")
        table, sep, column = str(ref).partition(".")
        if not sep or table not in tables:
            raise SchemaError(
                f"{where} must name a key column as table.column, e.g. 'ratings.userId'; "
                f"tables: {', '.join(tables)}"
            )
        if column not in tables[table].schema.names:
            raise SchemaError(
                f"{where}: '{column}' is not a column of '{table}'; "
                f"columns: {', '.join(tables[table].schema.names)}"
            )
        values = pc.unique(tables[table].column(column).drop_null())
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        out[name] = pa.table({column: pc.take(values, pc.sort_indices(values))})
    return out
