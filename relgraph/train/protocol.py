"""Evaluation protocols: what a model may see when it predicts a validation or test row.

- ``rolling``: inputs up to each row's anchor (what production sees when it predicts
  every day). Rows are scored as they are.
- ``frozen``: RelBench's rule. ``dataset.get_db()`` cuts every table at the test
  cut-off and that one database serves all splits, so a test row anchored at
  *T+kΔ* still sees nothing after *T*. Here the rows' input time is clipped to the
  cut-off (the temporal sampler and the as-of features then see exactly the rows
  ≤ *T*); labels are unchanged. Validation anchors end by *T* and are unchanged by
  RelBench's rule; for model *selection* under ``frozen`` the validation rows are
  clipped to the validation cut-off instead, so that the chosen model is the one
  that copes best with the gap the test rows will face (``val_view``).

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime
    >>> t = pa.table({"ENTITY": [1, 1], "ANCHOR_TIMESTAMP": pa.array(
    ...     [datetime(2010, 1, 1), datetime(2010, 3, 1)], pa.timestamp("us"))})
    >>> as_of(t, "frozen", datetime(2010, 1, 1)).column("ANCHOR_TIMESTAMP").to_pylist()
    [datetime.datetime(2010, 1, 1, 0, 0), datetime.datetime(2010, 1, 1, 0, 0)]
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import TrainingError

PROTOCOLS = ("frozen", "rolling")
DEFAULT_PROTOCOL = "rolling"


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise TrainingError(f"unknown protocol '{name}'; use one of: {', '.join(PROTOCOLS)}")
    return name


def as_of(table: pa.Table, protocol: str, cutoff: datetime) -> pa.Table:
    """``table`` with each ``ANCHOR_TIMESTAMP`` as the protocol lets inputs see it.

    ``rolling`` returns the table unchanged; ``frozen`` clips anchor times to
    ``cutoff`` (the ``TARGET`` column, if any, is kept: only the inputs move).
    """
    check_protocol(protocol)
    if protocol == "rolling" or table.num_rows == 0:
        return table
    i = table.schema.get_field_index("ANCHOR_TIMESTAMP")
    col = table.column(i).cast(pa.timestamp("us"))
    clipped = pc.min_element_wise(col, pa.scalar(cutoff, pa.timestamp("us")))
    return table.set_column(i, "ANCHOR_TIMESTAMP", clipped)


def val_view(table: pa.Table, protocol: str, val_cutoff: datetime) -> pa.Table:
    """Validation rows for model selection: ``frozen`` sees up to the val cut-off only."""
    return as_of(table, protocol, val_cutoff)
