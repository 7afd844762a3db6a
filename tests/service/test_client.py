"""The SDK against a live server: same objects as the local api."""

from __future__ import annotations

from pathlib import Path

import pytest

import relgraph
from relgraph import api
from relgraph.client import RemoteSnapshot, ServiceError
from relgraph.errors import JobError, QueryError, StoreError
from tests.service.conftest import LiveServer


def test_client_mirrors_the_local_api(
    live_server: LiveServer, tokens: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    with relgraph.Client(live_server.url, tokens["editor"]) as rg:
        local = api.snapshot(workspace=workspace)
        remote = rg.snapshot()
        assert isinstance(remote, RemoteSnapshot)
        assert remote.id == local.id
        assert remote.schema == local.schema
        assert remote.manifest.row_counts == local.manifest.row_counts
        drivers = rg.snapshot(local.id[:8]).read_table("drivers", limit=1500)
        want = local.read_table("drivers")
        assert drivers.num_rows == want.num_rows == 864  # paged over several requests
        assert drivers.column("surname").to_pylist() == want.column("surname").to_pylist()
        assert [s.id for s in rg.snapshots()] == [s.id for s in api.snapshots(workspace)]

        src = tmp_path / "tiny"
        src.mkdir()
        (src / "items.csv").write_text("item_id,price\n1,2.5\n2,3.0\n")
        result = rg.ingest(str(src))
        assert result.created and result.snapshot.manifest.row_counts == {"items": 2}
        assert any("succeeded" in line for line in result.job.logs())

        with pytest.raises(JobError, match="failed"):
            rg.ingest(str(tmp_path / "missing"))
        with pytest.raises(StoreError):
            rg.snapshot("ffffffff")
        if hasattr(api, "compile_query"):
            task = rg.compile_query(
                "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId",
                snapshot=local.id,
            )
            assert task == {**task, "task_type": "binary", "entity_table": "drivers"}
            with pytest.raises(QueryError) as e:
                rg.compile_query(
                    "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.nope",
                    snapshot=local.id,
                )
            assert (e.value.line, e.value.col) == (1, 52)


def test_client_refused_without_a_valid_token(
    live_server: LiveServer, tokens: dict[str, str]
) -> None:
    with pytest.raises(ServiceError) as e:
        relgraph.Client(live_server.url, "rg_bad_token").snapshot()
    assert e.value.status == 401
    with pytest.raises(ServiceError) as e:
        relgraph.Client(live_server.url, tokens["viewer"]).ingest("examples/f1")
    assert e.value.status == 403


def test_train_with_a_bad_query_raises_query_error_at_submit(
    live_server: LiveServer, tokens: dict[str, str]
) -> None:
    """Refused on submit with the position (REST 422, the SDK's QueryError): no job made."""
    if not hasattr(api, "compile_query"):
        pytest.skip("this build has no query compiler")
    with relgraph.Client(live_server.url, tokens["editor"]) as rg:
        before = len(rg.jobs(limit=1000))
        with pytest.raises(QueryError) as e:
            rg.train("PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.nope")
        assert (e.value.line, e.value.col) == (1, 52)
        assert len(rg.jobs(limit=1000)) == before
