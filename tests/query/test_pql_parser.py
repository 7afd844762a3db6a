"""Lexer and parser: shapes, printing back, and errors that point at the token."""

from __future__ import annotations

import pytest

from relgraph.errors import QueryError
from relgraph.query.ast import Aggregate, And, ColumnRef, Comparison, Not, Or, Window
from relgraph.query.parser import parse, parse_condition, split_queries
from relgraph.query.tokens import Kind, tokenize


def test_tokens_carry_line_and_column() -> None:
    toks = tokenize("PREDICT\n  COUNT(o.*, 0, 3)  # note\n")
    assert [(t.value, t.line, t.col) for t in toks[:4]] == [
        ("PREDICT", 1, 1),
        ("COUNT", 2, 3),
        ("(", 2, 8),
        ("o", 2, 9),
    ]
    assert toks[-1].kind is Kind.EOF


def test_strings_and_quoted_names_unescape() -> None:
    toks = tokenize("""'it''s' "a ""b"" c" <> 1.5e3""")
    assert [(t.kind, t.value) for t in toks[:-1]] == [
        (Kind.STRING, "it's"),
        (Kind.QUOTED, 'a "b" c'),
        (Kind.OP, "!="),
        (Kind.NUMBER, "1.5e3"),
    ]


def test_relbench_dnf_query_shape() -> None:
    q = parse(
        "predict count(results.* where results.statusId != 1, 0, 30, days) > 0 "
        "for each drivers.driverId assuming count(results.*, 0, 30, days) > 0"
    )
    assert isinstance(q.target, Comparison)
    agg = q.target.left
    assert isinstance(agg, Aggregate)
    assert agg.func == "COUNT" and agg.column == ColumnRef("results", "*")
    assert agg.window == Window(0, 30, "days")
    assert agg.where == Comparison(ColumnRef("results", "statusId"), "!=", 1)
    assert q.entity.ref == ColumnRef("drivers", "driverId")
    assert q.to_pql() == (
        "PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) > 0 "
        "FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 30, days) > 0"
    )


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        (
            "PREDICT SUM(o.amount, 0, 7) FOR EACH u.id",
            "PREDICT SUM(o.amount, 0, 7, days) FOR EACH u.id",
        ),
        ("PREDICT u.country FOR u.id = 3", "PREDICT u.country FOR u.id = 3"),
        (
            "PREDICT LIST_DISTINCT(o.item, 0, 2, weeks) RANK TOP 12 FOR EACH u.id",
            "PREDICT LIST_DISTINCT(o.item, 0, 2, weeks) RANK TOP 12 FOR EACH u.id",
        ),
        (
            "PREDICT LIST_DISTINCT(o.cat, 0, 1, month) CLASSIFY FOR EACH u.id IN (1, 2)",
            "PREDICT LIST_DISTINCT(o.cat, 0, 1, months) CLASSIFY FOR EACH u.id IN (1, 2)",
        ),
        (
            "PREDICT COUNT(o.*,0,30)=0 FOR EACH u.id WHERE COUNT(o.*, -INF, 0) > 0 "
            "AND NOT (u.country IN ('FR','DE') OR u.age IS NULL)",
            "PREDICT COUNT(o.*, 0, 30, days) = 0 FOR EACH u.id WHERE COUNT(o.*, -INF, 0, days) > 0 "
            "AND NOT (u.country IN ('FR', 'DE') OR u.age IS NULL)",
        ),
        (
            "PREDICT FIRST(o.status, 0, 10, hours) FOR EACH u.id "
            "ASSUMING u.name STARTS WITH 'a' AND u.name NOT IN ('x') AND u.age >= -1.5",
            "PREDICT FIRST(o.status, 0, 10, hours) FOR EACH u.id "
            "ASSUMING u.name STARTS WITH 'a' AND u.name NOT IN ('x') AND u.age >= -1.5",
        ),
        (
            'PREDICT "my table"."rank" FOR EACH "my table".id',
            'PREDICT "my table"."rank" FOR EACH "my table".id',
        ),
    ],
)
def test_parse_then_print(text: str, printed: str) -> None:
    q = parse(text)
    assert q.to_pql() == printed
    assert parse(printed) == q


