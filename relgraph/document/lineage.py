"""Column lineage: which column was derived from which, from three places.

1. A lineage file: CSV (``source_table,source_column,target_table,target_column``)
   or JSON — a list of such records, or OpenLineage run events whose outputs carry
   the ``columnLineage`` facet (``fields.<col>.inputFields[].{name,field}``).
2. SQL view definitions read from a SQLite or PostgreSQL source.
3. SQL transformation scripts (``CREATE TABLE/VIEW … AS SELECT``, ``INSERT INTO …
   SELECT``, or a bare ``SELECT`` named after its file, as dbt models are).

Every SQL text is parsed by sqlglot and traced by ``sqlglot.lineage``; relgraph
parses no SQL itself. A column sqlglot cannot trace (``SELECT *`` with no known
schema, a dialect quirk) is skipped and counted, never guessed.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relgraph.errors import SourceError
from relgraph.redact import redact

# Table names are compared case-folded and without their schema/catalog qualifier:
# a script's ``analytics.Orders`` is the snapshot's ``orders``.
LINEAGE_FIELDS = ("source_table", "source_column", "target_table", "target_column")


@dataclass(frozen=True)
class LineageEdge:
    """``source_table.source_column`` feeds ``target_table.target_column``."""

    source_table: str
    source_column: str
    target_table: str
    target_column: str
    origin: str = ""  # where the edge was read: a file, a view, a script

    def to_dict(self) -> dict[str, str]:
        return {
            "source_table": self.source_table,
            "source_column": self.source_column,
            "target_table": self.target_table,
            "target_column": self.target_column,
            "origin": self.origin,
        }


@dataclass
class LineageResult:
    edges: list[LineageEdge] = field(default_factory=list)
    # Column outputs sqlglot could not trace, with the reason (shown, never hidden).
    skipped: list[str] = field(default_factory=list)
    # Output tables the SQL defines, with their columns (a view, a model).
    outputs: dict[str, list[str]] = field(default_factory=dict)

    def extend(self, other: LineageResult) -> None:
        self.edges.extend(other.edges)
        self.skipped.extend(other.skipped)
        for k, v in other.outputs.items():
            self.outputs[k] = v


def _bare(name: str) -> str:
    """``db.schema.Table`` / ``"Table"`` → ``table``."""
    return name.strip().strip('"`[]').split(".")[-1].strip('"`[]').lower()


# -- 1. lineage files ---------------------------------------------------------------


def read_lineage_file(path: str | Path) -> LineageResult:
    """Edges from a CSV/JSON lineage file or an OpenLineage event file (JSON or JSON lines)."""
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"lineage file '{p}' does not exist")
    text = p.read_text(encoding="utf-8-sig")
    if p.suffix.lower() == ".csv":
        return _from_csv(text, str(p))
    try:
        if p.suffix.lower() in (".jsonl", ".ndjson"):
            docs: list[Any] = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            docs = loaded if isinstance(loaded, list) else [loaded]
    except json.JSONDecodeError as e:
        raise SourceError(f"lineage file '{p}' is not valid JSON: {e}") from e
    out = LineageResult()
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise SourceError(f"lineage file '{p}': item {i} is not an object")
        if "outputs" in d or "eventType" in d:
            out.extend(_from_openlineage(d, str(p)))
        else:
            out.edges.append(_record(d, f"{p}: item {i}", str(p)))
    return out


def _record(d: Mapping[str, Any], where: str, origin: str) -> LineageEdge:
    missing = [k for k in LINEAGE_FIELDS if not str(d.get(k) or "").strip()]
    if missing:
        raise SourceError(
            f"{where}: missing {', '.join(missing)} (need {', '.join(LINEAGE_FIELDS)})"
        )
    return LineageEdge(
        _bare(str(d["source_table"])),
        str(d["source_column"]).strip(),
        _bare(str(d["target_table"])),
        str(d["target_column"]).strip(),
        origin,
    )


def _from_csv(text: str, origin: str) -> LineageResult:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not set(LINEAGE_FIELDS) <= set(reader.fieldnames):
        raise SourceError(
            f"lineage CSV '{origin}' needs the header {','.join(LINEAGE_FIELDS)}; "
            f"it has {reader.fieldnames}"
        )
    return LineageResult(
        edges=[_record(r, f"{origin}: line {i + 2}", origin) for i, r in enumerate(reader)]
    )


def _from_openlineage(event: Mapping[str, Any], origin: str) -> LineageResult:
    """OpenLineage's ``columnLineage`` facet on each output dataset."""
    out = LineageResult()
    for ds in event.get("outputs") or []:
        target = _bare(str(ds.get("name", "")))
        facet = ((ds.get("facets") or {}).get("columnLineage") or {}).get("fields") or {}
        if not isinstance(facet, dict):
            raise SourceError(f"'{origin}': columnLineage.fields of '{target}' is not an object")
        out.outputs.setdefault(target, []).extend(facet)
        for col, spec in facet.items():
            for inp in (spec or {}).get("inputFields") or []:
                src_table, src_col = inp.get("name"), inp.get("field")
                if not src_table or not src_col:
                    out.skipped.append(f"{target}.{col}: input without name/field in {origin}")
                    continue
                out.edges.append(LineageEdge(_bare(src_table), src_col, target, col, origin))
    return out


