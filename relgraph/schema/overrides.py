"""The user's schema file (YAML): write the inferred schema, edit, apply it back.

Format (every key optional; what is given replaces what was inferred, and a
table's ``foreign_keys`` merge with the inferred ones unless
``foreign_keys_mode: replace``)::

    entities: {users: ratings.userId}   # a table of the distinct ratings.userId
    tables:
      qualifying:
        primary_key: qualifyId          # or null for none
        time: {inherit: raceId, offset: -1 day}   # or a column name, or
                                        # {combine: [date, time]}, or
                                        # {epoch: created, unit: ms}, or null
        foreign_keys: {raceId: races, number: null}   # null: no link
        columns: {q1: text, number: categorical}  # semantic types
        drop: [url]                     # leave columns out of the snapshot
      red_flags: {include: false}       # leave a table out of the snapshot
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from relgraph.errors import SchemaError
from relgraph.schema.infer import find_links, make_table_schema
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

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_OFFSET_RE = re.compile(r"^\s*([+-]?\d+)\s*(second|minute|hour|day|week)s?\s*$")


def parse_offset(text: str | int, where: str) -> int:
    if isinstance(text, int):
        return text
    m = _OFFSET_RE.match(str(text))
    if not m:
        raise SchemaError(f"{where}: offset '{text}' is not like '-1 day' or '2 hours'")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _format_offset(seconds: int) -> str:
    for unit in ("week", "day", "hour", "minute"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]} {unit}"
    return f"{seconds} second"


def schema_to_yaml(schema: Schema) -> str:
    """The schema in the editable YAML form, with a header explaining it."""
    tables: dict[str, Any] = {}
    for t in schema.tables.values():
        entry: dict[str, Any] = {"primary_key": t.primary_key}
        spec = t.time_spec
        if spec is None:
            entry["time"] = t.time_column
        elif spec.kind == "combine":
            entry["time"] = {"combine": [spec.date_column, spec.clock_column]}
        elif spec.kind == "epoch":
            entry["time"] = {"epoch": spec.date_column, "unit": spec.unit or "s"}
        elif spec.kind == "inherit":
            entry["time"] = {"inherit": spec.via}
            if spec.offset_seconds:
                entry["time"]["offset"] = _format_offset(spec.offset_seconds)
        else:
            entry["time"] = spec.date_column
        entry["foreign_keys"] = {fk.column: fk.target for fk in t.foreign_keys}
        entry["columns"] = {c.name: c.stype.value for c in t.columns if c.name != "_rg_time"}
        tables[t.name] = entry
    header = (
        "# relgraph schema: edit and pass back with --schema FILE (or save it as\n"
        "# schema.yaml inside a source folder). Semantic types: "
        + ", ".join(s.value for s in SType)
        + ".\n# time: a column, {combine: [date, clock]}, "
        "{inherit: fk_column, offset: -1 day},\n"
        "# {epoch: column, unit: s|ms|us} (Unix times), or null.\n"
    )
    # The written file is the whole schema: its links replace the inferred ones.
    doc = {"foreign_keys_mode": "replace", "tables": tables}
    body: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return header + body


def load_overrides(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SchemaError(f"schema file '{path}' does not exist") from None
    except yaml.YAMLError as e:
        raise SchemaError(f"schema file '{path}' is not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("tables", {}), dict):
        raise SchemaError(f"schema file '{path}' must have a 'tables:' mapping at the top")
    unknown = set(data) - {"tables", "entities", "foreign_keys_mode"}
    if unknown:
        raise SchemaError(
            f"schema file '{path}' has unknown top-level keys: {', '.join(sorted(unknown))} "
            "(known: tables, entities, foreign_keys_mode)"
        )
    if not isinstance(data.get("entities", {}) or {}, dict):
        raise SchemaError(f"schema file '{path}': entities must map name -> table.column")
    return data


def apply_overrides(
    schema: Schema,
    overrides: dict[str, Any],
    *,
    origin: str = "schema file",
    data: dict[str, pa.Table] | None = None,
) -> Schema:
    """A new schema with the user's choices applied; unknown names are errors.

    ``foreign_keys:`` of a table merge with the inferred links (``column: null``
    removes one) unless the file says ``foreign_keys_mode: replace`` (what
    ``schema --write`` writes: that file is the whole schema). Inferred links
    into a table that lost its key or was left out are dropped. With ``data``
    (the source's tables), a primary key set by the file is searched for links
    from the other tables, as inference would have done.
    """
    mode = overrides.get("foreign_keys_mode", "merge")
    if mode not in ("merge", "replace"):
        raise SchemaError(f"{origin}: foreign_keys_mode must be merge or replace, not '{mode}'")
    tables = dict(schema.tables)
    explicit: set[tuple[str, str]] = set()
    removed: set[tuple[str, str]] = set()
    new_keys: list[str] = []
    for name, entry in (overrides.get("tables") or {}).items():
        where = f"{origin}: table '{name}'"
        if name not in tables:
            raise SchemaError(f"{where} is not in the source; tables: {', '.join(tables)}")
        entry = entry or {}
        if not isinstance(entry, dict):
            raise SchemaError(f"{where} must be a mapping")
        unknown = set(entry) - {
            "primary_key", "time", "foreign_keys", "columns", "include", "drop",
        }  # fmt: skip
        if unknown:
            raise SchemaError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        if entry.get("include") is False:
            del tables[name]
            continue
        before = tables[name].primary_key
        tables[name] = _apply_table(
            tables[name], entry, where, set(schema.tables), replace=mode == "replace"
        )
        raw = entry.get("foreign_keys") or {}
        explicit |= {(name, str(c)) for c, tg in raw.items() if tg is not None}
        removed |= {(name, str(c)) for c, tg in raw.items() if tg is None}
        pk = tables[name].primary_key
        if pk is not None and pk != before:
            new_keys.append(name)
    for t in list(tables.values()):
        keep: list[ForeignKey] = []
        for fk in t.foreign_keys:
            target = tables.get(fk.target)
            if (t.name, fk.column) in explicit:
                if target is None:
                    raise SchemaError(
                        f"{origin}: '{t.name}.{fk.column}' links to '{fk.target}', "
                        "which is excluded or unknown"
                    )
                keep.append(fk)  # a keyless target is reported by validation
            elif target is not None and target.primary_key is not None:
                keep.append(fk)
        if len(keep) != len(t.foreign_keys):
            tables[t.name] = _with_links(t, tuple(keep), "the target lost its key or was left out")
    if data is not None:
        tables = _links_to_new_keys(tables, new_keys, data, explicit | removed)
    return Schema(tables=tables)


def _with_links(t: TableSchema, fks: tuple[ForeignKey, ...], why: str) -> TableSchema:
    """``t`` with these links (new key columns typed ``id``, former ones categorical)."""
    old = {fk.column for fk in t.foreign_keys} - {fk.column for fk in fks}
    new = {fk.column for fk in fks}
    cols = [
        Column(c.name, c.dtype, SType.id)
        if c.name in new
        else Column(c.name, c.dtype, SType.categorical)
        if c.name in old and c.name != t.primary_key
        else c
        for c in t.columns
        if c.name != DERIVED_TIME_COLUMN
    ]
    gone = {f"link:{c}" for c in old}
    notes = tuple(e for e in t.explanations if e.subject not in gone) + tuple(
        Explanation(f"link:{c}", "schema file", 1.0, f"removed: {why}") for c in sorted(old)
    )
    spec = t.time_spec
    if spec is None and t.time_column is not None:
        spec = TimeSpec(kind="column", date_column=t.time_column)
    if spec is not None and spec.kind == "inherit" and spec.via in old:
        spec = None  # inherited through a link that is gone
    return make_table_schema(
        t.name, cols, t.primary_key, fks, spec, unique_key=t.unique_key, explanations=notes
    )


def _links_to_new_keys(
    tables: dict[str, TableSchema],
    new_keys: list[str],
    data: dict[str, pa.Table],
    fixed: set[tuple[str, str]],
) -> dict[str, TableSchema]:
    """Run link inference again towards tables whose primary key the file set."""
    pkeys = {n: t.primary_key for n, t in tables.items()}
    present = {n: data[n] for n in tables if n in data}
    for target in new_keys:
        if target not in present:
            continue
        for name, t in list(tables.items()):
            if name not in present:
                continue
            linked = {fk.column for fk in t.foreign_keys}
            found = [
                (fk, e)
                for fk, e in find_links(name, present[name], pkeys, present, only_target=target)
                if fk.column not in linked and (name, fk.column) not in fixed
            ]
            if found:
                t2 = _with_links(t, t.foreign_keys + tuple(fk for fk, _ in found), "")
                tables[name] = t2.replace(explanations=t2.explanations + tuple(e for _, e in found))
    return tables


def _apply_table(
    t: TableSchema, entry: dict[str, Any], where: str, names: set[str], *, replace: bool = False
) -> TableSchema:
    t = _drop_columns(t, entry.get("drop"), where)
    cols = {c.name: c for c in t.columns}

    def need(col: str, what: str) -> str:
        if col not in cols:
            raise SchemaError(
                f"{where}: {what} '{col}' is not a column; columns: {', '.join(cols)}"
            )
        return col

    pk = t.primary_key
    if "primary_key" in entry:
        pk = (
            None if entry["primary_key"] is None else need(str(entry["primary_key"]), "primary key")
        )
    fks = t.foreign_keys
    if "foreign_keys" in entry:
        raw = entry["foreign_keys"] or {}
        if not isinstance(raw, dict):
            raise SchemaError(f"{where}: foreign_keys must map column -> table")
        for col, target in raw.items():
            need(str(col), "foreign key column")
            if target is not None and target not in names:
                raise SchemaError(
                    f"{where}: foreign key '{col}' points at unknown table '{target}'"
                )
        given = tuple(ForeignKey(str(c), str(tg)) for c, tg in raw.items() if tg is not None)
        if replace:
            fks = given
        else:
            named = {str(c) for c in raw}
            fks = tuple(fk for fk in t.foreign_keys if fk.column not in named) + given
    spec: TimeSpec | None
    if "time" in entry:
        spec = _time_spec(entry["time"], where, need)
    elif t.time_spec is not None:
        spec = t.time_spec
    elif t.time_column is not None:
        spec = TimeSpec(kind="column", date_column=t.time_column)
    else:
        spec = None
    key_cols = ({pk} if pk else set()) | {fk.column for fk in fks}
    new_cols = []
    stypes = entry.get("columns") or {}
    for name in stypes:
        need(str(name), "column")
    for c in t.columns:
        if c.name in stypes:
            try:
                st = SType(stypes[c.name])
            except ValueError:
                raise SchemaError(
                    f"{where}: column '{c.name}' has unknown type '{stypes[c.name]}'; "
                    f"use one of {', '.join(s.value for s in SType)}"
                ) from None
        elif c.name in key_cols:
            st = SType.id
        elif c.stype is SType.id:
            st = SType.categorical  # no longer a key: read it as a label
        else:
            st = c.stype
        new_cols.append(Column(c.name, c.dtype, st))
    # The stored derived-time column is re-made (or dropped with ``time: null``)
    # by make_table_schema; keeping the old one made train look for a column
    # that ingest never wrote.
    new_cols = [c for c in new_cols if c.name != DERIVED_TIME_COLUMN]
    changed = {"primary_key", "time", "foreign_keys"} & set(entry)
    kept = tuple(
        e
        for e in t.explanations
        if not (
            ("primary_key" in changed and e.subject in ("primary_key", "unique_key"))
            or ("time" in changed and (e.subject == "time" or e.subject.startswith("not_time:")))
            or ("foreign_keys" in changed and e.subject.startswith("link:"))
        )
    )
    mine = tuple(Explanation(k, "schema file", 1.0, f"set in {where}") for k in sorted(changed))
    return make_table_schema(
        t.name,
        new_cols,
        pk,
        fks,
        spec,
        unique_key=() if pk is not None else t.unique_key,
        explanations=kept + mine,
    )


def _drop_columns(t: TableSchema, drop: Any, where: str) -> TableSchema:
    """``t`` without the columns in ``drop`` (a column that can leak the future, say)."""
    if not drop:
        return t
    if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
        raise SchemaError(f"{where}: drop must be a list of column names")
    names = {c.name for c in t.columns}
    for c in drop:
        if c not in names:
            raise SchemaError(
                f"{where}: cannot drop '{c}': not a column; columns: {', '.join(names)}"
            )
    keys = ({t.primary_key} if t.primary_key else set()) | {fk.column for fk in t.foreign_keys}
    if t.time_spec is not None:
        keys |= {
            c for c in (t.time_spec.date_column, t.time_spec.clock_column, t.time_spec.via) if c
        }
    elif t.time_column:
        keys.add(t.time_column)
    if bad := sorted(keys & set(drop)):
        raise SchemaError(
            f"{where}: cannot drop key or time column(s) {', '.join(bad)}; "
            "change primary_key/foreign_keys/time first"
        )
    # The derived-time column is re-made by make_table_schema, as in _apply_table.
    kept = [c for c in t.columns if c.name not in set(drop) and c.name != DERIVED_TIME_COLUMN]
    spec = t.time_spec
    if spec is None and t.time_column is not None:
        spec = TimeSpec(kind="column", date_column=t.time_column)
    return make_table_schema(
        t.name,
        kept,
        t.primary_key,
        t.foreign_keys,
        spec,
        unique_key=t.unique_key,
        explanations=t.explanations,
    )


def _time_spec(value: Any, where: str, need: Any) -> TimeSpec | None:
    if value is None:
        return None
    if isinstance(value, str):
        return TimeSpec(kind="column", date_column=need(value, "time column"))
    if isinstance(value, dict) and "combine" in value:
        pair = value["combine"]
        if not (isinstance(pair, list) and len(pair) == 2):
            raise SchemaError(f"{where}: time.combine must be [date_column, clock_column]")
        return TimeSpec(
            kind="combine",
            date_column=need(pair[0], "date column"),
            clock_column=need(pair[1], "clock column"),
            offset_seconds=parse_offset(value.get("offset", 0), where),
        )
    if isinstance(value, dict) and "epoch" in value:
        unit = str(value.get("unit", "s"))
        if unit not in ("s", "ms", "us"):
            raise SchemaError(f"{where}: time.unit '{unit}' must be s, ms or us")
        return TimeSpec(
            kind="epoch", date_column=need(str(value["epoch"]), "time column"), unit=unit
        )
    if isinstance(value, dict) and "inherit" in value:
        return TimeSpec(
            kind="inherit",
            via=need(str(value["inherit"]), "inherit column"),
            offset_seconds=parse_offset(value.get("offset", 0), where),
        )
    raise SchemaError(
        f"{where}: time must be a column name, {{combine: [date, clock]}}, "
        "{epoch: column, unit: s|ms|us} or {inherit: fk_column}"
    )
