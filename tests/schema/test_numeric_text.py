"""Numbers and clock times stored as text are read as seconds, in Python and in SQL alike."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from relgraph.schema.infer import infer_stype
from relgraph.schema.numeric_text import NUMBER_TEXT_MACRO, parse_number_text, parse_numbers
from relgraph.schema.types import SType

CASES = [
    ("1:34:50.616", 5690.616),
    ("+5.478", 5.478),
    ("1:26.572", 86.572),
    ("26.898", 26.898),
    ("-1:00", -60.0),
    (" 12 ", 12.0),
    ("R", None),
    ("+1 Lap", None),
    ("1:2:3:4", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "seconds"), CASES)
def test_python_and_sql_read_the_same_number(text: str, seconds: float | None) -> None:
    assert parse_number_text(text) == seconds
    con = duckdb.connect()
    con.execute(NUMBER_TEXT_MACRO)
    got = con.execute("SELECT rg_number(?)", [text]).fetchall()[0][0]
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_numbers_keeps_nulls_and_order() -> None:
    assert parse_numbers(["1:00", None, "x", "1:00"]) == [60.0, None, None, 60.0]


def test_lap_times_are_numerical_and_labels_stay_categorical() -> None:
    laps = pa.chunked_array([[f"1:{20 + i % 40}.{i:03d}" for i in range(500)]])
    assert infer_stype("q1", laps, is_key=False) is SType.numerical
    # Mostly numbers, but R/D/W codes make up far more than 5%: a label column.
    codes = pa.chunked_array([[str(i % 20) if i % 3 else "R" for i in range(500)]])
    assert infer_stype("positionText", codes, is_key=False) is SType.categorical
