"""``relgraph explain``, ``GET/POST /api/v1/models/{id}/explain`` and ``Client.explain``
on a stored model trained on planted data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import relgraph
from relgraph import api
from relgraph.cli import app as cli
from relgraph.explain.lgbm import feature_source
from relgraph.explain.report import cohorts
from relgraph.service import TokenStore, create_app
from relgraph.testing import planted_snapshot
from tests.service.conftest import LiveServer, auth

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


def test_feature_sources_name_the_table_a_feature_reads() -> None:
    tables = ["orders", "order_items", "users"]
    assert feature_source("own__age", "users", tables) == ("users", "age")
    assert feature_source("order_items.order_id.30d.count", "users", tables) == (
        "order_items", "order_id.30d.count",
    )  # fmt: skip
    assert feature_source("past_label.mean", "users", tables)[0] == "past labels"


def test_cohorts_compare_entities_with_a_value_against_the_rest() -> None:
    pred = [0.9, 0.8, 0.85, 0.1, 0.2, 0.15]
    got = cohorts({"tier": ["gold"] * 3 + ["basic"] * 3, "age": [50, 60, 70, 20, 30, None]}, pred)
    by = {c.feature: c for c in got}
    assert by["tier"].with_rows == 3 and by["tier"].without_rows == 3
    assert abs(abs(by["tier"].difference) - 0.7) < 1e-9
    # Numbers: at or above the median against the rest (missing counts as the rest).
    assert by["age"].cohort == "age ≥ 50" and by["age"].with_rows == 3
    assert by["age"].difference == pytest.approx(0.85 - 0.15)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("explain-ws")
    planted_snapshot(ws, num_users=60, seed=2)
    result = api.train(QUERY, workspace=ws, budget="fast", gnn=False)
    return ws, result.model_id


@pytest.mark.slow
def test_cli_explains_globally_and_one_entity(trained: tuple[Path, str]) -> None:
    ws, model_id = trained
    run = CliRunner().invoke(cli, ["explain", model_id, "-w", str(ws), "--json", "--top", "5"])
    assert run.exit_code == 0, run.output
    e = json.loads(run.output)
    assert e["model_kind"] == "lightgbm" and e["method"].startswith("TreeSHAP")
    assert 0 < len(e["columns"]) <= 5 and e["entity"] is None
    assert {t["table"] for t in e["tables"]} <= {"users", "orders", "past labels"}
    shares = [c["mean_abs"] for c in e["columns"]]
    assert shares == sorted(shares, reverse=True)
    run = CliRunner().invoke(cli, ["explain", model_id[:10], "-w", str(ws), "--entity", "3"])
    assert run.exit_code == 0, run.output
    assert "entity 3" in run.output and "its inputs" in run.output
    # Bad input: a clear message, a failing exit status.
    run = CliRunner().invoke(cli, ["explain", model_id, "-w", str(ws), "--entity", "999999"])
    assert run.exit_code != 0 and "no users with user_id = '999999'" in run.output, run.output
    run = CliRunner().invoke(cli, ["explain", model_id, "-w", str(ws), "--model-kind", "gnn"])
    assert run.exit_code != 0 and "has no gnn" in run.output, run.output


@pytest.fixture
def service(trained: tuple[Path, str]) -> Iterator[tuple[Any, str, str]]:
    ws, model_id = trained
    token = TokenStore(ws).create("viewer", name="explain test").token
    application = create_app(ws)
    yield application, model_id, token
    application.state.relgraph.runner.shutdown()


@pytest.mark.slow
def test_rest_and_sdk_explain(service: tuple[Any, str, str]) -> None:
    application, model_id, token = service
    with TestClient(application) as c:
        url = f"/api/v1/models/{model_id}/explain"
        r = c.get(url, params={"entity": "3", "top": 3}, headers=auth(token))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["entity"]["entity"] == 3 and len(body["entity"]["columns"]) == 3
        r = c.post(url, json={"sample": 10, "at": "test"}, headers=auth(token))
        assert r.status_code == 200 and r.json()["rows"] == 10
        # Hostile or bad input: 4xx, nothing run.
        assert c.get(url, params={"entity": "../../etc"}, headers=auth(token)).status_code == 422
        assert c.post(url, json={"sample": 10**6}, headers=auth(token)).status_code == 422
        assert c.post(url, json={"at": "'; DROP"}, headers=auth(token)).status_code == 422
        assert c.get("/api/v1/models/nope/explain", headers=auth(token)).status_code == 404
        assert c.get(url).status_code == 401
    with LiveServer(application) as srv, relgraph.Client(srv.url, token) as rg:
        e = rg.explain(model_id, entity=5, top=4)
        assert e["entity"]["entity"] == 5 and e["model_kind"] == "lightgbm"


@pytest.mark.slow
def test_explain_runs_as_a_job_of_the_registry(trained: tuple[Path, str]) -> None:
    """The same explanation as a REST job (the registry's 'explain' kind)."""
    import time

    ws, model_id = trained
    token = TokenStore(ws).create("editor", name="explain job").token
    application = create_app(ws)
    try:
        with TestClient(application) as c:
            body = {"kind": "explain", "params": {"model": model_id, "sample": 10, "top": 3}}
            r = c.post("/api/v1/jobs", json=body, headers=auth(token))
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while (job := c.get(f"/api/v1/jobs/{r.json()['id']}", headers=auth(token)).json())[
                "status"
            ] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            assert job["status"] == "succeeded", job
            e = job["result"]["explanation"]
            assert e["model_kind"] == "lightgbm" and e["rows"] == 10 and len(e["columns"]) == 3
            bad = {"kind": "explain", "params": {"model": "nope", "sample": 10}}
            assert c.post("/api/v1/jobs", json=bad, headers=auth(token)).status_code == 422
    finally:
        application.state.relgraph.runner.shutdown()


@pytest.mark.slow
def test_drift_compares_a_models_scores_on_a_grown_snapshot(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    ws, model_id = trained
    data = planted_snapshot(tmp_path, num_users=90, seed=7)[1]
    new = api.ingest(str(data.folder), workspace=ws).snapshot.id
    run = CliRunner().invoke(cli, ["drift", new, "-w", str(ws), "--model", model_id, "--json"])
    assert run.exit_code == 0, run.output
    r = json.loads(run.output)
    assert r["new_snapshot"] == new and r["old_snapshot"] != new
    assert r["scores"]["old"]["rows"] > 0 and r["scores"]["new"]["rows"] > 0
    assert r["rows"]["users"]["new"] == 90 and r["labels"]["new"]["rows"] > 0
