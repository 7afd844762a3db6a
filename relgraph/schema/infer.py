"""Infer a :class:`Schema` from Arrow tables (and any keys the source declares).

Every decision carries an :class:`Explanation` (rule and confidence), shown by
``relgraph schema --explain``. Rules, in order, each written so a user can
predict them:

1. **Primary key** — declared, else the key-like column that names its table
   (``id``, ``Id``, ``users.user_id``, ``races.raceId``) if at most 10% of its
   rows are duplicates or NULLs (validation then reports those as errors), else
   the first unique non-NULL key-like column, else the first column when it is
   a unique non-NULL integer or opaque code (``seasons.year``, ``commits.sha``),
   never an R ``rownames`` column. A table with none gets its smallest unique
   combination of key-like columns as a composite key (declared ones are kept):
   it identifies rows but makes no entity, so a many-to-many table is two links.
2. **Foreign keys** — declared, else column ``A.c`` links to ``B``'s key when
   the values are type-compatible and contained in it, with the name as
   evidence: the same name as ``B``'s key, or ``c`` names ``B`` (``species_id``
   -> ``pokemon_species``, ``skill_id`` -> ``conquest_warrior_skills``), also
   after a role prefix (``source_airport_id`` -> ``airports``). Strong names
   tolerate orphans (at least half of the values inside; the rest are reported
   as dangling by validation); a link on values alone needs opaque codes
   (``author_id`` -> ``users``, ``first_parent`` -> ``commits``) and 95%
   containment. Among equal candidates the root entity wins over a 1:1
   extension table whose key is itself a foreign key.
3. **Time column** — a date/timestamp column, a text column of ISO dates, or
   an integer column named like a time holding Unix epoch values, that is an
   *event* time: not a birth/expiry date, not a load stamp (one value on nearly
   all rows), not an open-ended sentinel (``9999-01-01``). A root entity table
   (referenced by others, referencing none: ``employees``, ``People``) keeps
   its dates as attributes unless one is plainly named ``date``/``timestamp``.
   A DATE with a sibling clock column (``date`` + ``time``) is combined.
   A table without one inherits the time of the row its only timed foreign key
   points at (``results`` rows happen when their race happens).
4. **Semantic types** — keys are ``id``; dates ``timestamp``; numbers
   ``numerical``, except unlinked integers named like keys (``MaintainerId``, not
   calendar numbers such as ``yearID``): codes, ``categorical`` unless nearly one
   per row (then ``id``), doubtful when their values fit other tables' keys (small
   integers fit many; ``--check`` lists them); strings ``categorical`` when few
   distinct short values, ``multicategorical`` when values are short lists
   (``a|b|c``), else ``text``.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.schema.numeric_text import mostly_numbers
from relgraph.schema.types import (
    DERIVED_TIME_COLUMN,
    Column,
    Explanation,
    ForeignKey,
    Schema,
    SType,
    TableSchema,
    TimeSpec,
)
from relgraph.sources.base import DeclaredKeys

# Case matters where it marks a word: "AccountId", "playerID", "user_id", "Id" are keys,
# "paid" and "valid" are not.
ID_RE = re.compile(
    r"(^(id|Id|ID)$)|([a-z0-9](Id|ID|Key)$)|([_.](id|Id|ID|key|Key|KEY|sha|no)$)", re.ASCII
)
_ID_SUFFIX_RE = re.compile(r"(_?id|_key|\.key|key|_sha|_no|_code)$", re.IGNORECASE)
TIME_NAME_RE = re.compile(
    r"^(date|datetime|time|timestamp|ts|created|updated|event_time|.*_at|.*_date|.*_time|"
    r".*_ts|.*date|.*Date|.*Timestamp|.*timestamp|date.*|Date.*)$"
)
# Names that read plainly as "when this row happened": kept even on a root entity.
EVENT_NAMES = frozenset(
    {"date", "timestamp", "datetime", "time", "ts", "created_at", "event_time", "occurred_at"}
)
# When a root entity's row came into being (a sign-up): its event time, unlike a hire date.
CREATION_RE = re.compile(r"(signup|sign_up|registered|registration|created|joined)", re.I)
NOT_EVENT_TIME_RE = re.compile(
    r"(dob|birth|born|expir|valid_to|valid_until|last_update|modified)", re.IGNORECASE
)
# Column-name words that mark the end of a span: the start is the event.
_END_WORD_RE = re.compile(r"(^|[_.])(to|end|last|until|finish)([_.]|$)|^(to|end)", re.IGNORECASE)
EPOCH_NAME_RE = re.compile(r"(^|_)(time|timestamp|ts|at|date|created|epoch)$", re.IGNORECASE)
LIST_SEP_RE = re.compile(r"[|;]")
# A text time that ends in its UTC offset: 2022-12-02T23:21:41-05:00, ...Z, +0100.
_TEXT_OFFSET_RE = r"\d(?P<offset>Z|[+-]\d\d:?\d\d)$"
FK_CONTAINMENT = 0.95
# With the name as evidence, a link survives orphans down to this share inside.
FK_NAMED_CONTAINMENT = 0.5
# Calendar numbers keep their order as numbers even under a key-like name (yearID).
CALENDAR_WORDS = frozenset({"year", "yr", "season", "quarter", "month", "week", "day"})
# An integer key that names no table links by its value range only with this many
# distinct values, and when its best target is this many times likelier than the next.
RANGE_MIN_VALUES = 20
RANGE_ODDS = 1000.0
ROWNAMES = frozenset({"", "rownames", "row.names", "unnamed: 0", "...1", "x"})


def is_id_like(name: str) -> bool:
    return bool(ID_RE.search(name))


def _singular(name: str) -> str:
    n = name.lower()
    if n.endswith("ies"):
        return n[:-3] + "y"
    if n.endswith("ses") or n.endswith("xes"):
        return n[:-2]
    if n.endswith("s") and not n.endswith("ss"):
        return n[:-1]
    return n


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _stem(column: str) -> str:
    """The entity a key column names: ``species_id`` -> ``species``, ``playerID`` -> ``player``."""
    return _ID_SUFFIX_RE.sub("", column)


def _words(name: str) -> list[str]:
    """``evolves_from_species_id`` -> [evolves, from, species, id]; camelCase split too."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _table_forms(table: str) -> set[str]:
    return {_norm(table), _norm(_singular(table))}


