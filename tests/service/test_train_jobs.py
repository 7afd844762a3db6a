"""Training through the REST API: train → predict → project as one job, then the model,
its predictions and the 3-D projection read back (on the small planted dataset)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from relgraph import api
from relgraph.service import TokenStore, create_app
from tests.service.conftest import auth
from tests.service.test_api import wait_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(api, "train"), reason="this build has no relgraph.api.train"),
]
V1 = "/api/v1"
QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    from relgraph.testing import planted_snapshot

    planted_snapshot(tmp_path, num_users=80, num_items=20)
    app = create_app(tmp_path)
    token = TokenStore(tmp_path).create("editor").token
    with TestClient(app) as client:
        yield client, token
    app.state.relgraph.runner.shutdown()


def test_train_job_makes_model_predictions_and_projection(planted: tuple[TestClient, str]) -> None:
    client, token = planted
    h = auth(token)
    labels = {
        "entity_table": "users",
        "rows": [{"entity": i, "label": "vip" if i % 3 else "new"} for i in range(40)],
    }
    assert client.put(f"{V1}/labels/segment", headers=h, json=labels).status_code == 200
    r = client.post(
        f"{V1}/jobs", headers=h, json={"kind": "train", "params": {"query": QUERY, "minutes": 1}}
    )
    assert r.status_code == 202
    job = wait_job(client, token, r.json()["id"], timeout=900)
    assert job["status"] == "succeeded", job["error"]
    res: dict[str, Any] = job["result"]
    assert "path" not in res  # no server paths to clients
    logs = client.get(f"{V1}/jobs/{job['id']}/logs?limit=1000", headers=h).json()["items"]
    assert any("epoch 1/" in line for line in logs)

    model = client.get(f"{V1}/models/{res['model_id']}", headers=h).json()
    assert 0.0 <= model["metrics"]["gnn"]["test"]["auroc"] <= 1.0
    assert "auroc" in model["metrics"]["lightgbm"]["test"]
    assert [e["epoch"] for e in model["history"]] == list(range(1, len(model["history"]) + 1))
    assert client.get(f"{V1}/models", headers=h).json()["items"][0]["id"] == res["model_id"]

    preds = client.get(f"{V1}/predictions/{res['predictions']}/rows?limit=10", headers=h).json()
    assert preds["total"] == res["rows"]["test"] > 0
    assert {"ENTITY", "TRUE_PROB", "PREDICTION"} <= set(preds["items"][0])
    listed = client.get(f"{V1}/predictions", headers=h).json()["items"]
    assert res["predictions"] in [p["id"] for p in listed]

    pts = client.get(f"{V1}/embeddings/{res['output_id']}/projection?limit=1000", headers=h).json()
    assert pts["total"] == len({p["ENTITY"] for p in pts["items"]}) > 10  # one point per entity
    assert all(0.0 <= p["prediction"] <= 1.0 for p in pts["items"])

    # A projection of the same predictions coloured by a label set.
    j = client.post(
        f"{V1}/jobs",
        headers=h,
        json={
            "kind": "project",
            "params": {"predictions": res["predictions"], "labels": "segment", "k": 2},
        },
    ).json()
    done = wait_job(client, token, j["id"])
    assert done["status"] == "succeeded", done["error"]
    pts = client.get(
        f"{V1}/embeddings/{done['result']['output_id']}/projection?limit=1000", headers=h
    ).json()
    by_entity = {p["ENTITY"]: p["label"] for p in pts["items"]}
    assert by_entity["3"] == "new" and by_entity["4"] == "vip" and by_entity.get("79") is None

    # Predict again as its own job.
    j = client.post(
        f"{V1}/jobs",
        headers=h,
        json={"kind": "predict", "params": {"model_id": res["model_id"], "split": "now"}},
    ).json()
    done = wait_job(client, token, j["id"], timeout=300)
    assert (
        done["status"] == "succeeded" and done["result"]["predictions"] == f"{res['model_id']}.now"
    )
