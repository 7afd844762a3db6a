"""The glossary (term, definition, optional parent) and the mapping of columns to terms."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from relgraph.errors import DataValidationError


@dataclass(frozen=True)
class Term:
    name: str
    definition: str = ""
    parent: str | None = None


def _rows(path: Path, need: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataValidationError(f"file '{path}' does not exist")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        have = reader.fieldnames or []
        missing = [c for c in need if c not in have]
        if missing:
            raise DataValidationError(
                f"'{path}' needs the columns {', '.join(need)}; it lacks {', '.join(missing)}"
            )
        return [dict(r) for r in reader]


def read_glossary(path: str | Path) -> dict[str, Term]:
    """``term,definition[,parent]`` CSV; a parent must itself be a term."""
    rows = _rows(Path(path), ("term", "definition"))
    terms: dict[str, Term] = {}
    for i, r in enumerate(rows):
        name = (r.get("term") or "").strip()
        if not name:
            raise DataValidationError(f"'{path}' line {i + 2}: empty term")
        if name in terms:
            raise DataValidationError(f"'{path}' line {i + 2}: term '{name}' is defined twice")
        terms[name] = Term(
            name, (r.get("definition") or "").strip(), (r.get("parent") or "").strip() or None
        )
    for t in terms.values():
        if t.parent is not None and t.parent not in terms:
            raise DataValidationError(f"'{path}': term '{t.name}' has unknown parent '{t.parent}'")
    return terms


def read_mapping(path: str | Path, glossary: dict[str, Term] | None = None) -> dict[str, str]:
    """``column,term`` CSV, the column as ``database.table.column`` → {column key: term}."""
    rows = _rows(Path(path), ("column", "term"))
    out: dict[str, str] = {}
    for i, r in enumerate(rows):
        col, term = (r.get("column") or "").strip(), (r.get("term") or "").strip()
        if not col or not term:
            raise DataValidationError(f"'{path}' line {i + 2}: empty column or term")
        if glossary is not None and term not in glossary:
            raise DataValidationError(
                f"'{path}' line {i + 2}: term '{term}' is not in the glossary"
            )
        out[col] = term
    return out


def write_mapping(path: str | Path, mapping: dict[str, str]) -> None:
    from relgraph.store.atomic import write_text

    lines = ["column,term"] + [f"{_csv(k)},{_csv(v)}" for k, v in sorted(mapping.items())]
    write_text(Path(path), "\n".join(lines) + "\n")


def _csv(s: str) -> str:
    return f'"{s.replace(chr(34), chr(34) * 2)}"' if any(c in s for c in ',"\n') else s