@functools.lru_cache(maxsize=65536)
def _names_target(column: str, table: str) -> float:
    """How strongly the column's name names ``table``: 1.0 exactly, 0.8 after a role prefix.

    ``species_id`` names ``pokemon_species`` (its last words), ``skill_id`` names
    ``conquest_warrior_skills``; ``source_airport_id`` names ``airports`` once the
    role ``source`` is taken off.
    """
    stem = _stem(column)
    if not stem or stem == column or not is_id_like(column):
        return 0.0
    forms = _table_forms(table)
    if _norm(stem) in forms:
        return 1.0
    twords = _words(table)
    swords = _words(stem)
    # The column names the table's last words (a prefixed table: conquest_warriors).
    for k in range(1, len(twords)):
        tail = "".join(twords[k:])
        if _norm(stem) in {tail, _norm(_singular(tail))}:
            return 0.9
    # A role prefix before the entity's name: evolves_from_species, destination_airport.
    for k in range(1, len(swords)):
        if "".join(swords[k:]) in forms:
            return 0.8
    return 0.0


def _strictly_increasing(col: pa.ChunkedArray) -> bool:
    """An integer column without NULLs whose values only go up (so all distinct).

    Exported key columns are nearly always sorted; this O(n) vectorised test
    proves uniqueness exactly without building a hash table of every value.
    """
    if col.null_count or not pa.types.is_integer(col.type) or len(col) == 0:
        return False
    # Chunk by chunk: ChunkedArray.to_numpy imports pandas (~1 s) on first use.
    last = None
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        values = _int_values(chunk)
        if (last is not None and values[0] <= last) or not np.all(values[1:] > values[:-1]):
            return False
        last = values[-1]
    return True


def _int_values(chunk: pa.Array) -> np.ndarray:
    """A NULL-free integer chunk as a zero-copy numpy view.

    Not ``to_numpy()``: pyarrow imports pandas (about a second) on its first call.
    """
    t = chunk.type
    dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(t) else ''}int{t.bit_width}")
    return np.frombuffer(
        chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
    )


def distinct_count(col: pa.ChunkedArray) -> int:
    """Exact number of distinct non-NULL values."""
    if _strictly_increasing(col):
        return len(col)
    return int(pc.count_distinct(col, mode="only_valid").as_py())


def _is_unique_not_null(col: pa.ChunkedArray) -> bool:
    if col.null_count:
        return False
    if len(col) == 0:
        return False
    return distinct_count(col) == len(col)


def _is_temporal(t: pa.DataType) -> bool:
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _is_keyable(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t))


def _names_table(column: str, table: str) -> bool:
    """``id``, or ``<table>Id``/``<table>_id`` for the table's singular or plural name."""
    return column.lower() == "id" or (
        _stem(column) != column and _norm(_stem(column)) in _table_forms(table)
    )


def _is_rownames(name: str, col: pa.ChunkedArray) -> bool:
    """R's ``write.csv`` row numbers (1..n under an empty or ``rownames`` header)."""
    if name.strip().lower() not in ROWNAMES or not pa.types.is_integer(col.type):
        return False
    return bool(col.null_count == 0 and len(col) and pc.min(col).as_py() == 1) and (
        pc.max(col).as_py() == len(col)
    )


