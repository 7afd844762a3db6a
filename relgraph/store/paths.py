"""File names for things named by a table: chosen by relgraph, never by the source.

A table's name is data from the source (a SQLite table may be called
``../../<snapshot>/tables/drivers``), so it never becomes a path by itself. Every
file or folder named after a table (its Parquet file in a snapshot, its feature
cache, its embeddings) uses :func:`table_stem`: a readable ASCII slug of the name
plus a hash of the whole name. The slug holds only ``[A-Za-z0-9_]`` (no separator,
no dot), so the stem is one plain path component on every file system; the hash
keeps names apart that share a slug or differ only in case (``Users``/``users``
on a case-insensitive disk) or in look-alike letters.
"""

from __future__ import annotations

import hashlib
import re

_SLUG_CHARS = re.compile(r"[^A-Za-z0-9_]+")
_SLUG_LENGTH = 40
_HASH_LENGTH = 16
# What a manifest may name as a table file: one plain component, no "..", no separator.
_PLAIN_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*\.parquet$")


def table_stem(name: str) -> str:
    """A safe, deterministic file-name stem for table ``name``.

    Example:
        >>> table_stem("drivers")
        'drivers-a71518107f3a70bc'
        >>> table_stem("../../x")
        'x-9cdf6a50100a862e'
    """
    slug = _SLUG_CHARS.sub("_", name).strip("_")[:_SLUG_LENGTH] or "table"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    return f"{slug}-{digest}"


def table_file(name: str) -> str:
    """The Parquet file name of table ``name`` inside a snapshot's ``tables/``."""
    return table_stem(name) + ".parquet"


def is_plain_table_file(file_name: str) -> bool:
    """Whether a manifest's file name for a table stays inside ``tables/``.

    Example:
        >>> is_plain_table_file("drivers-a71518107f3a70bc.parquet")
        True
        >>> is_plain_table_file("../drivers.parquet")
        False
    """
    return bool(_PLAIN_FILE.match(file_name))


def legacy_table_file(name: str) -> str | None:
    """The file name format-1 snapshots used (``<name>.parquet``), if it is one component.

    Snapshots written before :func:`table_file` named the file after the table
    itself. Such a name without a separator or NUL is still one file inside
    ``tables/`` (it ends in ``.parquet``, so it is never ``.`` or ``..``) and is read
    as before; any other one may point outside the snapshot and is not followed.
    """
    if not name or any(ch in name for ch in ("/", "\\", "\x00")):
        return None
    return f"{name}.parquet"
