"""SQL text helpers shared by every stage that writes SQL (DuckDB, SQLite, PostgreSQL)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (standard double quotes; embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'
