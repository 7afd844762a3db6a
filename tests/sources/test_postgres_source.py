"""PostgresSource against a real PostgreSQL server started by the tests (conftest)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from relgraph import api
from relgraph.errors import SourceError
from relgraph.sources import open_source
from relgraph.sources.postgres import PostgresSource, split_url

pytestmark = pytest.mark.postgres

SHOP_SQL = """
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.users (
    user_id serial PRIMARY KEY, email text UNIQUE, name text, signup timestamptz,
    tags text[], score numeric(6, 2), active boolean, small smallint
);
CREATE TABLE shop.items (item_id integer PRIMARY KEY, title varchar(40), price float8,
                         attrs jsonb, born date, opens time);
CREATE TABLE shop.orders (
    order_id bigint PRIMARY KEY,
    buyer integer REFERENCES shop.users (user_id),
    item_id integer REFERENCES shop.items,
    buyer_email text REFERENCES shop.users (email),
    ordered_at timestamp NOT NULL,
    note text
);
CREATE TABLE shop.empty (k integer PRIMARY KEY);
CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders;
INSERT INTO shop.users (email, name, signup, tags, score, active, small) VALUES
    ('a@x', 'Ada, "the" first', '2024-01-01 10:00+02', '{x,y}', 1.25, true, 3),
    ('b@x', '', NULL, NULL, NULL, false, NULL),
    ('c@x', NULL, '2024-02-01', '{}', 3, NULL, -1);
INSERT INTO shop.items VALUES
    (1, 'pen', 1.5, '{"a": 1}', '2020-02-29', '09:30'),
    (2, E'multi\\nline', NULL, NULL, NULL, NULL);
INSERT INTO shop.orders VALUES
    (10, 1, 1, 'a@x', '2024-03-01 12:00:00.123456', NULL),
    (11, 2, 2, 'b@x', '2024-03-02', E'\\\\N'),
    (12, 2, 1, NULL, '2024-03-03 08:00', 'ok');
