"""Hostile sources for the security tests: real SQLite files and PostgreSQL databases
whose table and column names carry quotes, ``;``, ``../``, control characters, very
long names and Unicode look-alikes, plus helpers that prove nothing was written
where it must not be.

Every event table has the same rows (:func:`event_rows`), so a test can compute the
labels relgraph should produce without relgraph and compare.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

USERS = [(1, "2024-01-01 00:00:00"), (2, "2024-01-02 00:00:00"), (3, "2024-01-03 00:00:00")]
EVENTS = 12
FIRST_EVENT = datetime(2024, 2, 1)


def injection(target: str) -> str:
    """A table name that, pasted into ``CREATE VIEW "{name}" …``, writes ``target``."""
    return f"x\" AS SELECT 1; COPY (SELECT 'pwned') TO '{target}'; --"


# Names relgraph must accept and keep exactly (SQL and the store treat them as data).
ACCEPTED_TABLE_NAMES = (
    injection("pwned.csv"),  # relative: lands in the working directory
    "'); DROP TABLE users; --",
    'ord"ers',
    "usеrs",  # Cyrillic е: a look-alike of the users table, a different name
    "注文 📦",
    "t" * 255,  # the longest name allowed
)
HOSTILE_COLUMNS = ('a"b', "x'); SELECT 1; --", "..", "ünï cödé")  # numbers
TEXT_COLUMN = "n'o\"te; --"  # text: "it's 0", "it's 1", ...


def event_rows() -> list[tuple[Any, ...]]:
    """(id, user_id, at, note, *hostile column values): 12 events, one every 10 days."""
    rows = []
    for i in range(EVENTS):
        at = FIRST_EVENT + timedelta(days=10 * i)
        values = tuple(float(i + k) for k in range(len(HOSTILE_COLUMNS)))
        rows.append(
            (i + 1, i % len(USERS) + 1, at.strftime("%Y-%m-%d %H:%M:%S"), f"it's {i}", *values)
        )
    return rows


def expected_counts(anchor: datetime, days: int) -> dict[int, int]:
    """COUNT(events.*, 0, days) per user at ``anchor``, computed without relgraph."""
    counts = {u: 0 for u, _ in USERS}
    for _, user, at, *_ in event_rows():
        t = datetime.fromisoformat(at)
        if anchor < t <= anchor + timedelta(days=days):
            counts[user] += 1
    return counts


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def make_sqlite(
    path: Path, event_tables: list[str], columns: tuple[str, ...] = HOSTILE_COLUMNS
) -> Path:
    """A SQLite file: ``users`` and one event table per name, all linked to users."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, signup TIMESTAMP)")
    con.executemany("INSERT INTO users VALUES (?, ?)", USERS)
    extra = f", {_q(TEXT_COLUMN)} TEXT" + "".join(f", {_q(c)} REAL" for c in columns)
    for name in event_tables:
        con.execute(
            f"CREATE TABLE {_q(name)} (id INTEGER PRIMARY KEY, "
            f"user_id INTEGER REFERENCES users(id), created_at TIMESTAMP{extra})"
        )
        marks = ", ".join("?" * (4 + len(columns)))
        rows = [r[: 4 + len(columns)] for r in event_rows()]
        con.executemany(f"INSERT INTO {_q(name)} VALUES ({marks})", rows)
    con.commit()
    con.close()
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def listing(root: Path, *, skip: Path | None = None) -> set[str]:
    """Every path under ``root`` (files and folders), leaving out ``skip``'s subtree."""
    out = set()
    for p in root.rglob("*"):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        out.add(str(p.relative_to(root)))
    return out


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: where a relative ``COPY … TO 'pwned.csv'`` would land."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[tuple[str, Any]]:
    """A fresh, empty PostgreSQL database: (its URL, an autocommit psycopg connection)."""
    import psycopg

    name = f"hostile_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    con = psycopg.connect(url, autocommit=True)
    try:
        yield url, con
    finally:
        con.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def make_postgres(con: Any, schema: str, event_tables: list[str]) -> None:
    """The SQLite layout in PostgreSQL schema ``schema`` (which may be hostile too)."""
    from psycopg import sql

    s = sql.Identifier(schema)
    con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    con.execute(
        sql.SQL("CREATE TABLE {}.users (id integer PRIMARY KEY, signup timestamp)").format(s)
    )
    con.cursor().executemany(sql.SQL("INSERT INTO {}.users VALUES (%s, %s)").format(s), USERS)
    for name in event_tables:
        t = sql.Identifier(schema, name)
        cols = sql.SQL(", {} text").format(sql.Identifier(TEXT_COLUMN)) + sql.SQL("").join(
            sql.SQL(", {} double precision").format(sql.Identifier(c)) for c in HOSTILE_COLUMNS
        )
        con.execute(
            sql.SQL(
                "CREATE TABLE {} (id integer PRIMARY KEY, "
                "user_id integer REFERENCES {}.users(id), created_at timestamp{})"
            ).format(t, s, cols)
        )
        marks = sql.SQL(", ").join([sql.Placeholder()] * (4 + len(HOSTILE_COLUMNS)))
        con.cursor().executemany(
            sql.SQL("INSERT INTO {} VALUES ({})").format(t, marks), event_rows()
        )
