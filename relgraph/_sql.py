"""SQL text helpers shared by every stage that writes SQL (DuckDB, SQLite, PostgreSQL).

Every table or column name that relgraph puts into SQL text goes through
:func:`quote_ident`, and every string value through :func:`quote_literal`: names
come from the user's data (a SQLite table may be called ``x"; COPY …; --``), so
nothing is ever pasted in unquoted. Both use the SQL standard's doubling rule,
which DuckDB, SQLite and PostgreSQL share; NUL cannot be written in any of them
(PostgreSQL refuses it, SQLite and DuckDB end the text there), so it is refused.
"""

from __future__ import annotations


def _refuse_nul(text: str, what: str) -> None:
    if "\x00" in text:
        # ValueError, not a RelgraphError: names are checked at ingest
        # (relgraph.schema.names), so reaching here is a bug, not user input.
        raise ValueError(f"an SQL {what} cannot contain NUL: {text!r}")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier: standard double quotes, embedded quotes doubled.

    Example:
        >>> quote_ident('say "hi"; --')
        '"say ""hi""; --"'
    """
    _refuse_nul(name, "identifier")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote an SQL string literal: single quotes, embedded quotes doubled.

    Backslashes need no escaping: DuckDB, SQLite and PostgreSQL (with its default
    ``standard_conforming_strings``) read them literally inside ``'…'``.

    Example:
        >>> quote_literal("it's")
        "'it''s'"
    """
    _refuse_nul(value, "string literal")
    return "'" + value.replace("'", "''") + "'"
