"""Which table and column names relgraph accepts from a source, checked once at ingest.

A name is data, never code or a path: SQL quotes it (``relgraph._sql``) and the
store files it under a hash (``relgraph.store.paths``), so quotes, ``;``, ``/``,
``..`` and any Unicode letter are fine. Refused, each with a message naming the
table (and column):

- empty names, and names over :data:`MAX_NAME_LENGTH` characters;
- control characters (NUL, newline, tab, DEL, C1): NUL ends a string in SQLite
  and DuckDB and cannot be sent to PostgreSQL, and the others make a name print
  as something else in a terminal or a log;
- the bidirectional-text controls that reorder what a reader sees (the
  "Trojan Source" characters, CVE-2021-42574): a name must look like itself;
- two columns of one table with the same name, and two tables or columns whose
  names differ only in ASCII case: DuckDB, which runs relgraph's SQL, folds ASCII
  case even in quoted names, so the second would silently stand for the first.

Look-alike letters (Cyrillic ``а`` for Latin ``a``) stay allowed: they are other
names, kept apart everywhere.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

import pyarrow as pa

from relgraph.errors import DataValidationError

# Long enough for every SQL engine's own limit (PostgreSQL 63 bytes, SQL Server and
# Oracle 128, Snowflake 255 characters); a longer "name" is data put in the wrong place.
MAX_NAME_LENGTH = 255

# LRE RLE PDF LRO RLO, LRI RLI FSI PDI, and the ALM/LRM/RLM marks.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\u200e\u200f"
)


def shown(name: str, limit: int = 60) -> str:
    """``name`` quoted for a message, escapes visible and cut to ``limit`` characters."""
    text = repr(name[:limit])
    return text + f"… ({len(name)} characters)" if len(name) > limit else text


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a table or column name (``None``: it can).

    Example:
        >>> name_problem("order items; --") is None
        True
        >>> name_problem("a\\x00b")
        'contains the control character U+0000'
    """
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    for ch in name:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return f"contains the control character U+{ord(ch):04X}"
        if cat == "Cs":
            return f"contains the lone surrogate U+{ord(ch):04X} (not valid UTF-8)"
        if ch in _BIDI_CONTROLS:
            return f"contains the bidirectional-text control U+{ord(ch):04X}"
    return None


def fold(name: str) -> str:
    """``name`` as DuckDB compares identifiers: ASCII letters case-folded, others kept."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _first_clash(names: Iterable[str]) -> tuple[str, str] | None:
    seen: dict[str, str] = {}
    for n in names:
        if fold(n) in seen:
            return seen[fold(n)], n
        seen[fold(n)] = n
    return None


def check_names(tables: Mapping[str, pa.Table], *, source: str) -> None:
    """Refuse the first table or column name relgraph cannot use (see the module doc).

    Raises:
        DataValidationError: naming the table (and column) and the fix.
    """
    fix = "rename it in the source (or read it through a view with another name)"
    for t, table in tables.items():
        why = name_problem(t)
        if why is not None:
            raise DataValidationError(f"table name {shown(t)} in {source} {why}; {fix}", table=t)
        for c in table.column_names:
            why = name_problem(c)
            if why is not None:
                raise DataValidationError(
                    f"column name {shown(c)} of table {shown(t)} in {source} {why}; {fix}",
                    table=t,
                    column=c,
                )
        clash = _first_clash(table.column_names)
        if clash is not None:
            raise DataValidationError(
                f"table {shown(t)} in {source} has columns {shown(clash[0])} and "
                f"{shown(clash[1])}, the same name or differing only in case; relgraph's "
                "SQL engine (DuckDB) cannot tell them apart: rename one in the source",
                table=t,
                column=clash[1],
            )
    clash = _first_clash(tables)
    if clash is not None:
        raise DataValidationError(
            f"tables {shown(clash[0])} and {shown(clash[1])} in {source} differ only in "
            "case; relgraph's SQL engine (DuckDB) cannot tell them apart: rename one "
            "in the source",
            table=clash[1],
        )
