"""Hand-written recursive-descent parser for PQL (grammar: DESIGN.md §3).

Every error is a :class:`~relgraph.errors.QueryError` whose line and column
point at the offending token.

Example:
    >>> q = parse("PREDICT SUM(orders.total, 0, 30, days) FOR EACH users.user_id")
    >>> q.entity.ref.table, q.target.func
    ('users', 'SUM')
"""

from __future__ import annotations

import difflib

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
    LabelRef,
    Not,
    Operand,
    Or,
    Query,
    Target,
    Window,
)
from relgraph.query.tokens import Kind, Token, tokenize

MAX_DEPTH = 100
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
        self.depth = 0

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
            raise self.error(f"expected {word}, found {self.tok.describe()}{self.hint(word)}")
        return self.advance()

    def hint(self, *words: str) -> str:
        """A "did you mean" for a misspelt keyword at the current token."""
        if self.tok.kind is not Kind.IDENT:
            return ""
        close = difflib.get_close_matches(self.tok.value.upper(), list(words), n=1, cutoff=0.7)
        return f" (did you mean {close[0]}?)" if close else ""

    def expect(self, kind: Kind) -> Token:
        if self.tok.kind is not kind:
            raise self.expected(kind.value)
        return self.advance()

    def expect_eof(self) -> None:
        if self.tok.kind is not Kind.EOF:
            hint = self.hint("WHERE", "ASSUMING", "AND", "OR", "RANK", "CLASSIFY")
            raise self.error(f"unexpected {self.tok.describe()} after the end of the query{hint}")

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
        # LABEL(project[, version]): labels from a label set (not a keyword: a column may
        # still be called "label").
        if (
            self.tok.kind is Kind.IDENT
            and self.tok.value.upper() == "LABEL"
            and self.peek().kind is Kind.LPAREN
        ):
            return self.label_ref()
        # A target is a condition, or a bare aggregate / column (no operator after it).
        if self.tok.kind in (Kind.IDENT, Kind.QUOTED) and not self.tok.is_keyword("NOT"):
            start = self.i
            operand = self.operand()
            if not self.at_operator():
                return operand
            self.i = start
        return self.condition()

    def label_ref(self) -> LabelRef:
        tok = self.advance()
        self.expect(Kind.LPAREN)
        project = self.name("a label project name").value
        version = None
        if self.tok.kind is Kind.COMMA:
            self.advance()
            version = self.name("a label set version (e.g. v1)").value
        self.expect(Kind.RPAREN)
        return LabelRef(project, version, line=tok.line, col=tok.col)

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
        # Bound the recursion so that hostile input gets a QueryError, not a RecursionError.
        if self.depth > MAX_DEPTH:
            raise self.error(f"condition nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            if self.accept_kw("NOT"):
                return Not(self.negation(), line=tok.line, col=tok.col)
            if self.tok.kind is Kind.LPAREN:
                self.advance()
                c = self.condition()
                self.expect(Kind.RPAREN)
                return c
            return self.comparison()
        finally:
            self.depth -= 1

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
        t = self.tok
        if (
            t.kind is Kind.IDENT
            and t.value.upper() in AGGREGATES
            and self.peek().kind is Kind.LPAREN
        ):
            return self.aggregate()
        return self.column_ref(allow_star=False)

    def aggregate(self) -> Aggregate:
        tok = self.advance()
        func = tok.value.upper()
        self.expect(Kind.LPAREN)
        ref = self.column_ref(allow_star=True)
        if ref.is_star and func != "COUNT":
            raise self.error(f"{func}(...) needs a column; only COUNT accepts table.*", tok)
        via = self.column_ref(allow_star=False) if self.accept_kw("VIA") else None
        where = self.condition() if self.accept_kw("WHERE") else None
        if via is None and self.accept_kw("VIA"):
            via = self.column_ref(allow_star=False)
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
                close = difflib.get_close_matches(ut.value.lower(), UNITS, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close and ut.kind is Kind.IDENT else ""
                units = ", ".join(UNITS)
                raise self.error(f"expected a unit ({units}), found {ut.describe()}{hint}")
            unit = _UNIT_ALIASES[self.advance().value.upper()]
        self.expect(Kind.RPAREN)
        if start is not None and start >= end:
            raise self.error(f"empty window ({start}, {end}]: the start must be before the end", st)
        return Aggregate(
            func, ref, Window(start, end, unit), where, line=tok.line, col=tok.col, via=via
        )

    def name(self, what: str) -> Token:
        if self.tok.kind in (Kind.IDENT, Kind.QUOTED):
            return self.advance()
        raise self.expected(what)

    def column_ref(self, allow_star: bool) -> ColumnRef:
        if self.tok.kind is Kind.IDENT and self.peek().kind is Kind.LPAREN:
            hint = self.hint(*AGGREGATES) or " (aggregates: " + ", ".join(AGGREGATES) + ")"
            raise self.error(f"unknown aggregate '{self.tok.value}'{hint}")
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


def split_queries(text: str) -> list[tuple[str, str]]:
    """Split a ``.pql`` file into ``(name, query)`` pairs.

    One query per paragraph (blank-line separated); a paragraph's first line,
    when it is a ``# name: description`` comment, names it (else ``query_<i>``).

    Example:
        >>> split_queries("# churn: no order\\nPREDICT ...\\n\\nPREDICT ...")[0][0]
        'churn'
    """
    out: list[tuple[str, str]] = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.strip("\n").splitlines()]
        if not any(ln.strip() and not ln.lstrip().startswith("#") for ln in lines):
            continue
        name = f"query_{len(out) + 1}"
        first = lines[0].strip()
        if first.startswith("#"):
            name = first.lstrip("#").split(":", 1)[0].strip() or name
        out.append((name, "\n".join(lines)))
    return out
