"""Hand-written recursive-descent parser for PQL (grammar: DESIGN.md §3).

Every error is a :class:`~relgraph.errors.QueryError` whose line and column
point at the offending token.

Example:
    >>> q = parse("PREDICT SUM(orders.total, 0, 30, days) FOR EACH users.user_id")
    >>> q.entity.ref.table, q.target.func
    ('users', 'SUM')
"""

from __future__ import annotations

from relgraph.errors import QueryError
from relgraph.query.ast import (
    AGGREGATES,
    UNITS,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    Constant,
    Entity,
    Not,
    Operand,
    Or,
    Query,
    Target,
    Window,
)
from relgraph.query.tokens import Kind, Token, tokenize

_UNIT_ALIASES = {u.rstrip("s").upper(): u for u in UNITS} | {u.upper(): u for u in UNITS}


def parse(text: str) -> Query:
    """Parse one predictive query.

    Raises:
        QueryError: with the line and column of the offending token.
    """
    return _Parser(text).query()


def parse_condition(text: str) -> Condition:
    """Parse a bare condition (used by tests and the UI's filter box)."""
    p = _Parser(text)
    c = p.condition()
    p.expect_eof()
    return c


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        if t.kind is not Kind.EOF:
            self.i += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> QueryError:
        t = tok or self.tok
        return QueryError(message, line=t.line, col=t.col, query=self.text)

    def expected(self, what: str) -> QueryError:
        return self.error(f"expected {what}, found {self.tok.describe()}")

    def accept_kw(self, *words: str) -> Token | None:
        if self.tok.is_keyword(*words):
            return self.advance()
        return None

    def expect_kw(self, word: str) -> Token:
        if not self.tok.is_keyword(word):
            raise self.expected(word)
        return self.advance()

    def expect(self, kind: Kind) -> Token:
        if self.tok.kind is not kind:
            raise self.expected(kind.value)
        return self.advance()

    def expect_eof(self) -> None:
        if self.tok.kind is not Kind.EOF:
            raise self.error(f"unexpected {self.tok.describe()} after the end of the query")

    # -- grammar -------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("PREDICT")
        target = self.target()
        mode, k = None, None
        if self.accept_kw("RANK"):
            self.expect_kw("TOP")
            tk = self.tok
            k_val = self.integer("k after RANK TOP")
            if k_val <= 0:
                raise self.error(f"RANK TOP k needs k >= 1, got {k_val}", tk)
            mode, k = "RANK", k_val
        elif self.accept_kw("CLASSIFY"):
            mode = "CLASSIFY"
        self.expect_kw("FOR")
        for_each = self.accept_kw("EACH") is not None
        entity = self.entity()
        where = self.condition() if self.accept_kw("WHERE") else None
        assuming = self.condition() if self.accept_kw("ASSUMING") else None
        self.expect_eof()
        return Query(
            target=target, entity=entity, mode=mode, k=k, where=where, assuming=assuming,
            for_each=for_each,
        )  # fmt: skip

    def target(self) -> Target:
        # A target is a condition, or a bare aggregate / column (no operator after it).
        if self.tok.kind in (Kind.IDENT, Kind.QUOTED) and not self.tok.is_keyword("NOT"):
            start = self.i
            operand = self.operand()
            if not self.at_operator():
                return operand
            self.i = start
        return self.condition()

    def entity(self) -> Entity:
        ref = self.column_ref(allow_star=False)
        if self.tok.kind is Kind.OP and self.tok.value == "=":
            self.advance()
            return Entity(ref, "=", (self.constant(),))
        if self.accept_kw("IN"):
            return Entity(ref, "IN", self.constant_list())
        return Entity(ref)

    def condition(self) -> Condition:
        left = self.conjunction()
        while self.accept_kw("OR"):
            left = Or(left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while self.accept_kw("AND"):
            left = And(left, self.negation())
        return left

    def negation(self) -> Condition:
        tok = self.tok
        if self.accept_kw("NOT"):
            return Not(self.negation(), line=tok.line, col=tok.col)
        if self.tok.kind is Kind.LPAREN:
            self.advance()
            c = self.condition()
            self.expect(Kind.RPAREN)
            return c
        return self.comparison()

    def comparison(self) -> Comparison:
        tok = self.tok
        left = self.operand()
        op = self.operator()
        value: Constant | tuple[Constant, ...] | None
        if op in ("IN", "NOT IN"):
            value = self.constant_list()
        elif op in ("IS NULL", "IS NOT NULL"):
            value = None
        else:
            value = self.constant()
        return Comparison(left, op, value, line=tok.line, col=tok.col)

    def at_operator(self) -> bool:
        t = self.tok
        if t.kind is Kind.OP:
            return True
        if t.is_keyword("IN", "IS", "LIKE", "CONTAINS", "STARTS", "ENDS"):
            return True
        return t.is_keyword("NOT") and self.peek().is_keyword("IN")

    def operator(self) -> str:
        t = self.tok
        if t.kind is Kind.OP:
            self.advance()
            return t.value
        if self.accept_kw("IN"):
            return "IN"
        if self.accept_kw("LIKE"):
            return "LIKE"
        if self.accept_kw("CONTAINS"):
            return "CONTAINS"
        if self.accept_kw("NOT"):
            self.expect_kw("IN")
            return "NOT IN"
        if self.accept_kw("IS"):
            neg = self.accept_kw("NOT") is not None
            self.expect_kw("NULL")
            return "IS NOT NULL" if neg else "IS NULL"
        for word in ("STARTS", "ENDS"):
            if self.accept_kw(word):
                self.expect_kw("WITH")
                return f"{word} WITH"
        raise self.expected("a comparison operator (=, !=, <, <=, >, >=, IN, IS NULL, LIKE, ...)")

    def operand(self) -> Operand:
        if self.tok.kind is Kind.IDENT and self.tok.value.upper() in AGGREGATES:
            if self.peek().kind is Kind.LPAREN:
                return self.aggregate()
        return self.column_ref(allow_star=False)

    def aggregate(self) -> Aggregate:
        tok = self.advance()
        func = tok.value.upper()
        self.expect(Kind.LPAREN)
        ref = self.column_ref(allow_star=True)
        if ref.is_star and func != "COUNT":
            raise self.error(f"{func}(...) needs a column; only COUNT accepts table.*", tok)
        where = self.condition() if self.accept_kw("WHERE") else None
        self.expect(Kind.COMMA)
        start: int | None
        st = self.tok
        if self.tok.kind is Kind.MINUS and self.peek().is_keyword("INF"):
            self.advance()
            self.advance()
            start = None
        else:
            start = self.integer("the window start (an integer or -INF)")
        self.expect(Kind.COMMA)
        end = self.integer("the window end (an integer)")
        unit = "days"
        if self.tok.kind is Kind.COMMA:
            self.advance()
            ut = self.tok
            if ut.kind is not Kind.IDENT or ut.value.upper() not in _UNIT_ALIASES:
                raise self.expected("a unit (" + ", ".join(UNITS) + ")")
            unit = _UNIT_ALIASES[self.advance().value.upper()]
        self.expect(Kind.RPAREN)
        if start is not None and start >= end:
            raise self.error(
                f"empty window ({start}, {end}]: the start must be before the end", st
            )
        return Aggregate(func, ref, Window(start, end, unit), where, line=tok.line, col=tok.col)

    def name(self, what: str) -> Token:
        if self.tok.kind in (Kind.IDENT, Kind.QUOTED):
            return self.advance()
        raise self.expected(what)

    def column_ref(self, allow_star: bool) -> ColumnRef:
        t = self.name("a table name (table.column)")
        self.expect(Kind.DOT)
        if self.tok.kind is Kind.STAR:
            if not allow_star:
                raise self.error("'table.*' is only allowed inside COUNT(...)")
            self.advance()
            return ColumnRef(t.value, "*", line=t.line, col=t.col)
        c = self.name("a column name after '.'")
        return ColumnRef(t.value, c.value, line=t.line, col=t.col)

    def integer(self, what: str) -> int:
        neg = False
        if self.tok.kind is Kind.MINUS:
            self.advance()
            neg = True
        t = self.tok
        if t.kind is not Kind.NUMBER or not t.value.isdigit():
            raise self.expected(what)
        self.advance()
        return -int(t.value) if neg else int(t.value)

    def constant(self) -> Constant:
        t = self.tok
        if t.kind is Kind.STRING:
            self.advance()
            return t.value
        if t.is_keyword("TRUE", "FALSE"):
            self.advance()
            return t.value.upper() == "TRUE"
        neg = False
        if t.kind is Kind.MINUS:
            self.advance()
            neg = True
        t = self.tok
        if t.kind is not Kind.NUMBER:
            raise self.expected("a constant (number, 'string', TRUE or FALSE)")
        self.advance()
        v: int | float = int(t.value) if t.value.isdigit() else float(t.value)
        if v in (float("inf"), float("-inf")):
            raise self.error(f"number {t.value} is too large", t)
        return -v if neg else v

    def constant_list(self) -> tuple[Constant, ...]:
        self.expect(Kind.LPAREN)
        values = [self.constant()]
        while self.tok.kind is Kind.COMMA:
            self.advance()
            values.append(self.constant())
        self.expect(Kind.RPAREN)
        return tuple(values)
