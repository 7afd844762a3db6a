"""One profile per physical column: names, types, statistics and a sample of values.

A profile is what the column graph knows of a column before any model looks at
it; it is built from a stored snapshot (its inferred schema and its data), so
several snapshots (a company's many databases) give one catalogue.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.store.snapshot import Snapshot

# Statistics are taken on the first rows only: a profile must stay cheap on wide,
# long tables, and these figures settle long before 20k rows.
PROFILE_ROWS = 20_000
SAMPLE_VALUES = 5

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_DIGITS = re.compile(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def name_tokens(name: str) -> list[str]:
    """``customerFirstName`` / ``customer_first_name`` / ``CustomerID2`` → lower-case words."""
    words: list[str] = []
    for part in _SPLIT.split(name):
        for w in _CAMEL.split(part):
            words.extend(x.lower() for x in _DIGITS.split(w) if x)
    return words


def value_shape(value: str) -> str:
    """A value's pattern: letters → ``a``/``A``, digits → ``9``, runs collapsed.

    ``AB-12`` → ``A-9``.
    """
    shape = re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", re.sub(r"[0-9]", "9", value[:40])))
    return re.sub(r"(.)\1+", r"\1", shape)


@dataclass
class ColumnProfile:
    """A physical column: where it lives, what it holds."""

    database: str
    table: str
    column: str
    dtype: str
    stype: str
    is_primary_key: bool = False
    link_target: str | None = None  # the table a foreign key points at
    rows: int = 0
    null_share: float = 0.0
    distinct_share: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    mean_length: float | None = None
    patterns: list[str] = field(default_factory=list)  # most common value shapes
    sample: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.database}.{self.table}.{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"key": self.key}


def profile_snapshot(snap: Snapshot, database: str | None = None) -> list[ColumnProfile]:
    """Profiles of every column of every table of ``snap``."""
    db = database or database_name(snap)
    out: list[ColumnProfile] = []
    for name, ts in snap.schema.tables.items():
        table = snap.read_table(name).slice(0, PROFILE_ROWS)
        links = {fk.column: fk.target for fk in ts.foreign_keys}
        for col in ts.columns:
            if col.name not in table.column_names or col.name.startswith("_rg_"):
                continue
            p = profile_column(
                db, name, col.name, table.column(col.name), dtype=col.dtype, stype=col.stype.value
            )
            p.is_primary_key = col.name == ts.primary_key or col.name in ts.unique_key
            p.link_target = links.get(col.name)
            out.append(p)
    return out


def database_name(snap: Snapshot) -> str:
    """A snapshot's name in a catalogue: its source's file or folder name.

    ``…/pokedex.sqlite`` → ``pokedex``.
    """
    tail = snap.manifest.source.rstrip("/").split("/")[-1].split("?")[0]
    return tail.rsplit(".", 1)[0] if "." in tail else (tail or snap.id[:12])


def profile_table(database: str, table: str, data: pa.Table) -> list[ColumnProfile]:
    """Profiles of a table with no inferred schema (a model's output, a test's table)."""
    data = data.slice(0, PROFILE_ROWS)
    return [
        profile_column(database, table, c, data.column(c), dtype=str(data.column(c).type), stype="")
        for c in data.column_names
    ]


def profile_column(
    database: str, table: str, column: str, values: pa.ChunkedArray, *, dtype: str, stype: str
) -> ColumnProfile:
    n = len(values)
    p = ColumnProfile(database, table, column, dtype, stype, rows=n)
    if n == 0:
        return p
    nulls = values.null_count
    p.null_share = nulls / n
    kept = values.drop_null()
    if len(kept) == 0:
        return p
    t = kept.type
    if pa.types.is_dictionary(t):
        kept = kept.cast(t.value_type)
        t = kept.type
    try:
        p.distinct_share = len(pc.unique(kept)) / len(kept)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        p.distinct_share = 0.0
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        num = kept.cast(pa.float64())
        mm = pc.min_max(num).as_py()
        p.minimum, p.maximum = _finite(mm["min"]), _finite(mm["max"])
    elif pa.types.is_temporal(t):
        try:
            ints = kept.cast(pa.int64())
            mm = pc.min_max(ints).as_py()
            p.minimum, p.maximum = float(mm["min"]), float(mm["max"])
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            pass
    texts = [str(v) for v in kept.slice(0, 2000).to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        p.mean_length = sum(len(s) for s in texts) / len(texts)
    shapes = Counter(value_shape(s) for s in texts)
    p.patterns = [s for s, _ in shapes.most_common(3)]
    seen: list[str] = []
    for s in texts:
        if s not in seen:
            seen.append(s[:60])
        if len(seen) >= SAMPLE_VALUES:
            break
    p.sample = seen
    return p


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None
