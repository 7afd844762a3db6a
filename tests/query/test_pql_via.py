"""``VIA``: pick the path when a table reaches the entity along several foreign keys.

On the corpus's git history (tests/corpus/gitlog): a commit points at its author and
its committer, both users. Labels are cross-checked with a hand-written DuckDB query.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from relgraph import api
from relgraph.errors import QueryError
from relgraph.query.parser import parse
from relgraph.query.table import make_labels
from relgraph.store.snapshot import Snapshot
from relgraph.testing.corpus_sources import CORPUS

ANCHOR = datetime(2011, 1, 1)


@pytest.fixture(scope="module")
def gitlog(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    ws = tmp_path_factory.mktemp("gitlog") / "ws"
    return api.ingest(str(CORPUS / "gitlog"), workspace=ws).snapshot


def test_ambiguous_path_error_shows_the_paths_and_the_syntax(gitlog: Snapshot) -> None:
    with pytest.raises(QueryError, match=r"commits.author_id; commits.committer_id.*VIA"):
        api.compile_query("PREDICT COUNT(commits.*, 0, 90) FOR EACH users.user_id", snapshot=gitlog)


def test_via_a_column_on_no_path_is_refused(gitlog: Snapshot) -> None:
    with pytest.raises(QueryError, match=r"VIA commits\.first_parent is on no path"):
        api.compile_query(
            "PREDICT COUNT(commits.* VIA commits.first_parent, 0, 90) FOR EACH users.user_id",
            snapshot=gitlog,
        )


@pytest.mark.parametrize("role", ["author_id", "committer_id"])
def test_via_counts_along_the_named_link(gitlog: Snapshot, role: str) -> None:
    text = f"PREDICT COUNT(commits.* VIA commits.{role}, 0, 365) FOR EACH users.user_id"
    labels = make_labels(gitlog, text, [ANCHOR])
    got = dict(zip(labels["ENTITY"].to_pylist(), labels["TARGET"].to_pylist(), strict=True))
    commits = Path(CORPUS / "gitlog" / "commits.parquet")
    want = dict(
        duckdb.sql(
            f"SELECT {role}, count(*) FROM '{commits}' WHERE author_time > epoch(TIMESTAMP "
            f"'{ANCHOR}') AND author_time <= epoch(TIMESTAMP '{ANCHOR}' + INTERVAL 365 DAY) "
            "GROUP BY 1"
        ).fetchall()
    )
    assert want and {k: v for k, v in got.items() if v} == {k: float(v) for k, v in want.items()}


def test_via_round_trips_through_pql_text() -> None:
    text = "PREDICT COUNT(commits.* VIA commits.author_id, 0, 90, days) > 0 FOR EACH users.user_id"
    q = parse(text)
    assert "VIA commits.author_id" in q.to_pql()
    assert parse(q.to_pql()) == q


def test_a_list_of_the_entitys_own_key_is_refused(gitlog: Snapshot) -> None:
    text = (
        "PREDICT LIST_DISTINCT(commits.author_id VIA commits.author_id, 0, 90) RANK TOP 3 "
        "FOR EACH users.user_id"
    )
    with pytest.raises(QueryError, match="every entity's list is its own id"):
        api.compile_query(text, snapshot=gitlog)


def test_one_class_evaluation_splits_are_warned_about(gitlog: Snapshot) -> None:
    import pyarrow as pa

    from relgraph.train.run import eval_warnings

    task = api.compile_query(
        "PREDICT COUNT(commits.* VIA commits.author_id, 0, 90) > 0 FOR EACH users.user_id",
        snapshot=gitlog,
    )
    one = pa.table({"TARGET": pa.array([0.0, 0.0, 0.0])})
    both = pa.table({"TARGET": pa.array([0.0, 1.0])})
    warns = eval_warnings(task, {"validation": one, "test": both})
    assert len(warns) == 1 and "every validation label" in warns[0] and "null" in warns[0]
