"""Where predictions go: Parquet in the workspace, or a table in SQLite / PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from relgraph._sql import quote_ident
from relgraph.errors import SourceError
from relgraph.redact import redact
from relgraph.sources.postgres import split_url

DEFAULT_TABLE = "relgraph_predictions"
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.parquet")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def _engine_url(uri: str) -> tuple[str, str | None]:
    """(SQLAlchemy URL, schema named by ``?schema=``): the schema is relgraph's, not libpq's."""
    if uri.startswith(("postgresql://", "postgres://")):
        conninfo, schema = split_url(uri)  # refuses a malformed URL with a redacted message
        # psycopg 3 is the driver shipped with relgraph.
        url = "postgresql+psycopg://" + conninfo.split("://", 1)[1]
        return url, (schema if "schema=" in urlsplit(uri).query else None)
    if uri.startswith("sqlite://"):
        return uri, None
    raise SourceError(
        f"cannot write predictions to '{redact(uri)}': use sqlite:///path/to/file.db or "
        "postgresql://user:pass@host/db[?schema=s] (optionally ending in #table or #schema.table)"
    )


def split_target(uri: str) -> tuple[str, str | None, str]:
    """``sqlite:///x.db#preds`` → (``sqlite:///x.db``, None, ``preds``).

    ``…#analytics.preds`` names a schema too (PostgreSQL), as ``?schema=analytics`` does.
    """
    base, _, target = uri.partition("#")
    schema, _, table = target.rpartition(".")
    table = table or DEFAULT_TABLE
    for what, name in (("schema", schema), ("table", table)):
        if name and not _TABLE_RE.match(name):
            raise SourceError(
                f"{what} name '{name}' must be letters, digits and underscores "
                "(not starting with a digit)"
            )
    return base, schema or None, table


def _reason(e: sa.exc.SQLAlchemyError) -> str:
    # The driver's own message: SQLAlchemy's text adds the statement and every bound
    # parameter (here: rows of predictions) and a link to its docs.
    return str(getattr(e, "orig", None) or e).strip().splitlines()[0]


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
    base, schema, name = split_target(uri)
    url, url_schema = _engine_url(base)
    if schema and url_schema and schema != url_schema:
        raise SourceError(
            f"'{redact(uri)}' names two schemas, '{url_schema}' (?schema=) and '{schema}' (#)"
        )
    schema = schema or url_schema
    if schema and url.startswith("sqlite"):
        raise SourceError(f"SQLite has no schemas: write to '{redact(base)}#{name}'")
    where = f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)
    shown = f"{schema}.{name}" if schema else name
    try:
        engine = sa.create_engine(url)
    except Exception as e:  # SQLAlchemy raises several types for bad URLs / missing drivers
        raise SourceError(f"cannot open '{redact(base)}': {redact(str(e))}") from None
    df = to_frame(table)
    try:
        with engine.begin() as con:
            inspector = sa.inspect(con)
            if schema and schema not in inspector.get_schema_names():
                raise SourceError(
                    f"schema '{schema}' does not exist in '{redact(base)}': create it "
                    f"(CREATE SCHEMA {quote_ident(schema)}) or write to another"
                )
            if inspector.has_table(name, schema=schema):
                delete = f'DELETE FROM {where} WHERE "MODEL_ID" = :m'
                con.execute(sa.text(delete), {"m": model_id})
            df.to_sql(name, con, schema=schema, if_exists="append", index=False)
    except sa.exc.SQLAlchemyError as e:
        raise SourceError(
            f"writing predictions to table '{shown}' in '{redact(base)}' failed: "
            f"{redact(_reason(e))}"
        ) from None
    finally:
        engine.dispose()
    return f"{redact(base)}#{shown}"
