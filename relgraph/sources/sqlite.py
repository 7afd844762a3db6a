"""A SQLite database file: tables, declared primary and foreign keys."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa

from relgraph._sql import quote_ident as _q
from relgraph.errors import SourceError
from relgraph.schema.types import ForeignKey
from relgraph.sources.base import DeclaredKeys, ProgressFn, SourceTables

# A plain path with one of these endings is read as a SQLite database.
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")

_BATCH = 65536


def _arrow_type(declared: str, values: list[Any]) -> pa.DataType | None:
    """Arrow type from SQLite's declared type affinity (None: let Arrow infer)."""
    d = declared.upper()
    if "INT" in d:
        return pa.int64()
    if any(k in d for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return pa.float64()
    if d in ("DATE",):
        return pa.date32()
    if d in ("DATETIME", "TIMESTAMP"):
        return pa.timestamp("us")
    if any(k in d for k in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BOOL" in d:
        return pa.bool_()
    return None


def _column(name: str, table: str, declared: str, values: list[Any]) -> pa.Array:
    t = _arrow_type(declared, values)
    try:
        if t is not None and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            # SQLite stores dates as text; Arrow parses ISO forms.
            return pa.array(values, pa.string()).cast(t)
        return pa.array(values, t) if t is not None else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # SQLite lets a column hold mixed types; keep every value as text rather
        # than drop anything; validation reports the column as mixed.
        return pa.array([None if v is None else str(v) for v in values], pa.string())


class SQLiteSource:
    """``sqlite:///path/to/file.db`` or a path ending in ``.db``/``.sqlite``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.uri = f"sqlite:///{self.path}"
        if not self.path.is_file():
            raise SourceError(f"SQLite database '{self.path}' does not exist")

    def __repr__(self) -> str:
        return f"SQLiteSource({str(self.path)!r})"

    def read(self, progress: ProgressFn | None = None) -> SourceTables:
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error as e:
            raise SourceError(f"cannot open SQLite database '{self.path}': {e}") from e
        try:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
        except sqlite3.DatabaseError as e:
            raise SourceError(f"'{self.path}' is not a SQLite database: {e}") from e
        tables: dict[str, pa.Table] = {}
        pks: dict[str, str] = {}
        composite: dict[str, tuple[str, ...]] = {}
        fks: dict[str, tuple[ForeignKey, ...]] = {}
        for i, name in enumerate(names):
            if progress:
                progress(name, i, len(names))
            info = con.execute(f"PRAGMA table_info({_q(name)})").fetchall()
            pk_cols = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
            if len(pk_cols) == 1:
                pks[name] = pk_cols[0]
            elif len(pk_cols) > 1:
                composite[name] = tuple(pk_cols)
            fks[name] = tuple(
                ForeignKey(column=r[3], target=r[2])
                for r in con.execute(f"PRAGMA foreign_key_list({_q(name)})").fetchall()
            )
            cols = [r[1] for r in info]
            types = [re.sub(r"\(.*", "", r[2] or "").strip() for r in info]
            data: list[list[Any]] = [[] for _ in cols]
            cur = con.execute(f"SELECT * FROM {_q(name)}")
            while rows := cur.fetchmany(_BATCH):
                for j in range(len(cols)):
                    data[j].extend(r[j] for r in rows)
            tables[name] = pa.table(
                {c: _column(c, name, t, d) for c, t, d in zip(cols, types, data, strict=True)}
            )
        con.close()
        if progress:
            progress("", len(names), len(names))
        declared = DeclaredKeys(primary_keys=pks, foreign_keys=fks, composite_keys=composite)
        return SourceTables(uri=self.uri, tables=tables, declared=declared)
