"""A PostgreSQL database: the tables of one schema, declared primary and foreign keys.

Rows travel with ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` and are parsed by
Arrow's multi-threaded CSV reader with the column types taken from the catalog,
so no Python code runs per row. NULL and the empty string stay distinct: COPY
writes NULL as an unquoted empty field and ``''`` as ``""``.

Example:
    >>> src = PostgresSource("postgresql://me:secret@db:5432/shop?schema=sales")
    >>> src
    PostgresSource('postgresql://me:***@db:5432/shop?schema=sales')
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from relgraph._sql import quote_ident as _q
from relgraph.errors import SourceError
from relgraph.schema.types import ForeignKey
from relgraph.sources.base import DeclaredKeys, ProgressFn, SourceTables, redact

# Catalog type name -> Arrow type. Everything else is read as its text form.
_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int64(),
    "int4": pa.int64(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "money": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    # timestamptz is converted to UTC wall time on the server: snapshots store
    # naive TIMESTAMPs (all times in one zone), see CONTRACTS.
    "timestamptz": pa.timestamp("us"),
    "time": pa.time64("us"),
}


@dataclass(frozen=True)
class _PgColumn:
    name: str
    typname: str

    @property
    def arrow_type(self) -> pa.DataType:
        return _TYPES.get(self.typname, pa.string())

    def select_expr(self) -> str:
        q = _q(self.name)
        if self.typname == "timestamptz":
            return f"({q} AT TIME ZONE 'UTC') AS {q}"
        if self.typname in _TYPES and self.typname != "money":
            return q
        # Arrays, JSON, UUID, enums, intervals, …: their canonical text form.
        return f"{q}::text AS {q}"


def split_url(uri: str) -> tuple[str, str]:
    """(libpq connection URL, schema): ``?schema=`` is relgraph's, not libpq's."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  # a port that is no number raises here, not later
    except ValueError as e:  # e.g. "Invalid IPv6 URL" for postgresql://u@[::1/db
        # urllib quotes the bad "port", which may be a password (postgresql://u:pw/db).
        reason = re.sub(r" as '.*'$", "", str(e))
        raise SourceError(
            f"malformed PostgreSQL URL '{redact(uri)}': {reason}; "
            "use postgresql://user[:password]@host[:port]/dbname"
        ) from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    kept: list[tuple[str, str]] = []
    for k, v in query:
        if k == "schema":
            schema = v or "public"
        else:
            kept.append((k, v))
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return conninfo, schema


