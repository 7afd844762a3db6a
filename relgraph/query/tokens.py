"""PQL lexer: text → tokens, each with its 1-based line and column.

Keywords are not a token kind of their own: they are identifiers that the parser
compares case-insensitively, so a table may be called ``status`` or ``rank``
without quoting wherever the grammar expects a name.

Example:
    >>> [t.value for t in tokenize("PREDICT COUNT(orders.*, 0, 30)")][:4]
    ['PREDICT', 'COUNT', '(', 'orders']
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from relgraph.errors import QueryError


class Kind(Enum):
    """Token kinds."""

    IDENT = "identifier"
    QUOTED = "quoted identifier"
    NUMBER = "number"
    STRING = "string"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    DOT = "'.'"
    STAR = "'*'"
    MINUS = "'-'"
    EOF = "end of query"


@dataclass(frozen=True)
class Token:
    """One token: kind, text (unquoted for strings and quoted names), position."""

    kind: Kind
    value: str
    line: int
    col: int

    def __repr__(self) -> str:
        return f"Token({self.kind.name}, {self.value!r}, {self.line}:{self.col})"

    def is_keyword(self, *words: str) -> bool:
        """True for an unquoted identifier spelling one of ``words`` (any case)."""
        return self.kind is Kind.IDENT and self.value.upper() in words

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind is Kind.EOF:
            return "end of query"
        if self.kind is Kind.STRING:
            return f"string '{self.value}'"
        return f"'{self.value}'"


_SINGLE = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA, ".": Kind.DOT, "*": Kind.STAR}
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; the last one is always ``EOF``.

    Raises:
        QueryError: on a character that starts no token or an unclosed quote.
    """
    tokens: list[Token] = []
    i, line, line_start, n = 0, 1, 0, len(text)
    while i < n:
        ch = text[i]
        col = i - line_start + 1
        if ch == "\n":
            i, line, line_start = i + 1, line + 1, i + 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(Token(Kind.IDENT, text[i:j], line, col))
            i = j
        elif ch.isascii() and ch.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j + 1 < n and text[j] == "." and text[j + 1].isascii() and text[j + 1].isdigit():
                j += 1
                while j < n and text[j].isascii() and text[j].isdigit():
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isascii() and text[k].isdigit():
                    j = k
                    while j < n and text[j].isascii() and text[j].isdigit():
                        j += 1
            tokens.append(Token(Kind.NUMBER, text[i:j], line, col))
            i = j
        elif ch in "'\"":
            # Quotes are doubled to escape them, as in SQL: 'it''s', "a ""b"" c".
            # A string may span lines; the token keeps the position of its opening quote.
            j, buf, tok_line = i + 1, [], line
            while True:
                if j >= n:
                    what = "string" if ch == "'" else "quoted name"
                    raise QueryError(
                        f"unclosed {what}: add the closing {ch}", line=tok_line, col=col,
                        query=text,
                    )  # fmt: skip
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        buf.append(ch)
                        j += 2
                        continue
                    break
                if text[j] == "\n":
                    line, line_start = line + 1, j + 1
                buf.append(text[j])
                j += 1
            kind = Kind.STRING if ch == "'" else Kind.QUOTED
            if kind is Kind.QUOTED and not buf:
                raise QueryError("empty quoted name", line=tok_line, col=col, query=text)
            tokens.append(Token(kind, "".join(buf), tok_line, col))
            i = j + 1
        elif ch in _SINGLE:
            tokens.append(Token(_SINGLE[ch], ch, line, col))
            i += 1
        elif ch == "-":
            tokens.append(Token(Kind.MINUS, ch, line, col))
            i += 1
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise QueryError(f"unexpected character {ch!r}", line=line, col=col, query=text)
            tokens.append(Token(Kind.OP, "!=" if op == "<>" else op, line, col))
            i += len(op)
    tokens.append(Token(Kind.EOF, "", line, i - line_start + 1))
    return tokens
