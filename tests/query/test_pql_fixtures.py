"""tests/fixtures/queries/*.pql: each query's labels equal its hand-written SQL on DuckDB."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from relgraph.query.table import make_labels
from relgraph.store.snapshot import Snapshot

FIXTURES = Path(__file__).parents[1] / "fixtures" / "queries"


def load() -> list[tuple[str, list[datetime], str, str]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.pql")):
        for block in path.read_text().split("\n====\n")[1:]:
            head, sql = block.split("\n----\n")
            lines = head.splitlines()
            name = lines[0].removeprefix("# name:").strip()
            anchors = [
                datetime.fromisoformat(s.strip()) for s in lines[1].split(":", 1)[1].split(",")
            ]
            cases.append((f"{path.stem}/{name}", anchors, "\n".join(lines[2:]), sql))
    return cases


CASES = load()


def test_fixtures_found() -> None:
    assert len(CASES) >= 4


@pytest.mark.parametrize(("name", "anchors", "pql", "sql"), CASES, ids=[c[0] for c in CASES])
def test_query_equals_hand_written_sql(
    shop: Snapshot, name: str, anchors: list[datetime], pql: str, sql: str
) -> None:
    con = shop.duckdb()
    con.execute("CREATE TEMP TABLE anchors AS SELECT unnest($a::TIMESTAMP[]) AS ts", {"a": anchors})
    ref = con.sql(f"SELECT * FROM ({sql}) ORDER BY ANCHOR_TIMESTAMP, ENTITY").to_arrow_table()
    ours = make_labels(shop, pql, anchors)
    assert ours.num_rows > 0
    assert ours.to_pylist() == ref.to_pylist(), name
