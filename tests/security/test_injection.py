"""No SQL runs but relgraph's: hostile table and column names are data everywhere.

Real SQLite files and PostgreSQL databases name their tables and columns with
quotes, ``;``, comments, look-alike letters and 255 characters; relgraph ingests
them, builds views, labels, baseline features and entity rows over them, serves
them over HTTP, and the only effects are the right answers: no file appears
anywhere (``COPY … TO`` in a name), no table is dropped, every statement relgraph
writes is one statement over the snapshot's own tables.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relgraph import api
from relgraph._sql import quote_ident, quote_literal
from relgraph.errors import DataValidationError
from relgraph.predict.run import entity_rows
from relgraph.query.ast import quote_name
from relgraph.query.parser import parse
from relgraph.query.sql import ANCHORS, label_sql
from relgraph.query.table import make_labels
from relgraph.service import TokenStore, create_app
from relgraph.train.baseline import compute_features, feature_sql
from tests.security.conftest import (
    ACCEPTED_TABLE_NAMES,
    HOSTILE_COLUMNS,
    TEXT_COLUMN,
    USERS,
    event_rows,
    expected_counts,
    injection,
    listing,
    make_postgres,
    make_sqlite,
)
from tests.service.conftest import LiveServer, auth

ANCHOR_TIMES = [datetime(2024, 2, 1), datetime(2024, 3, 1), datetime(2024, 4, 1)]
V1 = "/api/v1"


def _want_counts(days: int = 30) -> dict[tuple[datetime, int], float]:
    return {(a, u): float(c) for a in ANCHOR_TIMES for u, c in expected_counts(a, days).items()}


def _labels(snap: Any, pql: str) -> dict[tuple[datetime, int], float]:
    rows = make_labels(snap, pql, ANCHOR_TIMES).to_pylist()
    return {(r["ANCHOR_TIMESTAMP"], r["ENTITY"]): r["TARGET"] for r in rows}


# -- the quoting helpers ------------------------------------------------------------
@pytest.mark.parametrize("name", [*ACCEPTED_TABLE_NAMES, *HOSTILE_COLUMNS, '"', '""', "\\"])
def test_quote_ident_round_trips_through_duckdb(name: str) -> None:
    con = duckdb.connect()
    cur = con.execute(f"SELECT 1 AS {quote_ident(name)}")
    assert cur.description[0][0] == name
    assert len(duckdb.extract_statements(f"SELECT 1 AS {quote_ident(name)}")) == 1


@pytest.mark.parametrize("value", ["it's", "''", "a\\'b", "line\nbreak", "; DROP TABLE x; --", "ü"])
def test_quote_literal_round_trips_through_duckdb(value: str) -> None:
    assert duckdb.connect().execute(f"SELECT {quote_literal(value)}").fetchone() == (value,)


def test_nul_is_refused_by_both_helpers() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_ident("a\x00b")
    with pytest.raises(ValueError, match="NUL"):
        quote_literal("a\x00b")


# -- SQLite --------------------------------------------------------------------------
def test_hostile_sqlite_names_are_data_not_sql(tmp_path: Path, cwd: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    names = [*ACCEPTED_TABLE_NAMES, injection(str(outside / "pwned.csv"))]
    db = make_sqlite(tmp_path / "hostile.db", names)
    ws = tmp_path / "ws"
    before = listing(tmp_path, skip=ws)

    snap = api.ingest(f"sqlite:///{db}", workspace=ws).snapshot
    assert set(snap.table_names) == {"users", *names}
    for name in names:
        assert snap.read_table(name).num_rows == len(event_rows())
        assert snap.schema[name].foreign_keys[0].target == "users"
        # The query compiler's labels over the table equal the count made in Python.
        pql = f"PREDICT COUNT({quote_name(name)}.*, 0, 30, days) FOR EACH users.id"
        assert _labels(snap, pql) == _want_counts()

    # Hostile column names in a target and in a WHERE.
    t = quote_name(names[0])
    col0, col1 = (quote_name(c) for c in HOSTILE_COLUMNS[:2])
    got = _labels(snap, f"PREDICT SUM({t}.{col0}, 0, 30, days) FOR EACH users.id")
    got_where = _labels(
        snap, f"PREDICT COUNT({t}.* WHERE {t}.{col1} > 5, 0, 30, days) FOR EACH users.id"
    )
    for a in ANCHOR_TIMES:
        for u, _ in USERS:
            window = [
                r
                for r in event_rows()
                if r[1] == u and a < datetime.fromisoformat(r[2]) <= a + timedelta(days=30)
            ]
            if window:  # SUM of no rows is 0 and is labelled too
                assert got[(a, u)] == sum(r[4] for r in window)
            assert got_where[(a, u)] == sum(1 for r in window if r[5] > 5)

    # The baseline's features and the entity rows read the same hostile tables.
    task = api.compile_query(
        f"PREDICT COUNT({t}.*, 0, 30, days) > 0 FOR EACH users.id", workspace=ws
    )
    rows = pa.table(
        {
            "ENTITY": pa.array([1, 2, 3]),
            "ANCHOR_TIMESTAMP": pa.array([datetime(2024, 4, 1)] * 3, pa.timestamp("us")),
        }
    )
    feats = compute_features(snap, task, rows)
    count_cols = [c for c in feats.column_names if c.endswith(".all.count")]
    assert len(count_cols) == len(names)  # one per hostile child table
    # Rows at or before the anchor are visible to the baseline (no leakage).
    visible = [r[1] for r in event_rows() if datetime.fromisoformat(r[2]) <= datetime(2024, 4, 1)]
    assert feats.column(count_cols[0]).to_pylist() == [visible.count(u) for u in (1, 2, 3)]
    assert entity_rows(snap, names[0], HOSTILE_COLUMNS[0], datetime(2024, 4, 1)).num_rows == 12

    # Nothing was written anywhere but the workspace: no pwned.csv in the working
    # directory, in `outside`, or anywhere else under tmp_path.
    assert listing(tmp_path, skip=ws) == before


def test_every_statement_is_one_statement_over_known_tables(tmp_path: Path) -> None:
    names = list(ACCEPTED_TABLE_NAMES)
    snap = api.ingest(
        f"sqlite:///{make_sqlite(tmp_path / 'h.db', names)}", workspace=tmp_path / "ws"
    ).snapshot
    con = duckdb.connect()
    # The baseline's SQL binds its USING joins while listing tables: give it its inputs.
    bound = snap.duckdb()
    bound.register(
        "anchors",
        pa.table(
            {
                "ENTITY": pa.array([], pa.int64()),
                "ANCHOR_TIMESTAMP": pa.array([], pa.timestamp("us")),
                "_rid": pa.array([], pa.int64()),
            }
        ),
    )
    for name in names:
        q = quote_name(name)
        c = quote_name(TEXT_COLUMN)
        text = (
            f"PREDICT COUNT({q}.* WHERE {q}.{c} = 'x''); SELECT 1; --', 0, 30, days) > 0 "
            f"FOR EACH users.id WHERE COUNT({q}.*, -60, 0, days) > 0"
        )
        sql = label_sql(parse(text), snap.schema)
        assert len(duckdb.extract_statements(sql)) == 1
        assert con.get_table_names(sql) <= {ANCHORS, name, "users"}
        task = api.compile_query(text, snapshot=snap)
        fsql = feature_sql(snap, task)
        assert len(duckdb.extract_statements(fsql)) == 1
        assert bound.get_table_names(fsql) <= {"anchors", "users", *names}


def test_snapshot_connection_reaches_only_its_own_tables(tmp_path: Path) -> None:
    """The second wall: even SQL that got in could neither read nor write other files."""
    snap = api.ingest(
        f"sqlite:///{make_sqlite(tmp_path / 'h.db', ['events'])}", workspace=tmp_path / "ws"
    ).snapshot
    con = snap.duckdb()
    assert con.execute("SELECT count(*) FROM events").fetchone() == (12,)
    target = tmp_path / "pwned.csv"
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (
        f"COPY (SELECT 1) TO {quote_literal(str(target))}",
        f"SELECT * FROM read_csv({quote_literal(str(secret))})",
        f"ATTACH {quote_literal(str(tmp_path / 'other.db'))}",
        "SET enable_external_access = true",
        f"SET allowed_directories = [{quote_literal(str(tmp_path))}]",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(sql)
    assert not target.exists() and not (tmp_path / "other.db").exists()


# -- names refused at ingest ----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("new\nline", "control character U+000A"),
        ("\x1b[31mred", "control character U+001B"),
        ("evil\u202etxt.exe", "bidirectional-text control U+202E"),
        ("t" * 10_000, "10000 characters long"),
    ],
    ids=["newline", "ansi-escape", "bidi-override", "10000-chars"],
)
def test_unusable_sqlite_table_names_are_refused_naming_the_table(
    tmp_path: Path, name: str, why: str
) -> None:
    db = make_sqlite(tmp_path / "bad.db", ["fine", name])
    ws = tmp_path / "ws"
    with pytest.raises(DataValidationError, match=re.escape(why)) as e:
        api.ingest(f"sqlite:///{db}", workspace=ws)
    assert e.value.table == name
    assert repr(name[:20])[:-1] in e.value.message  # the table is named, escapes visible
    assert not (ws / "snapshots").exists() or not any((ws / "snapshots").iterdir())


def test_nul_in_a_parquet_column_name_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "bad\x00name": [1.0, 2.0]}), folder / "items.parquet")
    with pytest.raises(DataValidationError, match=r"U\+0000") as e:
        api.ingest(str(folder), workspace=tmp_path / "ws")
    assert (e.value.table, e.value.column) == ("items", "bad\x00name")
    assert "'items'" in e.value.message


def test_duplicate_column_names_in_parquet_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    t = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["Price", "price"])
    pq.write_table(t, folder / "items.parquet")
    with pytest.raises(DataValidationError, match="differing only in case"):
        api.ingest(str(folder), workspace=tmp_path / "ws")


# -- PostgreSQL -----------------------------------------------------------------------
PG_TABLES = [
    injection("pwned.csv"),
    "'); DROP TABLE users; --",
    'ord"ers',
    "usеrs",  # Cyrillic е
    "t" * 63,  # PostgreSQL's longest identifier (NAMEDATALEN - 1 bytes)
]
PG_SCHEMA = 's"; DROP SCHEMA public CASCADE; --'


@pytest.mark.postgres
def test_hostile_postgres_names_and_schema(
    pg_database: tuple[str, Any], tmp_path: Path, cwd: Path
) -> None:
    url, con = pg_database
    make_postgres(con, "public", PG_TABLES)
    make_postgres(con, PG_SCHEMA, PG_TABLES[:2])
    ws = tmp_path / "ws"
    before = listing(tmp_path, skip=ws)

    snap = api.ingest(url, workspace=ws).snapshot
    assert set(snap.table_names) == {"users", *PG_TABLES}
    for name in PG_TABLES:
        pql = f"PREDICT COUNT({quote_name(name)}.*, 0, 30, days) FOR EACH users.id"
        assert _labels(snap, pql) == _want_counts()
    # A hostile schema name, quoted into the reader's COPY statements.
    other = api.ingest(f"{url}?schema={urllib.parse.quote(PG_SCHEMA)}", workspace=ws).snapshot
    assert set(other.table_names) == {"users", *PG_TABLES[:2]}
    assert other.read_table(PG_TABLES[1]).num_rows == 12

    # Nothing the names say was run on the server: every table is still there.
    n = con.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', %s)", [PG_SCHEMA]
    ).fetchone()
    assert n == (len(PG_TABLES) + 1 + 3,)
    assert listing(tmp_path, skip=ws) == before


@pytest.mark.postgres
def test_postgres_names_differing_only_in_case_are_refused(
    pg_database: tuple[str, Any], tmp_path: Path
) -> None:
    url, con = pg_database
    con.execute('CREATE TABLE "Users" (id integer PRIMARY KEY)')
    con.execute("CREATE TABLE users (id integer PRIMARY KEY)")
    with pytest.raises(DataValidationError, match="differ only in case") as e:
        api.ingest(url, workspace=tmp_path / "ws")
    assert "'Users'" in e.value.message and "'users'" in e.value.message
    con.execute('DROP TABLE "Users"')
    con.execute('ALTER TABLE users ADD COLUMN "Total" float8, ADD COLUMN total float8')
    with pytest.raises(DataValidationError, match="differing only in case") as e:
        api.ingest(url, workspace=tmp_path / "ws")
    assert e.value.table == "users"


# -- the service ----------------------------------------------------------------------
def test_viewer_compiles_and_browses_hostile_tables_over_http(tmp_path: Path, cwd: Path) -> None:
    """The issue's attack: a viewer's POST /queries/compile on a hostile snapshot."""
    outside = tmp_path / "outside"
    outside.mkdir()
    names = [injection("pwned.csv"), injection(str(outside / "pwned.csv")), 'ord"ers', "注文 📦"]
    ws = tmp_path / "ws"
    api.ingest(f"sqlite:///{make_sqlite(tmp_path / 'h.db', names)}", workspace=ws)
    before = listing(tmp_path, skip=ws)
    viewer = TokenStore(ws).create("viewer").token
    app = create_app(ws)
    try:
        import httpx

        with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
            for name in names:
                pql = f"PREDICT COUNT({quote_name(name)}.*, 0, 30, days) > 0 FOR EACH users.id"
                r = http.post(f"{V1}/queries/compile", json={"query": pql}, headers=auth(viewer))
                assert r.status_code == 200, r.text
                if "/" in name:
                    continue  # a path segment cannot carry "/" (%2F is decoded first)
                seg = urllib.parse.quote(name, safe="")
                r = http.get(f"{V1}/snapshots/latest/tables/{seg}/rows", headers=auth(viewer))
                assert r.status_code == 200, r.text
                assert r.json()["total"] == 12
                r = http.get(f"{V1}/snapshots/latest/tables/{seg}/stats", headers=auth(viewer))
                assert r.status_code == 200, r.text
                assert {c["column"] for c in r.json()["columns"]} >= set(HOSTILE_COLUMNS)
    finally:
        app.state.relgraph.runner.shutdown()
    assert listing(tmp_path, skip=ws) == before