def _opaque_codes(col: pa.ChunkedArray) -> bool:
    """Text values that read as codes (no spaces, mostly distinct): hashes, user ids."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return False
    values = col.drop_null()
    if len(values) == 0:
        return False
    head = values.slice(0, 2000)
    spaced = pc.sum(pc.match_substring_regex(head, r"\s")).as_py() or 0
    lengths = pc.utf8_length(head)
    short = pc.min(lengths).as_py() or 0
    return spaced == 0 and short >= 4


def infer_primary_key(name: str, table: pa.Table) -> str | None:
    """The primary key of ``table`` (see rule 1 of the module docstring), or ``None``."""
    found = _primary_key(name, table)
    return found[0] if found else None


def _primary_key(name: str, table: pa.Table) -> tuple[str, Explanation] | None:
    """A column that names its own table (``users.user_id``) is the key even when it
    has a few duplicates or NULLs, so that validation reports them as errors
    instead of the table silently losing its key and its links."""
    keyish: list[str] = [
        str(f.name)
        for f in table.schema
        if is_id_like(f.name)
        and _is_keyable(f.type)
        and not _is_rownames(f.name, table.column(f.name))
    ]
    for c in keyish:
        if _names_table(c, name) and _mostly_unique(table.column(c)):
            unique = _is_unique_not_null(table.column(c))
            return c, Explanation(
                "primary_key",
                "name",
                1.0 if unique else 0.7,
                f"'{c}' names the table"
                + ("" if unique else "; some values repeat or are NULL (see validation)"),
            )
    for c in keyish:
        if _is_unique_not_null(table.column(c)):
            return c, Explanation(
                "primary_key", "rule", 0.9, f"'{c}' is the first unique, non-NULL key-like column"
            )
    if table.num_columns:
        first = table.schema[0]
        col = table.column(0)
        if (
            _is_keyable(first.type)
            and not _is_rownames(first.name, col)
            and (pa.types.is_integer(first.type) or _opaque_codes(col))
            and _is_unique_not_null(col)
        ):
            return str(first.name), Explanation(
                "primary_key",
                "rule",
                0.8,
                f"the first column '{first.name}' is unique and non-NULL",
            )
    return None


def _composite_key(
    table: pa.Table,
    fk_cols: list[str],
    max_size: int = 4,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[tuple[str, ...], Explanation] | None:
    """The smallest unique, non-NULL combination of key-like columns (then one more column)."""
    n = table.num_rows
    if n < 2:
        return None
    fields = {f.name: f.type for f in table.schema}
    keyish = [
        c
        for c in table.schema.names
        if (c in fk_cols or is_id_like(c)) and (_is_keyable(fields[c]) or _is_temporal(fields[c]))
    ]
    others = [
        c
        for c in table.schema.names
        if c not in keyish
        and (_is_keyable(fields[c]) or _is_temporal(fields[c]))
        and table.column(c).null_count == 0
    ]
    keyish = [c for c in keyish if table.column(c).null_count == 0]
    others = others[:12]
    con = con or duckdb.connect()
    con.register("t", table)

    def qi(c: str) -> str:
        return '"' + c.replace('"', '""') + '"'

    # Distinct counts in one scan (HyperLogLog, ~2% error: only ordering and pruning use it).
    cols_all = [*keyish, *others]
    if not cols_all:
        return None
    counts = con.execute(
        "SELECT " + ", ".join(f"approx_count_distinct({qi(c)})" for c in cols_all) + " FROM t"
    ).fetchall()[0]
    distinct = {c: int(v or 0) for c, v in zip(cols_all, counts, strict=True)}
    # Links first, then the columns with most distinct values: a slice's accidental
    # small keys (league + park) lose to the ones that name entities (team + park).
    keyish.sort(key=lambda c: (c not in fk_cols, -distinct[c]))
    keyish = keyish[:8]
    # Duplicates show early: a combination is first tried on a head of the rows.
    head_n = min(n, 50_000)
    con.register("h", table.slice(0, head_n))

    def unique(cols: tuple[str, ...]) -> bool:
        if 1.1 * math.prod(distinct[c] for c in cols) < n:
            return False  # too few value combinations to tell n rows apart
        sel = ", ".join(qi(c) for c in cols)
        for name, size in (("h", head_n), ("t", n)):
            rows = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {sel} FROM {name})")
            got = rows.fetchall()
            if not (got and got[0][0] == size):
                return False
            if size == n:
                break
        return True

    def ordered(cols: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c for c in table.schema.names if c in cols)

    for size in range(2, max_size + 1):
        for cols in itertools.combinations(keyish, size):
            if unique(cols):
                return ordered(cols), Explanation(
                    "unique_key", "rule", 0.8, "the smallest unique combination of key columns"
                )
    for size in range(2, max_size + 1):
        for base in itertools.combinations(keyish, size - 1):
            for extra in others:
                cols = ordered((*base, extra))
                if unique(cols):
                    return cols, Explanation(
                        "unique_key",
                        "rule",
                        0.7,
                        f"key columns {', '.join(base)} plus '{extra}' are unique together",
                    )
    return None


def _mostly_unique(col: pa.ChunkedArray) -> bool:
    """At most 10% of the rows (at least one) are duplicates or NULLs."""
    n = len(col)
    return n > 0 and n - distinct_count(col) <= max(1, n // 10)


def _distinct_set(col: pa.ChunkedArray) -> pa.Array:
    values = pc.unique(col.drop_null())
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _containment(
    col: pa.ChunkedArray, keys: pa.Array, values: pa.Array | None = None
) -> tuple[float, int, int]:
    """(share inside, distinct values, distinct values outside): of distinct values or
    of rows, whichever is higher (a few dangling values that each occur many
    times, orders of a deleted user, do not make a link any less real).
    ``values``: the column's distinct values, when the caller has them already."""
    values = _distinct_set(col) if values is None else values
    if len(values) == 0:
        return 0.0, 0, 0
    inside = pc.sum(pc.is_in(values, value_set=keys)).as_py() or 0
    share = inside / len(values)
    if share < FK_CONTAINMENT:
        nonnull = col.drop_null()
        rows_in = pc.sum(pc.is_in(nonnull, value_set=keys)).as_py() or 0
        share = max(share, rows_in / len(nonnull))
    return share, len(values), len(values) - inside


