"""Predictions into a database table: schemas, bad targets, driver errors (issue 13, class 10)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from relgraph.errors import SourceError
from relgraph.predict.sinks import split_target, write_sql


def _preds(model_id: str, n: int = 3) -> pa.Table:
    return pa.table(
        {
            "ENTITY": pa.array(list(range(n))),
            "PREDICTION": pa.array([0.5] * n),
            "MODEL_ID": pa.array([model_id] * n),
        }
    )


def test_split_target_names_schema_and_table() -> None:
    assert split_target("sqlite:///x.db") == ("sqlite:///x.db", None, "relgraph_predictions")
    assert split_target("sqlite:///x.db#p") == ("sqlite:///x.db", None, "p")
    assert split_target("postgresql://h/db#s.p") == ("postgresql://h/db", "s", "p")
    for bad in ("p;drop", "s.1p", 'a"b.p', "s.p.q"):
        with pytest.raises(SourceError, match="letters, digits and underscores"):
            split_target(f"postgresql://h/db#{bad}")


def test_postgres_schema_by_query_or_fragment(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS analytics CASCADE")
        con.execute("CREATE SCHEMA analytics")
    # ?schema= as ingest reads it, and #schema.table: both land in analytics.
    assert write_sql(_preds("m1"), f"{postgres_url}?schema=analytics#preds", "m1").endswith(
        "#analytics.preds"
    )
    write_sql(_preds("m2", 2), f"{postgres_url}#analytics.preds", "m2")
    # Writing m1 again replaces its rows, m2's stay.
    write_sql(_preds("m1", 4), f"{postgres_url}#analytics.preds", "m1")
    with psycopg.connect(postgres_url) as con:
        rows = con.execute(
            'SELECT "MODEL_ID", count(*) FROM analytics.preds GROUP BY 1 ORDER BY 1'
        ).fetchall()
        public = con.execute("SELECT to_regclass('public.preds')").fetchone()
    assert rows == [("m1", 4), ("m2", 2)]
    assert public == (None,)


def test_postgres_bad_targets_are_clear_errors(postgres_url: str) -> None:
    with pytest.raises(SourceError, match="schema 'nowhere' does not exist"):
        write_sql(_preds("m"), f"{postgres_url}#nowhere.preds", "m")
    with pytest.raises(SourceError, match="names two schemas"):
        write_sql(_preds("m"), f"{postgres_url}?schema=a#b.preds", "m")
    # A wrong password: the driver's reason, one line, the password not in it.
    bad = postgres_url.replace("://postgres@", "://nobody:S3cretPW@", 1)
    assert "S3cretPW" in bad
    with pytest.raises(SourceError) as e:
        write_sql(_preds("m"), bad + "#preds", "m")
    assert "S3cretPW" not in str(e.value) and "[SQL:" not in str(e.value)
    assert "\n" not in str(e.value)


def test_sqlite_has_no_schemas(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    with pytest.raises(SourceError, match="SQLite has no schemas"):
        write_sql(_preds("m"), f"sqlite:///{db}#s.preds", "m")
    write_sql(_preds("m"), f"sqlite:///{db}#preds", "m")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM preds").fetchone() == (3,)
