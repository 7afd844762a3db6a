"""Every corpus database trains its sensible query with no schema file (slow).

``relgraph ingest`` with no schema.yaml, then the query in the folder's
truth.yaml trains with ``--budget fast``; the splits must hold rows and more
than one target value (a constant target would make any metric meaningless).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from relgraph import api
from relgraph.testing.corpus import load_truth
from relgraph.testing.corpus_sources import CORPUS, corpus_dbs, source_uri


@pytest.mark.slow
@pytest.mark.parametrize("db", corpus_dbs())
def test_corpus_query_trains_without_a_schema_file(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if db == "employees" else None
    ws = tmp_path / "ws"
    snap = api.ingest(source_uri(CORPUS, db, url), workspace=ws).snapshot
    query = load_truth(CORPUS / db)["query"]
    tables = api.training_tables(query, workspace=ws, snapshot=snap)
    for split in (tables.train, tables.val, tables.test):
        assert len(split) > 0, (db, tables)
    target = tables.train.table.column("TARGET")
    if pa.types.is_list(target.type):  # a link task: the items, not the lists
        target = pc.list_flatten(target)
    assert pc.count_distinct(target).as_py() > 1, (db, "constant training target")
    result = api.train(query, workspace=ws, snapshot=snap.id, budget="fast", minutes=0.5)
    assert result.gnn is not None
    # Link tasks have no LightGBM ranker (yet); popularity and repeat-past stand beside it.
    if result.task.get("task_type") == "link":
        names = {c.name for c in result.candidates}
        assert {"trivial:popularity", "trivial:repeat_past"} <= names, names
    else:
        assert result.baseline is not None
    assert all(result.rows.get(s, 0) > 0 for s in ("train", "val", "test")), result.rows