# -- 2 and 3: SQL, traced by sqlglot --------------------------------------------------


def lineage_from_sql(
    sql: str,
    *,
    dialect: str | None = None,
    schema: Mapping[str, Iterable[str]] | None = None,
    default_target: str | None = None,
    origin: str = "sql",
) -> LineageResult:
    """Column edges of every statement in ``sql`` that makes a table from a query.

    ``schema`` (table → column names) lets sqlglot expand ``SELECT *`` and resolve
    unqualified columns; tables made by earlier statements are added to it, so a
    script's later steps see its earlier ones. ``default_target`` names the output
    of a bare ``SELECT`` (a dbt model is named after its file).
    """
    import sqlglot
    from sqlglot import expressions as exp
    from sqlglot.errors import SqlglotError

    known: dict[str, Any] = {
        _bare(t): {c: "text" for c in cols} for t, cols in (schema or {}).items()
    }
    out = LineageResult()
    try:
        statements = sqlglot.parse(sql, dialect=dialect)
    except SqlglotError as e:
        raise SourceError(f"cannot parse SQL of {origin}: {str(e).splitlines()[0]}") from e
    for stmt in statements:
        if stmt is None:
            continue
        target: str | None = None
        query: Any = None
        names: list[str] | None = None
        if isinstance(stmt, exp.Create) and isinstance(stmt.expression, exp.Query):
            target_expr = stmt.this
            if isinstance(target_expr, exp.Schema):  # CREATE VIEW v (a, b) AS …
                names = [c.name for c in target_expr.expressions]
                target_expr = target_expr.this
            target, query = _bare(target_expr.name), stmt.expression
        elif isinstance(stmt, exp.Insert) and isinstance(stmt.expression, exp.Query):
            into = stmt.this
            if isinstance(into, exp.Schema):
                names = [c.name for c in into.expressions]
                into = into.this
            target, query = _bare(into.name), stmt.expression
        elif isinstance(stmt, exp.Query) and default_target:
            target, query = _bare(default_target), stmt
        if target is None or query is None:
            continue
        # qualify expands ``SELECT *`` (through CTEs too) where the schema is known,
        # so a dbt model's final ``select * from renamed`` names its columns.
        try:
            from sqlglot.optimizer.qualify import qualify

            query = qualify(
                query.copy(),
                schema=known or None,
                dialect=dialect,
                validate_qualify_columns=False,
                identify=False,
            )
        except (SqlglotError, KeyError, ValueError, AttributeError) as e:
            out.skipped.append(f"{target}: not qualified ({str(e).splitlines()[0][:80]})")
        selects = list(query.named_selects)
        if names is None and isinstance(stmt, exp.Insert) and target in known:
            names = list(known[target])  # INSERT without a column list: table order
        res = _trace(query, selects, names, target, known, dialect, origin)
        out.extend(res)
        out.outputs[target] = names or selects
        known[target] = {c: "text" for c in (names or selects)}
    return out