def _same_row_share(table: pa.Table, a: str, b: str) -> float:
    """Share of rows where columns ``a`` and ``b`` hold the same value (an alias, not a link)."""
    eq = pc.equal(table.column(a), table.column(b))
    inside: int = pc.sum(eq).as_py() or 0
    return float(inside) / float(max(1, int(table.num_rows)))


def infer_foreign_keys(
    name: str, table: pa.Table, pkeys: dict[str, str | None], tables: dict[str, pa.Table]
) -> tuple[ForeignKey, ...]:
    return tuple(fk for fk, _ in _foreign_keys(name, table, pkeys, tables))


def find_links(
    name: str,
    table: pa.Table,
    pkeys: dict[str, str | None],
    tables: dict[str, pa.Table],
    *,
    only_target: str | None = None,
) -> list[tuple[ForeignKey, Explanation]]:
    """Rule 2's links of ``table`` (each with why), optionally only into ``only_target``."""
    targets = None if only_target is None else {only_target}
    return _foreign_keys(name, table, pkeys, tables, targets)


def _foreign_keys(
    name: str,
    table: pa.Table,
    pkeys: dict[str, str | None],
    tables: dict[str, pa.Table],
    targets: set[str] | None = None,
) -> list[tuple[ForeignKey, Explanation]]:
    own_pk = pkeys.get(name)
    out: list[tuple[ForeignKey, Explanation]] = []
    key_sets: dict[str, pa.Array] = {}
    for f in table.schema:
        if f.name == own_pk or not _is_keyable(f.type):
            continue
        col = table.column(f.name)
        opaque: bool | None = None
        # (name strength, containment, table matches the stem, rows) per candidate target
        cands: list[tuple[float, float, int, str, int, int]] = []
        ranged: list[str] = []  # integer targets for a key-like name that names none
        for target, tpk in pkeys.items():
            if tpk is None or (targets is not None and target not in targets):
                continue
            if target == name and f.name == tpk:
                continue
            tcol = tables[target].column(tpk)
            if not _types_compatible(f.type, tcol.type):
                continue
            # The target key's own name (playerID, emp_no), when it reads as a key:
            # races.year is not a link to seasons.year.
            same = f.name.lower() == tpk.lower() and target != name and is_id_like(f.name)
            strength = 1.0 if same else 0.0
            strength = max(strength, _names_target(f.name, target))
            if strength == 0.0:
                # Values alone: only opaque codes under a key-like name (or a self-link
                # of codes); small integers are contained in every id column, so
                # integer keys go to the range test below instead.
                if opaque is None:
                    opaque = _opaque_codes(col) and (
                        is_id_like(f.name) or distinct_count(col) >= 0.5 * len(col.drop_null())
                    )
                if not opaque or not _opaque_codes(tcol):
                    if (
                        pa.types.is_integer(f.type)
                        and pa.types.is_integer(tcol.type)
                        and is_id_like(f.name)
                    ):
                        ranged.append(target)
                    continue
            if target not in key_sets:
                key_sets[target] = _distinct_set(tcol)
            share, n_values, outside = _containment(col, key_sets[target])
            need = FK_CONTAINMENT if strength < 0.8 else FK_NAMED_CONTAINMENT
            if n_values == 0 or share < need:
                continue
            if target == name and _same_row_share(table, f.name, tpk) > 0.5:
                continue  # a copy of the row's own key (bbrefID = playerID), not a link
            stem_match = 1 if _names_target(f.name, target) >= 0.9 else 0
            cands.append((strength, share, stem_match, target, outside, n_values))
        if not cands and ranged:
            by_range = _range_link(f.name, col, ranged, pkeys, tables, key_sets)
            if by_range is not None:
                out.append(by_range)
            continue
        if not cands:
            continue
        cands.sort(key=lambda c: (-c[0], -c[2], -c[1], _is_extension(c[3], pkeys, tables)))
        strength, share, _, target, outside, n_values = cands[0]
        rule = "name" if strength > 0 else "containment"
        conf = min(1.0, (0.5 + 0.5 * strength) * share) if strength else 0.85 * share
        how = "same name as" if strength == 1.0 else "name points at" if strength else "values in"
        detail = f"{how} {target}.{pkeys[target]}; {share:.0%} of {n_values} values inside"
        if outside:
            detail += f", {outside} dangling (reported by validation)"
        if len(cands) > 1:
            detail += f"; also possible: {', '.join(c[3] for c in cands[1:4])}"
        out.append(
            (
                ForeignKey(column=f.name, target=target),
                Explanation(f"link:{f.name}", rule, round(conf, 3), detail),
            )
        )
    return out


