"""Predictive queries: PQL text → AST → validated :class:`Task` → label SQL → training tables.

One pass per module, in data-flow order: ``tokens`` → ``parser`` (→ ``ast``) →
``validate`` → ``task`` → ``sql`` → ``splits`` → ``table``. Torch-free.
"""

from __future__ import annotations

from relgraph.query.ast import Query
from relgraph.query.parser import parse
from relgraph.query.splits import Anchors, anchor_times
from relgraph.query.sql import label_sql
from relgraph.query.table import (
    TaskTables,
    TrainingTable,
    build_task_tables,
    make_labels,
    prediction_rows,
    split_stats,
)
from relgraph.query.task import Task, TaskType, compile_task
from relgraph.query.validate import validate

__all__ = [
    "Anchors",
    "Query",
    "Task",
    "TaskTables",
    "TaskType",
    "TrainingTable",
    "anchor_times",
    "build_task_tables",
    "compile_task",
    "label_sql",
    "make_labels",
    "parse",
    "prediction_rows",
    "split_stats",
    "validate",
]