"""


@pytest.fixture(scope="module")
def shop_url(postgres_url: str) -> Iterator[str]:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(SHOP_SQL)
        con.execute("CREATE TABLE IF NOT EXISTS public.lonely (id integer PRIMARY KEY)")
    yield postgres_url + "?schema=shop"


def test_reads_tables_with_types(shop_url: str) -> None:
    src = open_source(shop_url).read()
    # Views are not tables; an empty table is still a table.
    assert sorted(src.tables) == ["empty", "items", "orders", "users"]
    users = src.tables["users"]
    assert users.schema.field("user_id").type == pa.int64()
    assert users.schema.field("signup").type == pa.timestamp("us")
    assert users.schema.field("score").type == pa.float64()
    assert users.schema.field("active").type == pa.bool_()
    rows = users.to_pylist()
    assert rows[0]["name"] == 'Ada, "the" first'
    # timestamptz arrives as UTC wall time.
    assert rows[0]["signup"] == dt.datetime(2024, 1, 1, 8, 0)
    assert rows[0]["tags"] == "{x,y}"
    # NULL and the empty string stay distinct.
    assert [r["name"] for r in rows] == ['Ada, "the" first', "", None]
    assert [r["active"] for r in rows] == [True, False, None]
    assert [r["small"] for r in rows] == [3, None, -1]
    items = src.tables["items"].to_pylist()
    assert items[1]["title"] == "multi\nline"
    assert items[0]["born"] == dt.date(2020, 2, 29)
    assert items[0]["opens"] == dt.time(9, 30)
    assert json.loads(items[0]["attrs"]) == {"a": 1}
    orders = src.tables["orders"].to_pylist()
    assert orders[0]["ordered_at"] == dt.datetime(2024, 3, 1, 12, 0, 0, 123456)
    # A literal backslash-N text is data, not NULL, in PostgreSQL.
    assert orders[1]["note"] == "\\N"
    assert src.tables["empty"].num_rows == 0
    assert src.tables["empty"].schema.field("k").type == pa.int64()


def test_declared_keys(shop_url: str) -> None:
    src = open_source(shop_url).read()
    assert src.declared.primary_keys == {
        "empty": "k",
        "items": "item_id",
        "orders": "order_id",
        "users": "user_id",
    }
    # buyer_email references a unique column that is not users' primary key:
    # a relgraph link always points at the primary key, so it is left out.
    assert {(f.column, f.target) for f in src.declared.foreign_keys["orders"]} == {
        ("buyer", "users"),
        ("item_id", "items"),
    }


def test_default_schema_is_public(postgres_url: str, shop_url: str) -> None:
    src = open_source(postgres_url).read()
    assert "lonely" in src.tables
    assert "orders" not in src.tables


def test_ingest_postgres_keeps_password_out_of_manifest(shop_url: str, tmp_path: Path) -> None:
    # Trust auth ignores the password, so the URL works and still carries a secret.
    url = shop_url.replace("postgres@", "postgres:hunter2@")
    result = api.ingest(url, workspace=tmp_path / "ws")
    snap = result.snapshot
    links = {str(link) for link in snap.schema.links}
    assert links == {"orders.buyer -> users.user_id", "orders.item_id -> items.item_id"}
    assert snap.schema["orders"].time_column == "ordered_at"
    assert snap.manifest.row_counts["orders"] == 3
    manifest = (snap.path / "manifest.json").read_text()
    assert "hunter2" not in manifest
    assert "postgres:***@" in snap.manifest.source


def test_bad_database_is_a_clear_error_without_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "postgres:hunter2@").replace("/postgres", "/nodb")
    with pytest.raises(SourceError, match="cannot connect to PostgreSQL") as info:
        open_source(url).read()
    assert "hunter2" not in info.value.message
    assert "nodb" in info.value.message


def test_unknown_schema_has_no_tables(postgres_url: str) -> None:
    with pytest.raises(SourceError, match=r"schema 'nosuch' .* has no tables"):
        open_source(postgres_url + "?schema=nosuch").read()


def test_url_parsing() -> None:
    conninfo, schema = split_url("postgres://u:p@h:5/db?schema=s&sslmode=disable")
    assert (conninfo, schema) == ("postgresql://u:p@h:5/db?sslmode=disable", "s")
    with pytest.raises(SourceError, match="names no database"):
        PostgresSource("postgresql://u@h:5")


def test_values_arrow_cannot_hold_are_a_clear_error(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS odd CASCADE; CREATE SCHEMA odd")
        con.execute("CREATE TABLE odd.events (id int PRIMARY KEY, day date)")
        con.execute("INSERT INTO odd.events VALUES (1, '2024-01-01'), (2, 'infinity')")
    with pytest.raises(SourceError, match=r"cannot convert PostgreSQL table 'odd\.events'"):
        open_source(postgres_url + "?schema=odd").read()


def test_large_table_reads_whole(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS big CASCADE; CREATE SCHEMA big")
        con.execute(
            "CREATE TABLE big.t AS SELECT i AS id, md5(i::text) AS h, "
            "TIMESTAMP '2024-01-01' + i * INTERVAL '1 second' AS at "
            "FROM generate_series(1, 200000) i"
        )
    t = open_source(postgres_url + "?schema=big").read().tables["t"]
    assert t.num_rows == 200_000
    assert t.column("id")[-1].as_py() == 200_000
    assert t.column("at")[0].as_py() == dt.datetime(2024, 1, 1, 0, 0, 1)


def test_cli_output_never_shows_the_password(shop_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relgraph.cli import app

    url = shop_url.replace("postgres@", "postgres:hunter2@")
    ws = str(tmp_path / "ws")
    for args in (
        ["ingest", url, "-w", ws],
        ["ingest", url, "-w", ws, "--json"],
        ["snapshots", "-w", ws, "--json"],
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "hunter2" not in res.stdout + res.stderr
    bad = CliRunner().invoke(app, ["ingest", url.replace("/postgres?", "/nodb?"), "-w", ws])
    assert bad.exit_code == SourceError.exit_code
    assert "hunter2" not in bad.stdout + bad.stderr
