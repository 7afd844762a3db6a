"""Batch inference: predictions and embeddings to Parquet or a SQL table."""

from __future__ import annotations

from relgraph.predict.run import (
    EmbedResult,
    PredictResult,
    embed_entities,
    load_trainer,
    predict_model,
    prediction_table,
)
from relgraph.predict.sinks import DEFAULT_TABLE, write_parquet, write_sql

__all__ = [
    "DEFAULT_TABLE",
    "EmbedResult",
    "PredictResult",
    "embed_entities",
    "load_trainer",
    "predict_model",
    "prediction_table",
    "write_parquet",
    "write_sql",
]
