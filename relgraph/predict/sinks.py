"""Where predictions go: Parquet in the workspace, or a table in SQLite / PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from relgraph._sql import quote_ident
from relgraph.errors import SourceError

DEFAULT_TABLE = "relgraph_predictions"
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.parquet")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _engine_url(uri: str) -> str:
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        # psycopg 3 is the driver shipped with relgraph.
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    if uri.startswith(("sqlite://", "postgresql+")):
        return uri
    raise SourceError(
        f"cannot write predictions to '{uri}': use sqlite:///path/to/file.db or "
        "postgresql://user:pass@host/db (optionally ending in #table_name)"
    )


def split_target(uri: str) -> tuple[str, str]:
    """``sqlite:///x.db#preds`` → (``sqlite:///x.db``, ``preds``)."""
    base, _, table = uri.partition("#")
    table = table or DEFAULT_TABLE
    if not _TABLE_RE.match(table):
        raise SourceError(f"table name '{table}' must be letters, digits and underscores")
    return base, table


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A DataFrame for SQL: embeddings become JSON text (portable across databases)."""
    df = table.to_pandas()
    if "EMBEDDING" in df.columns:
        df["EMBEDDING"] = [
            None if v is None else json.dumps([round(float(x), 6) for x in v])
            for v in df["EMBEDDING"]
        ]
    return df


def write_sql(table: pa.Table, uri: str, model_id: str) -> str:
    """Replace this model's rows in the target table (other models' rows stay)."""
    base, name = split_target(uri)
    try:
        engine = sa.create_engine(_engine_url(base))
    except Exception as e:  # SQLAlchemy raises several types for bad URLs / missing drivers
        raise SourceError(f"cannot open '{base}': {e}") from e
    df = to_frame(table)
    try:
        with engine.begin() as con:
            if sa.inspect(con).has_table(name):
                delete = f'DELETE FROM {quote_ident(name)} WHERE "MODEL_ID" = :m'
                con.execute(sa.text(delete), {"m": model_id})
            df.to_sql(name, con, if_exists="append", index=False)
    except sa.exc.SQLAlchemyError as e:
        raise SourceError(f"writing predictions to table '{name}' in '{base}' failed: {e}") from e
    finally:
        engine.dispose()
    return f"{base}#{name}"
