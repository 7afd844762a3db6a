"""SQLiteSource against a real SQLite file with declared keys."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from relgraph import api
from relgraph.errors import SourceError
from relgraph.schema.infer import infer_schema
from relgraph.schema.types import SType
from relgraph.sources import SQLiteSource


def make_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE customer (cust_no INTEGER PRIMARY KEY, name TEXT, joined DATE);
        CREATE TABLE product (sku TEXT PRIMARY KEY, price REAL);
        -- Key names a heuristic would not link: 'buyer' -> customer, 'item' -> product.
        CREATE TABLE purchase (
            purchase_no INTEGER PRIMARY KEY,
            buyer INTEGER REFERENCES customer(cust_no),
            item TEXT REFERENCES product(sku),
            bought_at TIMESTAMP,
            qty INTEGER,
            note
        );
        INSERT INTO customer VALUES (1, 'Ada', '2024-01-01'), (2, 'Bob', NULL);
        INSERT INTO product VALUES ('A-1', 1.5), ('B-2', 2);
        INSERT INTO purchase VALUES
            (10, 1, 'A-1', '2024-02-01 10:00:00', 2, 'x'),
            (11, 2, 'B-2', '2024-02-02T11:30:00', 1, 3),
            (12, 2, 'A-1', NULL, NULL, NULL);
        """
    )
    con.commit()
    con.close()
    return path


def test_declared_keys_and_types(tmp_path: Path) -> None:
    src = SQLiteSource(make_db(tmp_path / "shop.db")).read()
    assert sorted(src.tables) == ["customer", "product", "purchase"]
    assert src.declared.primary_keys == {
        "customer": "cust_no",
        "product": "sku",
        "purchase": "purchase_no",
    }
    assert {(f.column, f.target) for f in src.declared.foreign_keys["purchase"]} == {
        ("buyer", "customer"),
        ("item", "product"),
    }
    p = src.tables["purchase"]
    assert p.schema.field("bought_at").type == pa.timestamp("us")
    assert p.column("bought_at").to_pylist()[:2] == [
        dt.datetime(2024, 2, 1, 10),
        dt.datetime(2024, 2, 2, 11, 30),
    ]
    assert src.tables["customer"].schema.field("joined").type == pa.date32()
    # An untyped column holding text and an integer keeps every value, as text.
    assert p.column("note").to_pylist() == ["x", "3", None]


def test_schema_uses_declared_foreign_keys(tmp_path: Path) -> None:
    src = SQLiteSource(make_db(tmp_path / "shop.db")).read()
    schema = infer_schema(src.tables, src.declared)
    links = {str(link) for link in schema.links}
    assert links == {"purchase.buyer -> customer.cust_no", "purchase.item -> product.sku"}
    purchase = schema["purchase"]
    assert purchase.time_column == "bought_at"
    assert purchase.column("buyer").stype is SType.id
    assert purchase.column("qty").stype is SType.numerical
    # The validation report flags the mixed column instead of dropping values.
    report = api.read_and_infer(str(tmp_path / "shop.db")).report
    assert report.errors == []
    assert [(f.kind, f.table, f.column, f.row) for f in report.warnings] == [
        ("mixed_type", "purchase", "note", 1)
    ]


def test_ingest_sqlite_url(tmp_path: Path) -> None:
    db = make_db(tmp_path / "shop.sqlite")
    result = api.ingest(f"sqlite:///{db}", workspace=tmp_path / "ws")
    assert result.snapshot.manifest.row_counts == {"customer": 2, "product": 2, "purchase": 3}
    assert result.snapshot.schema["purchase"].primary_key == "purchase_no"


def test_missing_and_corrupt_database(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"SQLite database '.*nope\.db' does not exist"):
        SQLiteSource(tmp_path / "nope.db")
    bad = tmp_path / "bad.db"
    bad.write_text("this is not a database, just text " * 100)
    with pytest.raises(SourceError, match="is not a SQLite database"):
        SQLiteSource(bad).read()
