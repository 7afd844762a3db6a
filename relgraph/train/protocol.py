"""Evaluation protocols: what a model may see when it predicts a validation or test row.

- ``rolling``: inputs up to each row's anchor (what production sees when it predicts
  every day). Rows are scored as they are.
- ``frozen``: RelBench's rule. ``dataset.get_db()`` cuts every table at the test
  cut-off and that one database serves all splits, so a test row anchored at
  *T+kΔ* still sees nothing after *T*, while its seed time (the reference of
  relative-time encodings, "days since") stays *T+kΔ*. Here each row gets an
  ``INPUT_TIMESTAMP`` = min(anchor, *T*): the temporal sampler, the as-of features and
  the past-label baselines see only rows up to it, while ``ANCHOR_TIMESTAMP`` stays
  the reference time; labels are unchanged. Validation anchors end by *T* and are unchanged by
  RelBench's rule; for model *selection* under ``frozen`` the validation rows are
  clipped to the validation cut-off instead, so that the chosen model is the one
  that copes best with the gap the test rows will face (``val_view``).

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime, timedelta

import numpy as np
    >>> t = pa.table({"ENTITY": [1, 1], "ANCHOR_TIMESTAMP": pa.array(
    ...     [datetime(2010, 1, 1), datetime(2010, 3, 1)], pa.timestamp("us"))})
    >>> as_of(t, "frozen", datetime(2010, 1, 1)).column("INPUT_TIMESTAMP").to_pylist()
    [datetime.datetime(2010, 1, 1, 0, 0), datetime.datetime(2010, 1, 1, 0, 0)]
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import TrainingError

PROTOCOLS = ("frozen", "rolling")
DEFAULT_PROTOCOL = "rolling"


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise TrainingError(f"unknown protocol '{name}'; use one of: {', '.join(PROTOCOLS)}")
    return name


INPUT_TIMESTAMP = "INPUT_TIMESTAMP"


def as_of(table: pa.Table, protocol: str, cutoff: datetime) -> pa.Table:
    """``table`` with the ``INPUT_TIMESTAMP`` the protocol allows for each row's inputs.

    ``rolling`` returns the table unchanged (inputs up to the anchor); ``frozen`` adds
    ``INPUT_TIMESTAMP`` = min(``ANCHOR_TIMESTAMP``, ``cutoff``). Anchors and targets stay.
    """
    check_protocol(protocol)
    if protocol == "rolling":
        return table
    col = table.column("ANCHOR_TIMESTAMP").cast(pa.timestamp("us"))
    clipped = pc.min_element_wise(col, pa.scalar(cutoff, pa.timestamp("us")))
    if INPUT_TIMESTAMP in table.column_names:
        prev = table.column(INPUT_TIMESTAMP).cast(pa.timestamp("us"))
        clipped = pc.min_element_wise(prev, clipped)
        return table.set_column(
            table.schema.get_field_index(INPUT_TIMESTAMP), INPUT_TIMESTAMP, clipped
        )
    return table.append_column(INPUT_TIMESTAMP, clipped)


def input_times(table: pa.Table) -> pa.ChunkedArray:
    """The time each row's inputs may see up to: ``INPUT_TIMESTAMP``, else the anchor."""
    name = INPUT_TIMESTAMP if INPUT_TIMESTAMP in table.column_names else "ANCHOR_TIMESTAMP"
    return table.column(name).cast(pa.timestamp("us"))


def val_view(table: pa.Table, protocol: str, val_cutoff: datetime) -> pa.Table:
    """Validation rows for model selection: ``frozen`` sees up to the val cut-off only."""
    return as_of(table, protocol, val_cutoff)


def with_gaps(table: pa.Table, max_gap: timedelta, *, seed: int = 0) -> pa.Table:
    """``table`` plus a copy whose inputs stop a random gap (0 to ``max_gap``) before the anchor.

    Under ``frozen`` a test row anchored *k* windows after the cut-off sees nothing
    after the cut-off; a model trained only on rows that see up to their anchor has
    never met that gap. The copy teaches it (its labels are the originals').
    """
    if table.num_rows == 0 or max_gap <= timedelta(0):
        return table
    rng = np.random.default_rng(seed)
    anchors = table.column("ANCHOR_TIMESTAMP").cast(pa.timestamp("us"))
    us = pc.cast(anchors, pa.int64()).to_numpy(zero_copy_only=False)
    gap = rng.uniform(0, max_gap.total_seconds(), table.num_rows) * 1_000_000
    inputs = pa.array((us - gap.astype(np.int64)), pa.int64()).cast(pa.timestamp("us"))
    base = table.drop([INPUT_TIMESTAMP]) if INPUT_TIMESTAMP in table.column_names else table
    plain = base.append_column(INPUT_TIMESTAMP, anchors)
    gapped = base.append_column(INPUT_TIMESTAMP, inputs)
    return pa.concat_tables([plain, gapped])
