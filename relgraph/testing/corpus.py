"""Score an inferred :class:`Schema` against a corpus database's hand-written truth.

The corpus lives in ``tests/corpus/<db>/`` (see its README): each folder holds a
slice of a real public database and a ``truth.yaml``. Used by
``benchmarks/schema_corpus.py`` (prints the figures) and by the test that holds
the issue's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from relgraph.schema.types import Schema

# The "Done when" thresholds of the real-databases issue.
THRESHOLDS = {
    "link_precision": 0.95,
    "link_recall": 0.95,
    "pk_accuracy": 0.98,
    "time_accuracy": 0.95,
}


@dataclass
class Score:
    """Counts for one database (or the sum over several); ``misses`` says what was wrong."""

    db: str
    links_true: int = 0
    links_found: int = 0
    links_right: int = 0
    pk_tables: int = 0
    pk_right: int = 0
    composite_tables: int = 0
    composite_right: int = 0
    time_tables: int = 0
    time_right: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def link_precision(self) -> float:
        return self.links_right / self.links_found if self.links_found else 1.0

    @property
    def link_recall(self) -> float:
        return self.links_right / self.links_true if self.links_true else 1.0

    @property
    def pk_accuracy(self) -> float:
        return self.pk_right / self.pk_tables if self.pk_tables else 1.0

    @property
    def composite_accuracy(self) -> float:
        return self.composite_right / self.composite_tables if self.composite_tables else 1.0

    @property
    def time_accuracy(self) -> float:
        return self.time_right / self.time_tables if self.time_tables else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(
            db="overall",
            links_true=self.links_true + other.links_true,
            links_found=self.links_found + other.links_found,
            links_right=self.links_right + other.links_right,
            pk_tables=self.pk_tables + other.pk_tables,
            pk_right=self.pk_right + other.pk_right,
            composite_tables=self.composite_tables + other.composite_tables,
            composite_right=self.composite_right + other.composite_right,
            time_tables=self.time_tables + other.time_tables,
            time_right=self.time_right + other.time_right,
            misses=self.misses + other.misses,
        )

    def failed_thresholds(self) -> list[str]:
        return [k for k, v in THRESHOLDS.items() if getattr(self, k) < v]


def load_truth(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((folder / "truth.yaml").read_text())
    return data


def _key_options(raw: Any) -> list[frozenset[str]]:
    """The acceptable keys: [] for none; a column; a composite; or a list of candidates."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [frozenset([raw])]
    if raw and all(isinstance(x, list) for x in raw):
        return [frozenset(x) for x in raw]
    return [frozenset(raw)]


def inferred_key(schema: Schema, table: str) -> frozenset[str]:
    t = schema[table]
    if t.primary_key is not None:
        return frozenset([t.primary_key])
    return frozenset(getattr(t, "unique_key", ()))


def _time_ok(schema: Schema, table: str, truth: Any) -> bool:
    t = schema[table]
    spec = t.time_spec
    if truth is None:
        return t.time_column is None
    if isinstance(truth, dict) and "inherit" in truth:
        return spec is not None and spec.kind == "inherit" and spec.via == truth["inherit"]
    allowed = {truth} if isinstance(truth, str) else set(truth)
    if t.time_column is None or (spec is not None and spec.kind == "inherit"):
        return False
    own = spec.date_column if spec is not None and spec.date_column else t.time_column
    return own in allowed


def score(db: str, schema: Schema, truth: dict[str, Any]) -> Score:
    """Compare ``schema`` with ``truth`` table by table."""
    s = Score(db=db)
    tables: dict[str, Any] = truth["tables"]
    for name, want in tables.items():
        if name not in schema:
            s.misses.append(f"{db}: table {name} missing from the inferred schema")
            continue
        # Primary key: the one column that makes the table an entity, or none. A
        # table whose truth is a composite key must get no one-column key (that
        # would invent an entity); whether the composite itself is found is
        # counted apart (a slice often has smaller accidental unique combinations).
        options = _key_options(want.get("primary_key"))
        single = [o for o in options if len(o) == 1]
        pk = schema[name].primary_key
        s.pk_tables += 1
        if (pk is None and not single) or (pk is not None and frozenset([pk]) in single):
            s.pk_right += 1
        else:
            s.misses.append(f"{db}: {name} primary key {pk}, truth {want.get('primary_key')}")
        if options and not single:
            s.composite_tables += 1
            got = inferred_key(schema, name)
            if got in options:
                s.composite_right += 1
            else:
                s.misses.append(
                    f"{db}: {name} composite key {sorted(got) or None} (not scored), "
                    f"truth {want.get('primary_key')}"
                )
        # links
        true_links = {(c, t) for c, t in (want.get("links") or {}).items()}
        found = {(fk.column, fk.target) for fk in schema[name].foreign_keys}
        s.links_true += len(true_links)
        s.links_found += len(found)
        s.links_right += len(true_links & found)
        for c, t in sorted(found - true_links):
            s.misses.append(f"{db}: extra link {name}.{c} -> {t}")
        for c, t in sorted(true_links - found):
            s.misses.append(f"{db}: missed link {name}.{c} -> {t}")
        # event time
        s.time_tables += 1
        if _time_ok(schema, name, want.get("time")):
            s.time_right += 1
        else:
            spec = schema[name].time_spec
            s.misses.append(
                f"{db}: {name} time {schema[name].time_column}"
                f"{' ' + str(spec.to_dict()) if spec else ''}, truth {want.get('time')}"
            )
    return s
