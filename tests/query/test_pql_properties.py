"""Property tests: printed queries parse back to the same tree; junk only raises QueryError."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.errors import QueryError
from relgraph.query.ast import (
    AGGREGATES,
    KEYWORDS,
    LIST_OPS,
    NULL_OPS,
    SCALAR_OPS,
    UNITS,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    Entity,
    Not,
    Or,
    Query,
    Window,
)
from relgraph.query.parser import parse

names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(sorted(KEYWORDS)).map(str.lower),  # keywords are fine as names
    st.text(alphabet=string.ascii_letters + ' "#.,()-', min_size=1, max_size=8),  # quoted
)
constants = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=10),
    st.booleans(),
)
columns = st.builds(ColumnRef, names, names)


def windows() -> st.SearchStrategy[Window]:
    def make(start: int | None, length: int, unit: str) -> Window:
        end = (start if start is not None else -50) + length
        return Window(start, end, unit)

    return st.builds(
        make, st.one_of(st.none(), st.integers(-400, 400)), st.integers(1, 400),
        st.sampled_from(UNITS),
    )  # fmt: skip


def comparison(left: st.SearchStrategy[Aggregate | ColumnRef]) -> st.SearchStrategy[Comparison]:
    scalar = st.builds(Comparison, left, st.sampled_from(SCALAR_OPS), constants)
    listed = st.builds(
        Comparison, left, st.sampled_from(LIST_OPS),
        st.lists(constants, min_size=1, max_size=3).map(tuple),
    )  # fmt: skip
    null = st.builds(Comparison, left, st.sampled_from(NULL_OPS), st.none())
    return st.one_of(scalar, listed, null)


def conditions(leaf: st.SearchStrategy[Comparison]) -> st.SearchStrategy[Condition]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)
        ),
        max_leaves=5,
    )


def _aggregate(func: str, col: ColumnRef, star: bool, win: Window, where: Condition | None):
    if star and func == "COUNT":
        col = ColumnRef(col.table, "*")
    return Aggregate(func, col, win, where)


aggregates = st.builds(
    _aggregate, st.sampled_from(AGGREGATES), columns, st.booleans(), windows(),
    st.one_of(st.none(), conditions(comparison(columns))),
)  # fmt: skip
operands = st.one_of(aggregates, columns)
conds = conditions(comparison(operands))
entities = st.one_of(
    st.builds(Entity, columns),
    st.builds(lambda r, v: Entity(r, "=", (v,)), columns, constants),
    st.builds(lambda r, vs: Entity(r, "IN", tuple(vs)), columns,
              st.lists(constants, min_size=1, max_size=3)),
)  # fmt: skip


@st.composite
def queries(draw: st.DrawFn) -> Query:
    mode = draw(st.sampled_from([None, "RANK", "CLASSIFY"]))
    return Query(
        target=draw(st.one_of(conds, operands)),
        entity=draw(entities),
        mode=mode,
        k=draw(st.integers(1, 500)) if mode == "RANK" else None,
        where=draw(st.one_of(st.none(), conds)),
        assuming=draw(st.one_of(st.none(), conds)),
        for_each=draw(st.booleans()),
    )


@settings(max_examples=120, deadline=None)
@given(queries())
def test_print_parse_round_trip(q: Query) -> None:
    text = q.to_pql()
    assert parse(text) == q
    assert parse(text).to_pql() == text


VOCAB = [
    "PREDICT", "COUNT", "SUM", "LIST_DISTINCT", "(", ")", ",", ".", "*", "-", "INF", "0", "30",
    "1.5", "days", "FOR", "EACH", "WHERE", "ASSUMING", "AND", "OR", "NOT", "IN", "IS", "NULL",
    "=", "!=", "<=", "RANK", "TOP", "CLASSIFY", "STARTS", "WITH", "'s'", '"q"', "users", "id",
    "orders", "\n", "#c\n", "'", '"', "@", "~", "1e", "TRUE",
]  # fmt: skip


def _check_junk(text: str) -> None:
    try:
        parse(text)
    except QueryError as e:
        lines = text.splitlines() or [""]
        assert 1 <= e.line <= max(len(lines), 1) + 1
        assert e.col >= 1
        assert e.message.endswith(f"at {e.line}:{e.col}")
        e.pointer()  # renders without failing


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_random_text_only_raises_query_error(text: str) -> None:
    _check_junk(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(VOCAB), max_size=25))
def test_random_token_soup_only_raises_query_error(words: list[str]) -> None:
    _check_junk(" ".join(words))
    _check_junk("PREDICT " + " ".join(words))