def _range_link(
    column: str,
    col: pa.ChunkedArray,
    targets: list[str],
    pkeys: dict[str, str | None],
    tables: dict[str, pa.Table],
    key_sets: dict[str, pa.Array],
) -> tuple[ForeignKey, Explanation] | None:
    """A link for an integer key whose name names no table (``MaintainerId``, ``ParentId``).

    Surrogate keys are numbered 1..n, so the values of a real link spread over its
    target's whole key range, while they fit a larger table's keys only in that
    table's low part. If the k distinct values were drawn from target T, the chance
    that all of them lie at or below their maximum m is about (keys of T <= m / keys
    of T)^k. The link goes to the target where that chance is highest when it beats
    every other candidate by a factor of RANGE_ODDS and the values reach at least
    half-way through its keys; otherwise no link (``--check`` lists the candidates).
    Doubtful either way: the name gives no evidence.
    """
    values = _distinct_set(col)
    k = len(values)
    if k < RANGE_MIN_VALUES:
        return None  # a handful of small codes fit every table's keys alike
    top = pc.max(values).as_py()
    scored: list[tuple[float, str, float]] = []
    for target in targets:
        tpk = pkeys[target]
        assert tpk is not None
        if target not in key_sets:
            key_sets[target] = _distinct_set(tables[target].column(tpk))
        keys = key_sets[target]
        share, _, _ = _containment(col, keys, values)
        if share < FK_CONTAINMENT:
            continue
        below = pc.sum(pc.less_equal(keys, top)).as_py() or 0
        reach = below / max(1, len(keys))
        if reach > 0:
            scored.append((k * math.log(reach), target, reach))
    if not scored:
        return None
    scored.sort(reverse=True)
    best_ll, target, reach = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else -math.inf
    if reach < 0.5 or best_ll - runner_up < math.log(RANGE_ODDS):
        return None
    others = f"; less likely: {', '.join(t for _, t, _ in scored[1:4])}" if len(scored) > 1 else ""
    detail = (
        f"values in {target}.{pkeys[target]} and spread over {reach:.0%} of its key range "
        f"({k} values up to {top}){others}; the name names no table, so check it"
    )
    return ForeignKey(column=column, target=target), Explanation(
        f"link:{column}", "containment", 0.6, detail
    )


def _is_extension(target: str, pkeys: dict[str, str | None], tables: dict[str, pa.Table]) -> int:
    """1 when ``target``'s key has the name of another table's key (a 1:1 extension table)."""
    tpk = pkeys.get(target)
    if tpk is None:
        return 0
    for other, opk in pkeys.items():
        if (
            other != target
            and opk is not None
            and opk.lower() == tpk.lower()
            and _names_target(tpk, other) >= 0.9
            and _names_target(tpk, target) < 0.9
        ):
            return 1
    return 0


def _types_compatible(a: pa.DataType, b: pa.DataType) -> bool:
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return True
    return bool(a == b) or (pa.types.is_string(a) and pa.types.is_string(b))


def infer_own_time(
    table: pa.Table, pk: str | None, fk_cols: set[str], *, root: bool = False
) -> TimeSpec | None:
    return _own_time(table, pk, fk_cols, root=root)[0]


def _epoch_unit(col: pa.ChunkedArray) -> str | None:
    """``s``/``ms``/``us`` when an integer column's values are Unix times of 1973-2096."""
    values = col.drop_null()
    if len(values) == 0:
        return None
    lo, hi = pc.min(values).as_py(), pc.max(values).as_py()
    for unit, scale in (("s", 1), ("ms", 1_000), ("us", 1_000_000)):
        if 1e8 * scale <= lo and hi <= 4e9 * scale:
            return unit
    return None


