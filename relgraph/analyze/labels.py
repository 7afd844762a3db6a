"""Labels/targets from any source, joined to an entity table by key.

Rows whose key is not in the entity table are reported (count and a file of
them), never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from relgraph.errors import DataValidationError
from relgraph.store.snapshot import Snapshot


@dataclass(frozen=True)
class LabelsResult:
    rows: int  # label rows whose key is known
    unknown: int  # label rows whose key is not in the entity table
    path: Path


def join_labels(
    labels: dict[str, pa.Table],
    snap: Snapshot,
    *,
    table: str,
    key: str | None = None,
    label_table: str | None = None,
    to: Path,
    unknown_to: Path | None = None,
) -> LabelsResult:
    if table not in snap.schema.tables:
        raise DataValidationError(
            f"entity table '{table}' is not in snapshot {snap.id} "
            f"(tables: {sorted(snap.schema.tables)})",
            table=table,
        )
    pk = snap.schema[table].primary_key
    if pk is None:
        raise DataValidationError(
            f"table '{table}' has no primary key to join labels on", table=table
        )
    if label_table is None:
        if len(labels) != 1:
            raise DataValidationError(
                f"the label source has tables {sorted(labels)}; say which with 'label_table:'"
            )
        label_table = next(iter(labels))
    if label_table not in labels:
        raise DataValidationError(
            f"the label source has no table '{label_table}' (has {sorted(labels)})"
        )
    lab = labels[label_table]
    key = key or pk
    if key not in lab.column_names:
        raise DataValidationError(
            f"label table '{label_table}' has no key column '{key}' (columns: {lab.column_names}); "
            "set 'key:' to the column holding the entity keys",
            table=label_table,
            column=key,
        )
    entity_keys = snap.read_table(table).column(pk)
    lab_keys = lab.column(key)
    if lab_keys.type != entity_keys.type:
        try:
            lab_keys = lab_keys.cast(entity_keys.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise DataValidationError(
                f"label keys '{key}' ({lab.column(key).type}) cannot be compared with "
                f"{table}.{pk} ({entity_keys.type}): {e}",
                table=label_table,
                column=key,
            ) from e
    known = pc.fill_null(pc.is_in(lab_keys, value_set=entity_keys.combine_chunks()), False)
    good = lab.filter(known)
    bad = lab.filter(pc.invert(known))
    to.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        good.rename_columns(["ENTITY" if c == key else c for c in good.column_names]), to
    )
    if unknown_to is not None:
        pq.write_table(bad, unknown_to)
    return LabelsResult(rows=good.num_rows, unknown=bad.num_rows, path=to)
