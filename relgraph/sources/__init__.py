"""Sources: read tables from files, SQLite, PostgreSQL or an S3 bucket into Arrow."""

from __future__ import annotations

from pathlib import Path

from relgraph.errors import SourceError
from relgraph.sources.base import DeclaredKeys, ProgressFn, Source, SourceTables, redact
from relgraph.sources.files import FileSource
from relgraph.sources.sqlite import SQLITE_SUFFIXES, SQLiteSource

__all__ = [
    "DeclaredKeys",
    "FileSource",
    "ProgressFn",
    "SQLiteSource",
    "Source",
    "SourceTables",
    "open_source",
    "redact",
]


def open_source(uri: str, *, s3_endpoint: str | None = None) -> Source:
    """A :class:`Source` for ``uri``: a path, ``sqlite:///…``, ``postgresql://…`` or ``s3://…``."""
    if uri.startswith("sqlite:///"):
        return SQLiteSource(uri[len("sqlite:///") :])
    if uri.startswith(("postgresql://", "postgres://")):
        from relgraph.sources.postgres import PostgresSource

        return PostgresSource(uri)
    if uri.startswith("s3://"):
        from relgraph.sources.s3 import S3Source

        return S3Source(uri, endpoint=s3_endpoint)
    if "://" in uri:
        scheme = uri.split("://", 1)[0]
        raise SourceError(
            f"unknown source URL scheme '{scheme}://' in '{redact(uri)}': use a folder or "
            "file path, sqlite:///file.db, postgresql://user@host/db or s3://bucket/prefix"
        )
    path = Path(uri)
    if path.is_file() and path.suffix.lower() in SQLITE_SUFFIXES:
        return SQLiteSource(path)
    return FileSource(path)