class PostgresSource:
    """``postgresql://user[:password]@host:port/db[?schema=name]`` (default schema ``public``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.conninfo, self.schema = split_url(uri)
        if not urlsplit(uri).path.strip("/"):  # split_url has refused a malformed one
            raise SourceError(
                f"PostgreSQL URL '{redact(uri)}' names no database: "
                "use postgresql://user@host:port/dbname"
            )

    def __repr__(self) -> str:
        return f"PostgresSource({redact(self.uri)!r})"

    def read(self, progress: ProgressFn | None = None) -> SourceTables:
        import psycopg

        where = redact(self.uri)
        try:
            con = psycopg.connect(self.conninfo, connect_timeout=10)
        except psycopg.Error as e:
            raise SourceError(
                f"cannot connect to PostgreSQL at '{where}': {_first_line(e)}; "
                "check host, port, user, password (or PGPASSWORD) and database name"
            ) from e
        try:
            # A read-only snapshot: every table is read as of the same moment.
            con.read_only = True
            con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with con.transaction():
                con.execute("SET LOCAL TimeZone = 'UTC'")
                con.execute("SET LOCAL DateStyle = 'ISO, YMD'")
                con.execute("SET LOCAL extra_float_digits = 3")
                names = self._tables(con)
                if not names:
                    raise SourceError(
                        f"PostgreSQL schema '{self.schema}' at '{where}' has no tables; "
                        "pick another with ?schema=NAME"
                    )
                declared = self._keys(con, set(names))
                tables: dict[str, pa.Table] = {}
                for i, name in enumerate(names):
                    if progress:
                        progress(name, i, len(names))
                    tables[name] = self._read_table(con, name)
        except psycopg.Error as e:
            raise SourceError(f"cannot read PostgreSQL '{where}': {_first_line(e)}") from e
        finally:
            con.close()
        if progress:
            progress("", len(names), len(names))
        return SourceTables(uri=self.uri, tables=tables, declared=declared)

    # -- catalog ---------------------------------------------------------------
    def _tables(self, con: Any) -> list[str]:
        rows = con.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "ORDER BY c.relname",
            [self.schema],
        ).fetchall()
        return [r[0] for r in rows]

    def _columns(self, con: Any, table: str) -> list[_PgColumn]:
        rows = con.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [self.schema, table],
        ).fetchall()
        return [_PgColumn(r[0], r[1]) for r in rows]

    def _keys(self, con: Any, names: set[str]) -> DeclaredKeys:
        """Single-column primary keys, and foreign keys that reference one."""
        rows = con.execute(
            "SELECT con.contype, t.relname, a.attname, ft.relname, fa.attname "
            "FROM pg_constraint con "
            "JOIN pg_class t ON t.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] "
            "LEFT JOIN pg_class ft ON ft.oid = con.confrelid "
            "LEFT JOIN pg_namespace fn ON fn.oid = ft.relnamespace "
            "LEFT JOIN pg_attribute fa "
            "ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1] "
            "WHERE n.nspname = %s AND con.contype IN ('p', 'f') "
            "AND cardinality(con.conkey) = 1 AND (con.contype = 'p' OR fn.nspname = %s) "
            "ORDER BY t.relname, con.contype DESC, a.attnum",
            [self.schema, self.schema],
        ).fetchall()
        pks: dict[str, str] = {}
        for kind, table, col, _, _ in rows:
            if kind == "p":
                pks[table] = col
        fks: dict[str, list[ForeignKey]] = {}
        for kind, table, col, target, target_col in rows:
            # relgraph links point at the target's primary key; a reference to
            # another unique column of the target cannot be expressed, so skip it.
            if kind == "f" and target in names and pks.get(target) == target_col:
                fks.setdefault(table, []).append(ForeignKey(column=col, target=target))
        # Primary keys of several columns, in key order (link tables, partitioned facts).
        multi = con.execute(
            "SELECT t.relname, array_agg(a.attname ORDER BY k.i) FROM pg_constraint con "
            "JOIN pg_class t ON t.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, i) "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND con.contype = 'p' AND cardinality(con.conkey) > 1 "
            "GROUP BY t.relname",
            [self.schema],
        ).fetchall()
        return DeclaredKeys(
            primary_keys={t: c for t, c in pks.items() if t in names},
            foreign_keys={t: tuple(v) for t, v in fks.items()},
            composite_keys={t: tuple(cols) for t, cols in multi if t in names},
        )

    # -- data ------------------------------------------------------------------
    def _read_table(self, con: Any, table: str) -> pa.Table:
        cols = self._columns(con, table)
        if not cols:
            return pa.table({})
        select = ", ".join(c.select_expr() for c in cols)
        sql = f"COPY (SELECT {select} FROM {_q(self.schema)}.{_q(table)}) TO STDOUT (FORMAT csv)"
        # The CSV text is buffered whole, then parsed by Arrow's threads: COPY
        # sends one message per row, and feeding Arrow a Python file over that
        # stream measured about 2x slower on 1M rows (benchmarks/ingest.py
        # --postgres). The price is memory: the text and the table, briefly.
        buf = io.BytesIO()
        with con.cursor().copy(sql) as copy:
            for chunk in copy:
                buf.write(chunk)
        schema = pa.schema([(c.name, c.arrow_type) for c in cols])
        if buf.tell() == 0:
            return schema.empty_table()
        buf.seek(0)
        try:
            return pacsv.read_csv(
                buf,
                read_options=pacsv.ReadOptions(
                    column_names=[c.name for c in cols], block_size=16 * 2**20
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=schema,
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
        except pa.ArrowInvalid as e:
            # e.g. 'infinity' dates or years BC, which Arrow cannot hold.
            raise SourceError(
                f"cannot convert PostgreSQL table '{self.schema}.{table}': {e}; "
                "cast the column to text in a view, or clean the values"
            ) from e


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
