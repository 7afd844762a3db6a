"""FileSource: CSV quirks, Parquet, JSON lines, and clear errors for bad input."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relgraph.errors import SourceError
from relgraph.sources import FileSource, SQLiteSource, open_source, redact
from relgraph.sources.files import read_file, table_name


def test_f1_races_short_rows_nulls_quotes_and_iso_dates(f1_dir: Path) -> None:
    races = read_file(f1_dir / "races.csv")
    assert races.num_rows == 1149
    assert races.schema.field("date").type == pa.date32()
    assert races.schema.field("time").type == pa.time64("us")
    rows = {r["raceId"]: r for r in races.to_pylist()}
    # Quoted fields (2009 rows) read as the bare value.
    assert rows[1]["name"] == "Australian Grand Prix"
    assert rows[1]["date"] == dt.date(2009, 3, 29)
    # `\N` is NULL.
    assert rows[1]["fp1_date"] is None
    # The 2025 rows carry 8 of 18 fields, unquoted: the rest is NULL, not an error.
    assert rows[1168]["name"] == "Abu Dhabi Grand Prix"
    assert rows[1168]["time"] == dt.time(13, 0)
    assert rows[1168]["sprint_time"] is None
    assert races.num_columns == 18


def test_empty_field_and_backslash_n_are_null(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text('id,a,b\n1,,x\n2,\\N,"y"\n3,z,\n')
    t = read_file(p)
    assert t.column("a").to_pylist() == [None, None, "z"]
    assert t.column("b").to_pylist() == ["x", "y", None]


def test_quoted_newlines_with_short_rows(tmp_path: Path) -> None:
    # DuckDB's parallel scanner refuses padding short rows next to quoted
    # newlines; relgraph falls back to the serial scanner.
    p = tmp_path / "t.csv"
    p.write_text('id,note,extra\n1,"two\nlines",x\n2,short\n')
    assert read_file(p).to_pylist() == [
        {"id": 1, "note": "two\nlines", "extra": "x"},
        {"id": 2, "note": "short", "extra": None},
    ]


def test_iso_datetimes_and_zones_become_naive_utc(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id,at\n1,2024-01-01 10:00:00\n2,2024-01-01T12:00:00+02:00\n")
    t = read_file(p)
    assert t.schema.field("at").type == pa.timestamp("us")
    assert t.column("at").to_pylist() == [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 10)]


def test_two_digit_years_are_not_guessed(tmp_path: Path) -> None:
    # DuckDB alone reads 6/18/52 as 2052-06-18; relgraph keeps non-ISO dates as text.
    p = tmp_path / "t.csv"
    p.write_text("id,day\n1,6/18/52\n2,7/1/60\n")
    t = read_file(p)
    assert t.column("day").to_pylist() == ["6/18/52", "7/1/60"]


def test_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes("\ufeffname,n\nx,1\n".encode())
    assert read_file(p).column_names == ["name", "n"]


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id;name\n1;x,y\n")
    (tmp_path / "b.tsv").write_text("id\tname\n1\tx;y\n")
    assert read_file(tmp_path / "a.csv").to_pylist() == [{"id": 1, "name": "x,y"}]
    assert read_file(tmp_path / "b.tsv").to_pylist() == [{"id": 1, "name": "x;y"}]


def test_trailing_delimiters_are_ignored(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2,\n3,4,\n")
    assert read_file(p).to_pylist() == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_gzip_csv(tmp_path: Path) -> None:
    p = tmp_path / "events.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write("id,v\n1,a\n2,b\n")
    assert table_name(p) == "events"
    assert read_file(p).num_rows == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n3,4,5\n6,7\n", r"line 3 has 3 fields but the header has 2"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", r"line 3 has 4 fields but the header has 3"),
        ('a,b\n1,"x\n2,y\n3,z\n', r"unterminated quoted field starting at line 2"),
        ("\n\n", r"empty or its first line is blank"),
    ],
    ids=["too-many-fields", "too-many-fields-late", "unterminated-quote", "blank"],
)
def test_malformed_csv_is_refused_with_its_line(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(SourceError, match=match):
        read_file(p)
    with pytest.raises(SourceError, match=r"bad\.csv"):
        FileSource(tmp_path).read()


def test_parquet_and_jsonl(tmp_path: Path) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    when = pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=paris)], pa.timestamp("ms", tz="+01:00"))
    pq.write_table(pa.table({"id": [1], "at": when}), tmp_path / "p.parquet")
    (tmp_path / "j.jsonl").write_text('{"id": 1, "tags": ["a", "b"]}\n{"id": 2, "tags": null}\n')
    src = FileSource(tmp_path).read()
    assert sorted(src.tables) == ["j", "p"]
    p = src.tables["p"]
    assert p.schema.field("at").type == pa.timestamp("us")
    assert p.column("at").to_pylist() == [dt.datetime(2024, 1, 1, 11)]  # 12:00 Paris = 11:00 UTC
    assert src.tables["j"].column("tags").to_pylist() == [["a", "b"], None]


def test_folder_picks_up_schema_yaml(tmp_path: Path, make_shop) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop()
    (folder / "schema.yaml").write_text("tables: {}\n")
    src = FileSource(folder).read()
    assert src.overrides_file == folder / "schema.yaml"
    assert sorted(src.tables) == ["items", "orders", "users"]


def test_two_files_for_one_table(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "a.parquet")
    with pytest.raises(SourceError, match="two files give table 'a'"):
        FileSource(tmp_path).read()


def test_folder_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SourceError, match="no data files in") as e:
        FileSource(tmp_path).read()
    assert "SQLite" not in str(e.value)
    # A folder that holds a database file: the error names the path to ingest instead.
    (tmp_path / "shop.sqlite").write_bytes(b"")
    with pytest.raises(SourceError, match=r"to read the SQLite file, ingest '.*shop.sqlite'"):
        FileSource(tmp_path).read()


def test_missing_path() -> None:
    with pytest.raises(SourceError, match="source path '/no/such/folder' does not exist"):
        open_source("/no/such/folder")


@pytest.mark.parametrize("uri", ["ftp://host/data", "mysql://me:pw@db/shop"])
def test_unknown_url_scheme(uri: str) -> None:
    with pytest.raises(SourceError, match=r"unknown source URL scheme '\w+://'") as info:
        open_source(uri)
    assert "pw" not in info.value.message


def test_open_source_dispatch(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    assert isinstance(open_source(str(db)), SQLiteSource)
    assert isinstance(open_source(f"sqlite:///{db}"), SQLiteSource)
    assert isinstance(open_source(str(tmp_path)), FileSource)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://me:pw@db:5432/shop", "postgresql://me:***@db:5432/shop"),
        ("postgresql://me@db/shop", "postgresql://me@db/shop"),
        ("postgresql://me:p@ss@db/shop?schema=s", "postgresql://me:***@db/shop?schema=s"),
        ("postgresql://db/shop?user=me&password=pw", "postgresql://db/shop?user=me&password=***"),
        ("s3://bucket/a@b/c", "s3://bucket/a@b/c"),
        ("/data/a@b.csv", "/data/a@b.csv"),
    ],
)
def test_redact(uri: str, expected: str) -> None:
    assert redact(uri) == expected


def test_late_odd_value_is_read_not_lost(tmp_path: Path) -> None:
    # DuckDB types a column from a sample of the first rows; a value far past
    # it that does not fit must make the column text, not fail or vanish.
    p = tmp_path / "t.csv"
    rows = [f"{i},{i}" for i in range(1, 60_001)] + ["60001,n/a"]
    p.write_text("id,v\n" + "\n".join(rows) + "\n")
    t = read_file(p)
    assert t.schema.field("v").type == pa.string()
    assert t.column("v")[-1].as_py() == "n/a"
    assert t.num_rows == 60_001


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(-(2**40), 2**40),
            # Text that no reader could take for a number, date or NULL marker.
            st.text(alphabet="ab ,;\"\n'é|", max_size=12).map(lambda s: "x" + s),
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3))),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_csv_round_trip(tmp_path: Path, rows: list[tuple[int, str, float | None]]) -> None:
    import csv as pycsv

    p = tmp_path / "t.csv"
    with p.open("w", newline="") as f:
        w = pycsv.writer(f)
        w.writerow(["n", "s", "v"])
        for n, s, v in rows:
            w.writerow([n, s, "\\N" if v is None else v])
    t = read_file(p)
    assert t.column("n").to_pylist() == [r[0] for r in rows]
    assert t.column("s").to_pylist() == [r[1] for r in rows]
    got = t.column("v").to_pylist()
    assert [None if g is None else float(g) for g in got] == [r[2] for r in rows]
