"""The REST resources against an F1 workspace, through FastAPI's test client."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from relgraph.jobs import outputs
from tests.service.conftest import auth

V1 = "/api/v1"


def wait_job(client: TestClient, token: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"{V1}/jobs/{job_id}", headers=auth(token)).json()
        if job["status"] in ("succeeded", "skipped", "failed", "blocked", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_snapshot_schema_validation_and_paged_rows(
    client: TestClient, tokens: dict[str, str]
) -> None:
    h = auth(tokens["viewer"])
    snaps = client.get(f"{V1}/snapshots", headers=h).json()
    assert snaps["total"] == 1 and snaps["limit"] == 50 and snaps["offset"] == 0
    sid = snaps["items"][0]["snapshot_id"]
    assert snaps["items"][0]["tables"]["results"]["foreign_keys"]["driverId"] == "drivers"
    assert client.get(f"{V1}/snapshots/{sid[:6]}", headers=h).json()["snapshot_id"] == sid
    schema = client.get(f"{V1}/snapshots/latest/schema", headers=h).json()
    assert "results.driverId -> drivers.driverId" in schema["links"]
    assert {t["name"]: t for t in schema["schema"]["tables"]}["results"][
        "primary_key"
    ] == "resultId"
    assert client.get(f"{V1}/snapshots/latest/validation", headers=h).status_code == 200

    page1 = client.get(f"{V1}/snapshots/latest/tables/drivers/rows?limit=3", headers=h).json()
    page2 = client.get(
        f"{V1}/snapshots/latest/tables/drivers/rows?limit=3&offset=3", headers=h
    ).json()
    assert page1["total"] == page2["total"] > 800
    assert [r["driverId"] for r in page1["items"] + page2["items"]] == [1, 2, 3, 4, 5, 6]
    assert "surname" in page1["columns"]
    # JSON-safe values: timestamps as strings, no NaN anywhere.
    races = client.get(f"{V1}/snapshots/latest/tables/races/rows?limit=5", headers=h)
    assert "NaN" not in races.text
    assert isinstance(races.json()["items"][0]["_rg_time"], str)


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=abc"])
def test_paging_is_bounded(client: TestClient, tokens: dict[str, str], query: str) -> None:
    r = client.get(
        f"{V1}/snapshots/latest/tables/drivers/rows?{query}", headers=auth(tokens["viewer"])
    )
    assert r.status_code == 422


def test_table_stats(client: TestClient, tokens: dict[str, str]) -> None:
    s = client.get(
        f"{V1}/snapshots/latest/tables/results/stats", headers=auth(tokens["viewer"])
    ).json()
    assert s["rows"] > 20000 and s["primary_key"] == "resultId"
    cols = {c["column"]: c for c in s["columns"]}
    assert cols["driverId"]["stype"] == "id"
    assert 0 <= cols["points"]["null_fraction"] <= 1 and cols["points"]["mean"] > 0


def test_unknown_things_are_404(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["viewer"])
    r = client.get(f"{V1}/snapshots/latest/tables/nope/rows", headers=h)
    assert r.status_code == 404 and "no table 'nope'" in r.json()["message"]
    assert client.get(f"{V1}/snapshots/deadbeef", headers=h).status_code == 404
    assert client.get(f"{V1}/jobs/nojob", headers=h).status_code == 404
    assert client.get(f"{V1}/models/nomodel", headers=h).status_code == 404
    assert client.get(f"{V1}/predictions/nothing/rows", headers=h).status_code == 404
    assert client.get(f"{V1}/labels/none", headers=h).status_code == 404


def test_ingest_job_lifecycle(client: TestClient, tokens: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "shop"
    src.mkdir()
    (src / "users.csv").write_text("user_id,name\n1,ann\n2,bob\n")
    (src / "orders.csv").write_text("order_id,user_id,total\n1,1,3.5\n2,2,4.0\n3,1,1.0\n")
    r = client.post(f"{V1}/sources", headers=auth(tokens["editor"]), json={"source": str(src)})
    assert r.status_code == 202
    job = wait_job(client, tokens["viewer"], r.json()["id"])
    assert job["status"] == "succeeded" and job["progress"] == 1.0, job
    assert job["created_by"] is not None
    sid = job["result"]["snapshot_id"]
    assert (
        client.get(f"{V1}/snapshots/{sid}", headers=auth(tokens["viewer"])).json()["tables"][
            "orders"
        ]["rows"]
        == 3
    )
    logs = client.get(f"{V1}/jobs/{job['id']}/logs", headers=auth(tokens["viewer"])).json()
    assert any("read table orders" in line for line in logs["items"]) and logs["total"] == len(
        logs["items"]
    )
    listed = client.get(
        f"{V1}/jobs?status=succeeded&kind=ingest", headers=auth(tokens["viewer"])
    ).json()
    assert listed["items"][0]["id"] == job["id"]
    sources = client.get(f"{V1}/sources", headers=auth(tokens["viewer"])).json()
    assert sources["total"] == 2
    # A succeeded job cannot be retried or cancelled.
    assert (
        client.post(f"{V1}/jobs/{job['id']}/retry", headers=auth(tokens["editor"])).status_code
        == 409
    )
    assert (
        client.post(f"{V1}/jobs/{job['id']}/cancel", headers=auth(tokens["editor"])).status_code
        == 409
    )


def test_failed_job_reports_error_and_retry_runs_again(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    h = auth(tokens["editor"])
    missing = tmp_path / "missing"
    job = wait_job(
        client,
        tokens["editor"],
        client.post(f"{V1}/sources", headers=h, json={"source": str(missing)}).json()["id"],
    )
    assert job["status"] == "failed" and job["error"]
    missing.mkdir()
    (missing / "t.csv").write_text("id,x\n1,2\n")
    r = client.post(f"{V1}/jobs/{job['id']}/retry", headers=h)
    # The same job runs again: same id, one more attempt.
    assert r.status_code == 202 and r.json()["id"] == job["id"] and r.json()["attempts"] == 2
    again = wait_job(client, tokens["editor"], job["id"])
    assert again["status"] == "succeeded" and again["error"] is None, again
    assert again["result"]["snapshot_id"]


def test_cancel_a_queued_job(app: FastAPI, client: TestClient, tokens: dict[str, str]) -> None:
    runner = app.state.relgraph.runner
    import threading

    gate = threading.Event()

    def blocker(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        while not gate.wait(0.02):
            ctx.check()
        return {}

    runner.kinds["block"] = blocker
    h = auth(tokens["editor"])
    first = client.post(f"{V1}/jobs", headers=h, json={"kind": "block"}).json()
    second = client.post(
        f"{V1}/jobs", headers=h, json={"kind": "block"}
    ).json()  # queued behind the first
    assert (
        client.post(f"{V1}/jobs/{second['id']}/cancel", headers=h).json()["status"] == "cancelled"
    )
    while client.get(f"{V1}/jobs/{first['id']}", headers=h).json()["status"] != "running":
        time.sleep(0.02)
    client.post(f"{V1}/jobs/{first['id']}/cancel", headers=h)
    assert wait_job(client, tokens["editor"], first["id"])["status"] == "cancelled"
    assert wait_job(client, tokens["editor"], second["id"])["status"] == "cancelled"


def test_unknown_job_kind_and_bad_params(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["editor"])
    r = client.post(f"{V1}/jobs", headers=h, json={"kind": "nope"})
    assert r.status_code == 422 and "unknown job kind 'nope'" in r.json()["message"]
    # Checked on submit (the source policy needs a string): no job is made.
    bad = client.post(f"{V1}/jobs", headers=h, json={"kind": "ingest", "params": {"source": 3}})
    assert bad.status_code == 422 and "must be a str" in bad.json()["message"]


def test_connection_secrets_never_leave(
    client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    h = auth(tokens["editor"])
    uri = "postgresql://alice:hunter2@127.0.0.1:1/shop?sslpassword=s3cr3t"
    job = client.post(f"{V1}/sources", headers=h, json={"source": uri}).json()
    done = wait_job(client, tokens["editor"], job["id"])
    logs = client.get(f"{V1}/jobs/{job['id']}/logs", headers=h).text
    listed = client.get(f"{V1}/jobs", headers=h).text
    on_disk = "".join(
        p.read_bytes().decode("latin-1") for p in workspace.glob("meta.db*") if p.is_file()
    )
    assert done["id"] in listed and len(on_disk) > 10_000
    for text in (json.dumps(job), json.dumps(done), logs, listed, on_disk):
        assert "hunter2" not in text and "s3cr3t" not in text
    assert done["params"]["source"].startswith("postgresql://alice:***@")


def test_request_size_limit(client: TestClient, tokens: dict[str, str]) -> None:
    big = {
        "entity_table": "drivers",
        "rows": [{"entity": i, "label": "x" * 200} for i in range(8000)],
    }
    r = client.put(f"{V1}/labels/big", headers=auth(tokens["editor"]), json=big)
    assert r.status_code == 413


def test_label_sets(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["editor"])
    body = {
        "entity_table": "drivers",
        "rows": [{"entity": 1, "label": "champion"}, {"entity": 2, "label": None}],
    }
    assert client.put(f"{V1}/labels/review", headers=h, json=body).json()["rows"] == 2
    body2 = {
        "entity_table": "drivers",
        "rows": [{"entity": 2, "label": "rookie", "note": "checked"}],
    }
    assert client.put(f"{V1}/labels/review", headers=h, json=body2).json()["rows"] == 2
    got = client.get(f"{V1}/labels/review?limit=1&offset=1", headers=auth(tokens["viewer"])).json()
    assert got["total"] == 2 and got["items"][0]["label"] == "rookie"
    clash = client.put(f"{V1}/labels/review", headers=h, json={"entity_table": "races", "rows": []})
    assert clash.status_code == 409
    assert client.get(f"{V1}/labels", headers=h).json()["items"][0]["name"] == "review"
    assert client.delete(f"{V1}/labels/review", headers=h).status_code == 204


def test_project_job_and_paged_projection(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["editor"])
    job = client.post(
        f"{V1}/jobs", headers=h, json={"kind": "project", "params": {"table": "circuits", "k": 3}}
    ).json()
    done = wait_job(client, tokens["editor"], job["id"])
    assert done["status"] == "succeeded", done
    oid = done["result"]["output_id"]
    info = client.get(f"{V1}/embeddings/{oid}", headers=h).json()
    assert info["has_projection"] and info["table"] == "circuits"
    pts = client.get(f"{V1}/embeddings/{oid}/projection?limit=100", headers=h).json()
    assert pts["total"] == 77 and len(pts["items"]) == 77
    assert {p["cluster"] for p in pts["items"]} == {"cluster_0", "cluster_1", "cluster_2"}
    assert json.loads(pts["items"][0]["row"])["circuitId"] == int(pts["items"][0]["ENTITY"])
    assert client.get(f"{V1}/embeddings", headers=h).json()["items"][0]["id"] == oid


def test_models_and_predictions_read_from_workspace(
    client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    mdir = workspace / "models" / "m1"
    mdir.mkdir(parents=True)
    (mdir / "metrics.json").write_text(
        json.dumps({"test": {"auroc": 0.71}, "val": {"auroc": float("nan")}}).replace("NaN", "null")
    )
    (mdir / "history.json").write_text(
        json.dumps([{"epoch": 0, "loss": 0.9}, {"epoch": 1, "loss": 0.7}])
    )
    preds = pa.table(
        {
            "ENTITY": list(range(120)),
            "PREDICTION": [i % 2 == 0 for i in range(120)],
            "TRUE_PROB": [i / 120 for i in range(120)],
        }
    )
    oid = outputs.register_output(workspace, "predictions", preds, {"model_id": "m1"})
    h = auth(tokens["viewer"])
    models = client.get(f"{V1}/models", headers=h).json()
    assert (
        models["items"][0]["id"] == "m1" and models["items"][0]["metrics"]["test"]["auroc"] == 0.71
    )
    m = client.get(f"{V1}/models/m1", headers=h).json()
    assert m["history"][1]["loss"] == 0.7
    assert client.get(f"{V1}/predictions", headers=h).json()["items"][0]["rows"] == 120
    page = client.get(f"{V1}/predictions/{oid}/rows?limit=50&offset=100", headers=h).json()
    assert page["total"] == 120 and [r["ENTITY"] for r in page["items"]] == list(range(100, 120))
    # An embeddings id is not a predictions id.
    assert client.get(f"{V1}/embeddings/{oid}", headers=h).status_code == 404


def test_queries_need_the_compiler(client: TestClient, tokens: dict[str, str]) -> None:
    from relgraph import api

    r = client.post(
        f"{V1}/queries/compile",
        headers=auth(tokens["viewer"]),
        json={"query": "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId"},
    )
    if not hasattr(api, "compile_query"):
        assert r.status_code == 501
        return
    assert r.status_code == 200, r.text
    assert r.json()["task"]["task_type"] == "binary"
    bad = client.post(
        f"{V1}/queries/compile",
        headers=auth(tokens["viewer"]),
        json={"query": "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.nope"},
    )
    assert bad.status_code == 422 and bad.json()["line"] == 1


def test_openapi_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200


def test_dashboard_files_are_served(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200 and "/static/app.js" in index.text
    assert client.get("/static/app.js").status_code == 200
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_label_stats_job_counts_at_the_typed_cutoffs(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """The query editor's counts follow its cut-offs (they used to ignore them)."""
    h = auth(tokens["editor"])
    query = "PREDICT COUNT(results.*, 0, 365, days) > 0 FOR EACH drivers.driverId"

    def stats(**cut: str) -> dict[str, Any]:
        r = client.post(
            f"{V1}/jobs", headers=h, json={"kind": "label-stats", "params": {"query": query, **cut}}
        )
        assert r.status_code == 202, r.text
        done = wait_job(client, tokens["editor"], r.json()["id"], timeout=120)
        assert done["status"] == "succeeded", done
        return dict(done["result"])

    default, cut = stats(), stats(val_cutoff="2005-01-01", test_cutoff="2008-01-01")
    assert cut["val_cutoff"].startswith("2005-01-01")
    assert cut["test_cutoff"].startswith("2008-01-01")
    assert cut["splits"]["train"] != default["splits"]["train"]