def test_precedence_not_and_or() -> None:
    c = parse_condition("NOT u.a = 1 AND u.b = 2 OR u.c = 3")
    assert isinstance(c, Or)
    assert isinstance(c.left, And)
    assert isinstance(c.left.left, Not)
    assert parse_condition("u.a = 1 AND (u.b = 2 AND u.c = 3)").to_pql() == (
        "u.a = 1 AND (u.b = 2 AND u.c = 3)"
    )


@pytest.mark.parametrize(
    ("text", "line", "col", "match"),
    [
        ("PREDIC COUNT(o.*, 0, 1) FOR EACH u.id", 1, 1, "expected PREDICT, found 'PREDIC'"),
        ("PREDICT COUNT(o.*, 0, 1) FOR EACH", 1, 34, "expected a table name"),
        ("PREDICT SUM(o.*, 0, 1) FOR EACH u.id", 1, 9, r"SUM\(...\) needs a column"),
        ("PREDICT COUNT(o.*, 5, 1) FOR EACH u.id", 1, 20, r"empty window \(5, 1\]"),
        ("PREDICT COUNT(o.*, 0, 1, fortnights) FOR EACH u.id", 1, 26, "expected a unit"),
        ("PREDICT COUNT(o.*, 0, 1) > 'x FOR EACH u.id", 1, 28, "unclosed string"),
        ("PREDICT COUNT(o.*, 0, 1) ~ 0 FOR EACH u.id", 1, 26, "unexpected character"),
        ("PREDICT u.a FOR EACH u.id WHERE u.b = 1 u.c", 1, 41, "after the end of the query"),
        ("PREDICT u.a\nFOR EACH u.id\nWHERE u.b ==", 3, 12, "expected a constant"),
        ("PREDICT u.a RANK TOP 0 FOR EACH u.id", 1, 22, "k >= 1"),
        ("PREDICT u.a AND u.b = 1 FOR EACH u.id", 1, 13, "expected RANK|expected FOR"),
        ("PREDICTS u.a FOR EACH u.id", 1, 1, r"did you mean PREDICT\?"),
        (
            "PREDICT CONT(o.*, 0, 1) FOR EACH u.id",
            1,
            9,
            r"unknown aggregate 'CONT' \(did you mean COUNT\?\)",
        ),
        ("PREDICT COUNT(o.*, 0, 1, dyas) FOR EACH u.id", 1, 26, r"did you mean days\?"),
    ],
)
def test_errors_point_at_the_token(text: str, line: int, col: int, match: str) -> None:
    with pytest.raises(QueryError, match=match) as info:
        parse(text)
    assert (info.value.line, info.value.col) == (line, col)
    assert info.value.message.endswith(f"at {line}:{col}")
    assert info.value.pointer().splitlines()[-1] == " " * (col - 1) + "^"


def test_split_queries_names_paragraphs() -> None:
    text = "# a: first\nPREDICT u.x FOR u.id\n\n\n# just a comment\n\nPREDICT u.y FOR u.id\n"
    assert split_queries(text) == [
        ("a", "# a: first\nPREDICT u.x FOR u.id"),
        ("query_2", "PREDICT u.y FOR u.id"),
    ]


def test_deep_nesting_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="nested more than"):
        parse("PREDICT " + "(" * 5000 + "u.a = 1" + ")" * 5000 + " FOR u.id")
    with pytest.raises(QueryError, match="nested more than"):
        parse("PREDICT " + "NOT " * 5000 + "u.a = 1 FOR u.id")
    assert (
        parse("PREDICT " + "(" * 50 + "u.a = 1" + ")" * 50 + " FOR u.id").target
        == parse("PREDICT u.a = 1 FOR u.id").target
    )