def _trace(
    query: Any,
    selects: list[str],
    names: list[str] | None,
    target: str,
    known: dict[str, Any],
    dialect: str | None,
    origin: str,
) -> LineageResult:
    from sqlglot.errors import SqlglotError
    from sqlglot.expressions import Table
    from sqlglot.lineage import lineage

    out = LineageResult()
    if "*" in selects:
        out.skipped.append(f"{target}: SELECT * with tables of unknown columns ({origin})")
        selects = [s for s in selects if s != "*"]
    for i, col in enumerate(selects):
        out_col = names[i] if names is not None and i < len(names) else col
        try:
            node = lineage(col, query, schema=known, dialect=dialect)
        except (SqlglotError, KeyError, ValueError, AttributeError) as e:
            out.skipped.append(f"{target}.{out_col}: {str(e).splitlines()[0][:120]} ({origin})")
            continue
        seen: set[tuple[str, str]] = set()
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.source, Table):
                continue
            src_table = _bare(leaf.source.name)
            src_col = leaf.name.split(".")[-1]
            if (src_table, src_col) in seen or not src_table:
                continue
            seen.add((src_table, src_col))
            out.edges.append(LineageEdge(src_table, src_col, target, out_col, origin))
    return out


def read_sql_scripts(
    paths: Iterable[str | Path],
    *,
    dialect: str | None = None,
    schema: Mapping[str, Iterable[str]] | None = None,
) -> LineageResult:
    """Edges from SQL files, in the order given (later scripts see earlier outputs)."""
    known: dict[str, list[str]] = {k: list(v) for k, v in (schema or {}).items()}
    out = LineageResult()
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise SourceError(f"SQL script '{p}' does not exist")
        res = lineage_from_sql(
            p.read_text(encoding="utf-8-sig"),
            dialect=dialect,
            schema=known,
            default_target=p.stem,
            origin=str(p.name),
        )
        out.extend(res)
        known.update(res.outputs)
    return out


def view_definitions(uri: str) -> list[tuple[str, str, str]]:
    """``(view, sql, dialect)`` for every view of a SQLite file or a PostgreSQL schema."""
    if uri.startswith(("postgresql://", "postgres://")):
        return _pg_views(uri)
    path = Path(uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else uri)
    if not path.is_file():
        raise SourceError(f"SQLite database '{path}' does not exist")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='view' ORDER BY name"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise SourceError(f"cannot read views of SQLite database '{path}': {e}") from e
    return [(str(n), str(s), "sqlite") for n, s in rows if s]


def _pg_views(uri: str) -> list[tuple[str, str, str]]:
    import psycopg

    from relgraph.sources.postgres import split_url

    conninfo, schema = split_url(uri)
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as con:
            con.read_only = True
            # pg_get_viewdef gives the body PostgreSQL stored (a normalised SELECT).
            rows = con.execute(
                "SELECT c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('v', 'm') AND n.nspname = %s ORDER BY c.relname",
                (schema,),
            ).fetchall()
    except psycopg.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SourceError(f"cannot read views at '{redact(uri)}': {first}") from e
    return [(str(n), str(body), "postgres") for n, body in rows]


def read_views(uri: str, *, schema: Mapping[str, Iterable[str]] | None = None) -> LineageResult:
    """Column edges of every view of a SQLite/PostgreSQL source."""
    out = LineageResult()
    known: dict[str, list[str]] = {k: list(v) for k, v in (schema or {}).items()}
    for name, sql, dialect in view_definitions(uri):
        origin = f"view {name}"
        if dialect == "sqlite":  # the stored text is the whole CREATE VIEW statement
            res = lineage_from_sql(sql, dialect=dialect, schema=known, origin=origin)
        else:  # PostgreSQL stores only the SELECT
            res = lineage_from_sql(
                sql, dialect=dialect, schema=known, default_target=name, origin=origin
            )
        out.extend(res)
        known.update(res.outputs)
    return out
