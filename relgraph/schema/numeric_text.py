"""Numbers written as text: ``"26.898"``, ``"1:26.572"`` (m:ss), ``"1:34:50.616"``, ``"+5.478"``.

Lap and race times in real data are often stored as clock strings. Read as text
they would cost a sentence-embedding each; read as seconds they are what they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

NUMBER_TEXT_RE = r"^\s*[+-]?(\d+:){0,2}\d+(\.\d+)?\s*$"
_NUMBER_TEXT = re.compile(NUMBER_TEXT_RE)
# Share of non-NULL values that must read as numbers for a text column to be numerical.
NUMERIC_SHARE = 0.95


# The same reading in DuckDB SQL, for label and feature queries over snapshots.
NUMBER_TEXT_MACRO = (
    "CREATE OR REPLACE MACRO rg_number(x) AS CASE WHEN regexp_matches(x, '"
    + NUMBER_TEXT_RE
    + "') THEN (CASE WHEN starts_with(trim(x), '-') THEN -1.0 ELSE 1.0 END) * list_reduce("
    "list_transform(string_split(ltrim(trim(x), '+-'), ':'), lambda p: CAST(p AS DOUBLE)), "
    "lambda a, b: a * 60 + b) END"
)


def mostly_numbers(values: pa.Array | pa.ChunkedArray) -> bool:
    """True when at least 95% of the non-NULL strings are numbers or clock times."""
    nonnull = values.drop_null()
    if len(nonnull) == 0:
        return False
    hits = pc.sum(pc.match_substring_regex(nonnull, NUMBER_TEXT_RE)).as_py() or 0
    return bool(hits >= NUMERIC_SHARE * len(nonnull))


def parse_number_text(text: str | None) -> float | None:
    """Seconds (or the plain number) a string stands for; None when it is not one.

    >>> parse_number_text("1:34:50.616"), parse_number_text("+5.478"), parse_number_text("R")
    (5690.616, 5.478, None)
    """
    if text is None or not _NUMBER_TEXT.match(text):
        return None
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    parts = s.lstrip("+-").split(":")
    value = 0.0
    for p in parts:
        value = value * 60.0 + float(p)
    return round(sign * value, 9)


def parse_numbers(values: Iterable[str | None]) -> list[float | None]:
    """:func:`parse_number_text` over many values, parsing each distinct string once."""
    seen: dict[str | None, float | None] = {}
    out = []
    for v in values:
        if v not in seen:
            seen[v] = parse_number_text(v)
        out.append(seen[v])
    return out
