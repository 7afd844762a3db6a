"""Lineage from SQL scripts, OpenLineage files and view definitions becomes graph edges."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from relgraph.document.columns import profile_table
from relgraph.document.graph import build_graph
from relgraph.document.lineage import (
    read_lineage_file,
    read_sql_scripts,
    read_views,
)
from relgraph.errors import SourceError

SCRIPT = """
CREATE TABLE stg_orders AS
SELECT o.id AS order_id, o.user_id AS customer_id, o.amount / 100.0 AS amount_usd
FROM raw_orders AS o;

INSERT INTO customer_totals (customer, lifetime_value)
SELECT s.customer_id, SUM(s.amount_usd) FROM stg_orders AS s GROUP BY s.customer_id;
"""


def _profiles() -> list:
    tables = {
        "raw_orders": pa.table({"id": [1, 2], "user_id": [7, 8], "amount": [100, 250]}),
        "stg_orders": pa.table(
            {"order_id": [1, 2], "customer_id": [7, 8], "amount_usd": [1.0, 2.5]}
        ),
        "customer_totals": pa.table({"customer": [7, 8], "lifetime_value": [1.0, 2.5]}),
    }
    return [p for name, t in tables.items() for p in profile_table("shop", name, t)]


def _lineage_pairs(graph) -> set[tuple[str, str]]:
    e = graph.edges["lineage"]
    keys = [p.key for p in graph.profiles]
    return {(keys[a], keys[b]) for a, b in e.T}


def test_sql_script_lineage_becomes_edges(tmp_path: Path) -> None:
    script = tmp_path / "transform.sql"
    script.write_text(SCRIPT)
    res = read_sql_scripts([script], schema={"raw_orders": ["id", "user_id", "amount"]})
    got = {(e.source_table, e.source_column, e.target_table, e.target_column) for e in res.edges}
    assert got == {
        ("raw_orders", "id", "stg_orders", "order_id"),
        ("raw_orders", "user_id", "stg_orders", "customer_id"),
        ("raw_orders", "amount", "stg_orders", "amount_usd"),
        # the INSERT's second step reads the first step's output, traced through it
        ("stg_orders", "customer_id", "customer_totals", "customer"),
        ("stg_orders", "amount_usd", "customer_totals", "lifetime_value"),
    }
    graph, unmatched = build_graph(_profiles(), {"shop": res.edges})
    assert not unmatched
    pairs = _lineage_pairs(graph)
    assert ("shop.raw_orders.user_id", "shop.stg_orders.customer_id") in pairs
    assert ("shop.customer_totals.lifetime_value", "shop.stg_orders.amount_usd") in pairs


def test_openlineage_column_facet_becomes_edges(tmp_path: Path) -> None:
    event = {
        "eventType": "COMPLETE",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "etl", "name": "build_stg_orders"},
        "inputs": [{"namespace": "pg", "name": "public.raw_orders"}],
        "outputs": [
            {
                "namespace": "pg",
                "name": "public.stg_orders",
                "facets": {
                    "columnLineage": {
                        "fields": {
                            "order_id": {
                                "inputFields": [
                                    {"namespace": "pg", "name": "public.raw_orders", "field": "id"}
                                ]
                            },
                            "amount_usd": {
                                "inputFields": [
                                    {
                                        "namespace": "pg",
                                        "name": "public.raw_orders",
                                        "field": "amount",
                                    }
                                ]
                            },
                        }
                    }
                },
            }
        ],
    }
    f = tmp_path / "events.jsonl"
    f.write_text(json.dumps(event) + "\n")
    res = read_lineage_file(f)
    graph, unmatched = build_graph(_profiles(), {"*": res.edges})
    assert not unmatched
    assert _lineage_pairs(graph) >= {
        ("shop.raw_orders.id", "shop.stg_orders.order_id"),
        ("shop.raw_orders.amount", "shop.stg_orders.amount_usd"),
    }


def test_csv_lineage_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "l.csv"
    good.write_text(
        "source_table,source_column,target_table,target_column\nraw_orders,id,stg_orders,order_id\n"
    )
    assert len(read_lineage_file(good).edges) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\na,b\n")
    with pytest.raises(SourceError, match="needs the header"):
        read_lineage_file(bad)
    broken = tmp_path / "b.json"
    broken.write_text("{not json")
    with pytest.raises(SourceError, match="not valid JSON"):
        read_lineage_file(broken)


def test_sqlite_view_definition_is_read(tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, amount REAL);"
        "CREATE VIEW big_orders AS SELECT id AS order_id, amount * 1.2 AS gross FROM orders "
        "WHERE amount > 10;"
    )
    con.close()
    res = read_views(f"sqlite:///{db}", schema={"orders": ["id", "user_id", "amount"]})
    got = {(e.source_table, e.source_column, e.target_table, e.target_column) for e in res.edges}
    assert got == {
        ("orders", "id", "big_orders", "order_id"),
        ("orders", "amount", "big_orders", "gross"),
    }


def test_postgres_view_definition_is_read(postgres_url: str) -> None:
    import psycopg

    schema = f"doc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
        con.execute(
            f'CREATE TABLE "{schema}".customers '
            "(id int PRIMARY KEY, first_name text, last_name text)"
        )
        con.execute(
            f'CREATE VIEW "{schema}".customer_names AS SELECT id AS customer_id, '
            f"first_name || ' ' || last_name AS full_name FROM \"{schema}\".customers"
        )
    res = read_views(f"{postgres_url}?schema={schema}")
    got = {(e.source_table, e.source_column, e.target_table, e.target_column) for e in res.edges}
    assert got == {
        ("customers", "id", "customer_names", "customer_id"),
        ("customers", "first_name", "customer_names", "full_name"),
        ("customers", "last_name", "customer_names", "full_name"),
    }