def _own_time(
    table: pa.Table, pk: str | None, fk_cols: set[str], *, root: bool
) -> tuple[TimeSpec | None, list[Explanation]]:
    """The table's own event time (rule 3), and why each date column was taken or not."""
    names = table.schema.names
    notes: list[Explanation] = []
    # 1. every column that holds times: typed dates, ISO text, epoch integers
    cands: list[tuple[str, str | None]] = []  # (column, epoch unit or None)
    for f in table.schema:
        if f.name in fk_cols or f.name == pk:
            continue
        text_times = pa.types.is_string(f.type) and _mostly_timestamps(table.column(f.name))
        if _is_temporal(f.type) or text_times:
            cands.append((f.name, None))
        elif pa.types.is_integer(f.type) and EPOCH_NAME_RE.search(f.name):
            unit = _epoch_unit(table.column(f.name))
            if unit is not None:
                cands.append((f.name, unit))
    # 2. keep event times only
    kept: list[tuple[str, str | None]] = []
    for c, unit in cands:
        why = _not_event_time(table, c, root=root)
        if why:
            notes.append(Explanation(f"not_time:{c}", "rule", 0.9, why))
        else:
            kept.append((c, unit))
    if not kept:
        return None, notes
    exact = ("date", "timestamp", "datetime", "time", "ts", "created_at", "event_time")
    kept.sort(
        key=lambda cu: (
            0 if cu[0].lower() in exact else 1,
            1 if _END_WORD_RE.search(cu[0]) else 0,
            0 if TIME_NAME_RE.match(cu[0]) else 1,
            names.index(cu[0]),
        )
    )
    col, unit = kept[0]
    lo, hi = pc.min_max(table.column(col)).values()
    detail = f"'{col}' holds times from {lo.as_py()} to {hi.as_py()}"
    if unit is not None:
        detail += f" as Unix epoch {unit} (read as UTC)"
    tz = getattr(table.schema.field(col).type, "tz", None)
    if tz:
        detail += f"; time zone {tz} converted to UTC"
    elif pa.types.is_string(table.schema.field(col).type):
        head = table.column(col).drop_null().slice(0, 2000).combine_chunks()
        zoned = pc.extract_regex(head, _TEXT_OFFSET_RE).field("offset").drop_null()
        if len(zoned):
            detail += f"; UTC offsets in the text ({zoned[0].as_py()}, ...) converted to UTC"
    if len(kept) > 1:
        detail += f"; chosen over {', '.join(c for c, _ in kept[1:])}"
    notes.insert(0, Explanation("time", "rule", 0.9 if len(kept) == 1 else 0.8, detail))
    if unit is not None:
        return TimeSpec(kind="epoch", date_column=col, unit=unit), notes
    if pa.types.is_date(table.schema.field(col).type):
        clock = _clock_sibling(table, col)
        if clock is not None:
            return TimeSpec(kind="combine", date_column=col, clock_column=clock), notes
    return TimeSpec(kind="column", date_column=col), notes


def _not_event_time(table: pa.Table, col: str, *, root: bool) -> str | None:
    """Why the date column ``col`` is an attribute rather than the row's event time."""
    if NOT_EVENT_TIME_RE.search(col):
        return f"'{col}' reads as a birth/expiry/update date, an attribute"
    values = table.column(col).drop_null()
    n = len(values)
    if n == 0:
        return f"'{col}' is empty"
    if n >= 20:
        # Cheap on big tables: the head's most common value, then one count of it.
        counts = pc.value_counts(values.slice(0, 50_000))
        i = pc.index(counts.field("counts"), pc.max(counts.field("counts"))).as_py()
        tv = counts.field("values")[i]
        top = int(pc.sum(pc.equal(values, tv)).as_py() or 0)
        if top >= 0.95 * n:
            return f"'{col}' has one value on {top / n:.0%} of rows: a load stamp, not an event"
        if top >= 0.3 * n and str(tv.as_py())[:4] in ("9999", "2999", "3000", "2099"):
            return f"'{col}' is an open-ended span's end ({tv} on {top / n:.0%} of rows)"
    if root and col.lower() not in EVENT_NAMES and not CREATION_RE.search(col):
        return (
            f"'{col}' is a date of a root entity (referenced by other tables, referencing "
            "none): an attribute such as a hire or first-seen date"
        )
    return None


def _mostly_timestamps(col: pa.ChunkedArray) -> bool:
    """At least 90% of a text column's values read as ISO dates/timestamps."""
    values = col.drop_null()
    if len(values) == 0:
        return False
    # Cheap pre-test on the first values: ISO forms start with a YYYY-MM-DD date.
    head = values.slice(0, 1000)
    iso = pc.sum(pc.match_substring_regex(head, r"^\s*\d{4}-\d{1,2}-\d{1,2}")).as_py() or 0
    if iso < 0.9 * len(head):
        return False
    con = duckdb.connect()
    con.register("c", pa.table({"v": values}))
    rows = con.execute("SELECT count(TRY_CAST(v AS TIMESTAMP)) FROM c").fetchall()
    return bool(rows and rows[0][0] >= 0.9 * len(values))


def _clock_sibling(table: pa.Table, date_col: str) -> str | None:
    options = [re.sub(r"date", "time", date_col), re.sub(r"Date", "Time", date_col)]
    if date_col.lower() == "date":
        options.append("time")
    for o in options:
        if (
            o != date_col
            and o in table.schema.names
            and pa.types.is_time(table.schema.field(o).type)
        ):
            return o
    return None


def infer_stype(name: str, col: pa.ChunkedArray, *, is_key: bool) -> SType:
    t = col.type
    if is_key:
        return SType.id
    if _is_temporal(t):
        return SType.timestamp
    if pa.types.is_boolean(t) or pa.types.is_dictionary(t):
        return SType.categorical
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return SType.numerical
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return SType.numerical
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        vt = t.value_type
        if pa.types.is_floating(vt):
            return SType.embedding
        return SType.multicategorical
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return SType.binary
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_stype(col)
    return SType.text


STYPE_SAMPLE = 200_000


