"""Paged reads of Parquet files, served from an in-memory cache.

Snapshot tables and job outputs are immutable once written (atomic rename), so a
file's (path, size, mtime) names its content and a cached Arrow table is never
stale. Slicing a cached table costs ~1 ms against ~60-90 ms for re-reading the
file per request. The REST pages go one step further: rows are JSON-encoded once,
in chunks of :data:`CHUNK_ROWS` as pages first touch them, so a page's body is a
join of cached bytes (:func:`page_json`) and a request does no per-value work.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio.to_thread
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.service.deps import rows_json

MAX_CACHE_BYTES = 512 << 20
# Files bigger than this are not cached whole: their pages are read by row group.
MAX_CACHED_FILE_BYTES = 128 << 20

CHUNK_ROWS = 512
MAX_ENCODED_BYTES = 256 << 20

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, int, int], pa.Table] = OrderedDict()
_cached_bytes = 0
# (file key, chunk number) -> that chunk's rows, each encoded as one JSON object.
_encoded: OrderedDict[tuple[tuple[str, int, int], int], list[bytes]] = OrderedDict()
_encoded_bytes = 0


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def _table(path: Path) -> pa.Table | None:
    global _cached_bytes
    key = _key(path)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    if key[1] > MAX_CACHED_FILE_BYTES:
        return None
    table = pq.read_table(path)
    with _lock:
        if key not in _cache:
            _cache[key] = table
            _cached_bytes += table.nbytes
            while _cached_bytes > MAX_CACHE_BYTES and len(_cache) > 1:
                _, old = _cache.popitem(last=False)
                _cached_bytes -= old.nbytes
    return table


def _slice_by_row_groups(path: Path, offset: int, limit: int) -> pa.Table:
    f = pq.ParquetFile(path)
    parts, start = [], 0
    for i in range(f.num_row_groups):
        n = f.metadata.row_group(i).num_rows
        if start + n > offset and start < offset + limit:
            parts.append(f.read_row_group(i))
        elif parts:
            break
        if not parts:
            start += n
    if not parts:
        return f.schema_arrow.empty_table()
    return pa.concat_tables(parts).slice(offset - start, limit)


def is_cached(path: Path) -> bool:
    with _lock:
        return _key(path) in _cache


async def read_page_async(path: Path, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """:func:`read_page` and :func:`num_rows` for async handlers: on the event loop when
    the file is cached (~1 ms), on a worker thread when it must be read first."""
    if is_cached(path):
        return read_page(path, limit, offset), num_rows(path)
    return await anyio.to_thread.run_sync(lambda: (read_page(path, limit, offset), num_rows(path)))


def read_page(path: Path, limit: int, offset: int) -> list[dict[str, Any]]:
    """Rows ``offset .. offset+limit`` of a Parquet file as JSON-safe dicts."""
    table = _table(path)
    page = (
        table.slice(offset, limit)
        if table is not None
        else _slice_by_row_groups(path, offset, limit)
    )
    return rows_json(page)


def num_rows(path: Path) -> int:
    table = _table(path)
    return table.num_rows if table is not None else int(pq.read_metadata(path).num_rows)


def column_names(path: Path) -> list[str]:
    with _lock:
        table = _cache.get(_key(path))
    return list((table.schema if table is not None else pq.read_schema(path)).names)


def _encode(table: pa.Table) -> list[bytes]:
    return [
        json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
        for row in rows_json(table)
    ]


def _chunk(key: tuple[str, int, int], table: pa.Table, n: int) -> list[bytes]:
    global _encoded_bytes
    with _lock:
        rows = _encoded.get((key, n))
        if rows is not None:
            _encoded.move_to_end((key, n))
            return rows
    rows = _encode(table.slice(n * CHUNK_ROWS, CHUNK_ROWS))
    with _lock:
        if (key, n) not in _encoded:
            _encoded[(key, n)] = rows
            _encoded_bytes += sum(len(r) for r in rows)
            while _encoded_bytes > MAX_ENCODED_BYTES and len(_encoded) > 1:
                _, old = _encoded.popitem(last=False)
                _encoded_bytes -= sum(len(r) for r in old)
    return rows


def page_json(path: Path, limit: int, offset: int) -> tuple[bytes, int]:
    """Rows ``offset .. offset+limit`` of a Parquet file as a JSON array, and the row count."""
    key = _key(path)
    table = _table(path)
    if table is None:  # too big to cache: encode just this page
        page = _slice_by_row_groups(path, offset, limit)
        return b"[" + b",".join(_encode(page)) + b"]", int(pq.read_metadata(path).num_rows)
    rows: list[bytes] = []
    end = min(offset + limit, table.num_rows)
    for n in range(offset // CHUNK_ROWS, (end - 1) // CHUNK_ROWS + 1 if end > offset else 0):
        chunk = _chunk(key, table, n)
        start = n * CHUNK_ROWS
        rows.extend(chunk[max(offset - start, 0) : end - start])
    return b"[" + b",".join(rows) + b"]", table.num_rows


async def page_json_async(path: Path, limit: int, offset: int) -> tuple[bytes, int]:
    """:func:`page_json` for async handlers: on the event loop when the file is cached,
    on a worker thread when it must be read first."""
    if is_cached(path):
        return page_json(path, limit, offset)
    return await anyio.to_thread.run_sync(lambda: page_json(path, limit, offset))


async def page_json_parts_async(paths: list[Path], limit: int, offset: int) -> tuple[bytes, int]:
    """:func:`page_json_async` over a table stored as several files (a base and its deltas).

    The files hold consecutive rows; the page takes from each the rows it overlaps.
    """
    if len(paths) == 1:
        return await page_json_async(paths[0], limit, offset)

    def counts() -> list[int]:
        return [num_rows(p) for p in paths]

    sizes = await anyio.to_thread.run_sync(counts)
    bodies: list[bytes] = []
    start = 0
    for path, n in zip(paths, sizes, strict=True):
        lo, hi = max(offset - start, 0), min(offset + limit - start, n)
        if hi > lo:
            body, _ = await page_json_async(path, hi - lo, lo)
            if body != b"[]":
                bodies.append(body[1:-1])
        start += n
    return b"[" + b",".join(bodies) + b"]", start