def _string_stype(col: pa.ChunkedArray) -> SType:
    # A spread-out sample is enough to tell labels from free text; keys and
    # links are decided elsewhere, on every row.
    # (Slices, not take(): building an index array from numpy imports pandas.)
    if len(col) > STYPE_SAMPLE:
        blocks, size = 200, STYPE_SAMPLE // 200
        step = len(col) // blocks
        col = pa.chunked_array(
            [c for i in range(blocks) for c in col.slice(i * step, size).chunks], type=col.type
        )
    nonnull = col.drop_null()
    n = len(nonnull)
    if n == 0:
        return SType.categorical
    if mostly_numbers(nonnull):
        # Numbers and clock times stored as text ("1:26.572"): read as seconds.
        return SType.numerical
    head = nonnull.slice(0, 2000)
    hexed = pc.sum(pc.starts_with(head, "\\x")).as_py() or 0
    if (
        hexed >= 0.9 * len(head)
        and pc.all(pc.match_substring_regex(head, r"^\\x([0-9a-fA-F]{2})+$")).as_py()
    ):
        return SType.binary  # PostgreSQL bytea in its text form
    # Lists before labels: 'a|b|c' genres repeat as combinations, which would
    # otherwise read as a handful of categories.
    with_sep = pc.sum(pc.match_substring_regex(head, LIST_SEP_RE.pattern)).as_py() or 0
    if with_sep >= 0.3 * len(head):
        sample = head.to_pylist()
        tokens = {tok.strip() for s in sample for tok in LIST_SEP_RE.split(s)}
        if len(tokens) <= max(10, 0.2 * len(sample)):
            return SType.multicategorical
    distinct = pc.count_distinct(nonnull).as_py()
    lengths = pc.utf8_length(nonnull)
    mean_len = float(pc.mean(lengths).as_py() or 0.0)
    if distinct <= max(10, min(1000, int(0.2 * n))) or (distinct <= 0.5 * n and mean_len <= 16):
        return SType.categorical
    return SType.text


def infer_schema(tables: dict[str, pa.Table], declared: DeclaredKeys | None = None) -> Schema:
    """Infer keys, links, time columns and semantic types for ``tables``."""
    declared = declared or DeclaredKeys()
    notes: dict[str, list[Explanation]] = {name: [] for name in tables}
    # 1. primary keys: declared, else inferred (a declared composite key stays one)
    pkeys: dict[str, str | None] = {}
    for name, table in tables.items():
        if name in declared.primary_keys:
            pkeys[name] = declared.primary_keys[name]
            notes[name].append(
                Explanation("primary_key", "declared", 1.0, "declared by the source")
            )
            continue
        found = None if name in declared.composite_keys else _primary_key(name, table)
        pkeys[name] = found[0] if found else None
        if found:
            notes[name].append(found[1])
    # 2. foreign keys (declared constraints win over heuristics for SQL sources)
    fkeys: dict[str, tuple[ForeignKey, ...]] = {}
    any_declared = any(declared.foreign_keys.values())
    for name, table in tables.items():
        if any_declared:
            fkeys[name] = tuple(
                fk for fk in declared.foreign_keys.get(name, ()) if fk.target in tables
            )
            notes[name] += [
                Explanation(f"link:{fk.column}", "declared", 1.0, f"declared -> {fk.target}")
                for fk in fkeys[name]
            ]
        else:
            found_fks = _foreign_keys(name, table, pkeys, tables)
            fkeys[name] = tuple(fk for fk, _ in found_fks)
            notes[name] += [e for _, e in found_fks]
    # 3. composite keys of tables with no one-column key (link tables, facts)
    ukeys: dict[str, tuple[str, ...]] = {}
    con = duckdb.connect()  # one for every table: a connection costs ~20 ms
    for name, table in tables.items():
        if name in declared.composite_keys:
            ukeys[name] = declared.composite_keys[name]
            notes[name].append(Explanation("unique_key", "declared", 1.0, "declared by the source"))
        elif pkeys[name] is None:
            found_uk = _composite_key(table, [fk.column for fk in fkeys[name]], con=con)
            if found_uk:
                ukeys[name] = found_uk[0]
                notes[name].append(found_uk[1])
    # 4. time columns: own first, then inherited along foreign keys to a fixpoint
    referenced = {fk.target for name in tables for fk in fkeys[name] if fk.target != name}
    specs: dict[str, TimeSpec | None] = {}
    for name, table in tables.items():
        outgoing = any(fk.target != name for fk in fkeys[name])
        root = name in referenced and not outgoing
        spec, why = _own_time(table, pkeys[name], {fk.column for fk in fkeys[name]}, root=root)
        specs[name] = spec
        notes[name] += why
    changed = True
    while changed:
        changed = False
        for name in tables:
            if specs[name] is not None:
                continue
            timed = [
                fk for fk in fkeys[name] if fk.target != name and specs.get(fk.target) is not None
            ]
            lead = ukeys.get(name, ("",))[0]
            if len(timed) > 1 and lead in {fk.column for fk in timed}:
                # Several timed parents: the one the row's key starts with (a commit's
                # parents happen when the commit does). Doubtful, so --check lists it.
                timed = [fk for fk in timed if fk.column == lead]
                conf = 0.6
            else:
                conf = 0.9
            if len(timed) == 1:
                specs[name] = TimeSpec(kind="inherit", via=timed[0].column)
                notes[name].append(
                    Explanation(
                        "time",
                        "rule",
                        conf,
                        f"no event time of its own: inherits {timed[0].target}'s time via "
                        f"'{timed[0].column}'",
                    )
                )
                changed = True
    # 5. columns and semantic types
    out: dict[str, TableSchema] = {}
    int_keys = {
        t: _distinct_set(tables[t].column(k))
        for t, k in pkeys.items()
        if k is not None and pa.types.is_integer(tables[t].schema.field(k).type)
    }
    for name, table in tables.items():
        keys = {c for c in [pkeys[name]] if c} | {fk.column for fk in fkeys[name]}
        columns = []
        for f in table.schema:
            col = table.column(f.name)
            if (
                f.name not in keys
                and pa.types.is_integer(f.type)
                and is_id_like(f.name)
                and not CALENDAR_WORDS.intersection(_words(f.name))
            ):
                # A source that declares its links has said this column is none.
                stype, code_why = _unlinked_code(
                    name, f.name, col, pkeys, {} if any_declared else int_keys
                )
                notes[name].append(code_why)
            else:
                stype = infer_stype(f.name, col, is_key=f.name in keys)
            columns.append(Column(f.name, str(f.type), stype))
        out[name] = make_table_schema(
            name,
            columns,
            pkeys[name],
            fkeys[name],
            specs[name],
            unique_key=ukeys.get(name, ()),
            explanations=tuple(notes[name]),
        )
    return Schema(tables=out)


def _unlinked_code(
    name: str,
    column: str,
    col: pa.ChunkedArray,
    pkeys: dict[str, str | None],
    int_keys: dict[str, pa.Array],
) -> tuple[SType, Explanation]:
    """An integer column named like a key (``MaintainerId``) that rule 2 linked nowhere.

    Its numbers are codes, not quantities, so it is never ``numerical``: a
    ``categorical`` feature while it has few values, else an ``id`` that is not
    encoded. Small integers fit nearly every surrogate key, which is why rule 2
    needs the name to pick a target; the explanation lists the tables whose keys
    hold its values so that ``--check`` can show the user what to declare.
    """
    nonnull = col.drop_null()
    distinct = distinct_count(nonnull)
    # Nearly one value per row: no category a model could learn from.
    few = distinct <= min(1000, max(10, len(nonnull) // 2))
    stype = SType.categorical if few else SType.id
    fits = []
    if distinct:
        values = _distinct_set(nonnull)
        for target, keys in int_keys.items():
            if (target, pkeys[target]) == (name, column):
                continue
            inside = pc.sum(pc.is_in(values, value_set=keys)).as_py() or 0
            if inside >= FK_CONTAINMENT * len(values):
                fits.append(f"{target}.{pkeys[target]}")
    kind = "a categorical code" if few else "an id (not encoded)"
    detail = f"named like a key but linked to no table, so {kind}, not a number"
    if fits:
        shown = ", ".join(fits[:5]) + (f" and {len(fits) - 5} more" if len(fits) > 5 else "")
        detail += (
            f"; its values fit the keys of {shown}: if one is its target, declare it "
            f"(foreign_keys: {{{column}: TABLE}} in a schema file)"
        )
    # Doubtful only when a link was plausible (the values fit somewhere).
    return stype, Explanation(f"code:{column}", "rule", 0.5 if fits else 0.9, detail)


def make_table_schema(
    name: str,
    columns: Iterable[Column],
    primary_key: str | None,
    foreign_keys: tuple[ForeignKey, ...],
    spec: TimeSpec | None,
    *,
    unique_key: tuple[str, ...] = (),
    explanations: tuple[Explanation, ...] = (),
) -> TableSchema:
    """Assemble a table schema; a derived time gets its stored column."""
    cols = list(columns)
    time_column: str | None = None
    if spec is not None:
        if spec.kind == "epoch":
            # Converted in place at ingest, like text times (CONTRACTS: TIMESTAMPs only).
            time_column = spec.date_column
            cols = [
                Column(c.name, "timestamp[us]", SType.timestamp) if c.name == time_column else c
                for c in cols
            ]
        elif spec.kind in ("column", "parse"):
            time_column = spec.date_column
            dtype = next((c.dtype for c in cols if c.name == time_column), "")
            # Every stored time column is a TIMESTAMP (CONTRACTS): text, DATEs and
            # other units are cast in place at ingest (validation first refuses
            # what cannot be cast); timestamp[us] columns need nothing.
            cast = dtype != "timestamp[us]"
            spec = TimeSpec(kind="parse", date_column=time_column) if cast else None
            cols = [
                Column(c.name, "timestamp[us]", SType.timestamp)
                if c.name == time_column and cast
                else c
                for c in cols
            ]
        else:
            time_column = DERIVED_TIME_COLUMN
            cols = [c for c in cols if c.name != DERIVED_TIME_COLUMN]
            cols.append(Column(DERIVED_TIME_COLUMN, "timestamp[us]", SType.timestamp))
    return TableSchema(
        name=name,
        columns=tuple(cols),
        primary_key=primary_key,
        foreign_keys=foreign_keys,
        time_column=time_column,
        time_spec=spec,
        unique_key=unique_key,
        explanations=explanations,
    )
