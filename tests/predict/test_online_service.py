"""The online surfaces: REST route, SDK, CLI, and a bundle served from another folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from online_models import tiny_model
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app as cli_app
from relgraph.client import Client
from relgraph.errors import StoreError
from relgraph.jobs.secretstore import SecretStore
from relgraph.service import TokenStore, create_app
from relgraph.service.bundle import create_bundle_app
from relgraph.testing import planted_snapshot, shop_snapshot
from tests.service.conftest import LiveServer

pytestmark = pytest.mark.slow  # a snapshot and a small model: ~25 s on a loaded 2-core box

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"
TOL = 1e-6


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(tmp_path_factory.mktemp("online-svc")) / "ws"
    planted_snapshot(root, num_users=40, num_items=10)
    tiny_model(root, QUERY, "svc-m")
    return root


@pytest.fixture(scope="module")
def client(ws: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(ws, secrets=SecretStore(ws.parent / "secrets"))
    store = TokenStore(ws)
    tokens = {r: store.create(r).token for r in ("viewer", "editor")}
    with TestClient(app) as c:
        yield c, tokens


def _post(c: TestClient, token: str, body: object, model: str = "svc-m") -> object:
    return c.post(
        f"/api/v1/models/{model}/predict", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_route_answers_and_matches_the_python_call(client, ws: Path) -> None:  # type: ignore[no-untyped-def]
    c, tokens = client
    r = _post(c, tokens["viewer"], {"keys": [1, "2", 99999], "embedding": True})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["model_id"] == "svc-m" and d["task_type"] == "binary"
    ok, also, unknown = d["results"]
    assert "unknown key" in unknown["error"]
    local = api.predict_online("svc-m", [1, 2], workspace=ws)
    assert ok["score"] == pytest.approx(local.results[0].score, abs=TOL)
    assert also["score"] == pytest.approx(local.results[1].score, abs=TOL)
    assert len(ok["embedding"]) == 16


def test_route_refuses_bad_requests(client) -> None:  # type: ignore[no-untyped-def]
    c, tokens = client
    v = tokens["viewer"]
    assert c.post("/api/v1/models/svc-m/predict", json={"keys": [1]}).status_code == 401
    assert _post(c, "rg_bad_token", {"keys": [1]}).status_code == 401
    too_many = _post(c, v, {"keys": list(range(10_001))})
    assert too_many.status_code == 422 and "1000" in too_many.text
    assert _post(c, v, {"keys": []}).status_code == 422
    assert _post(c, v, {"keys": [True]}).status_code == 422
    assert _post(c, v, {"keys": [{"a": 1}]}).status_code == 422
    assert _post(c, v, {"keys": [1]}, model="..%2F..%2Fetc").status_code in (404, 422)
    assert _post(c, v, {"keys": [1]}, model="no-such-model").status_code == 404
    assert _post(c, v, {"keys": [1], "at": "yesterday"}).status_code == 400
    assert _post(c, v, {"keys": [1], "snapshot": "../x"}).status_code == 422


def test_sdk_predict_online(client) -> None:  # type: ignore[no-untyped-def]
    c, tokens = client
    with LiveServer(c.app) as srv, Client(srv.url, tokens["viewer"]) as sdk:
        d = sdk.predict_online("svc-m", [3, 4], at="2024-01-01")
    assert [r["key"] for r in d["results"]] == [3, 4]
    assert d["anchor"].startswith("2024-01-01")


def test_cli_predict_entity(ws: Path) -> None:
    res = CliRunner().invoke(
        cli_app, ["predict", "svc-m", "-w", str(ws), "--entity", "5", "--entity", "6", "--json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert [r["key"] for r in d["results"]] == ["5", "6"]  # echoed as asked
    bad = CliRunner().invoke(cli_app, ["predict", "svc-m", "-w", str(ws), "--entity", "nope"])
    assert bad.exit_code == 1 and "integers" in bad.output


def test_bundle_serves_from_another_folder(ws: Path, tmp_path: Path) -> None:
    expected = api.predict_online("svc-m", [1, 2, 3], workspace=ws).to_dict()["results"]
    bundle = tmp_path / "elsewhere" / "bundle"
    bundle.parent.mkdir()
    res = CliRunner().invoke(cli_app, ["export", "svc-m", "-w", str(ws), "--to", str(bundle)])
    assert res.exit_code == 0, res.output
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["model_id"] == "svc-m" and meta["schema"]["tables"]
    assert (bundle / "encoders.json").is_file()
    weights = torch.load(bundle / "models" / "svc-m" / "gnn.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    # The workspace goes away while the bundle serves.
    hidden = ws.with_name("ws-hidden")
    ws.rename(hidden)
    try:
        app = create_bundle_app(bundle)
        token = TokenStore(bundle).create("viewer").token
        with TestClient(app) as c:
            r = c.post(
                "/api/v1/models/svc-m/predict",
                json={"keys": [1, 2, 3]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            for got, want in zip(r.json()["results"], expected, strict=True):
                assert got["score"] == pytest.approx(want["score"], abs=TOL)
            assert c.post("/api/v1/models/svc-m/predict", json={"keys": [1]}).status_code == 401
    finally:
        hidden.rename(ws)
    with pytest.raises(StoreError, match="not empty"):
        api.export_model("svc-m", workspace=ws, to=bundle)


def test_bundle_refuses_a_snapshot_of_another_schema(ws: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    api.export_model("svc-m", workspace=ws, to=bundle)
    other = shop_snapshot(tmp_path / "shop")
    with pytest.raises(StoreError, match="does not match the schema"):
        create_bundle_app(bundle, snapshot_dir=other.path)
    with pytest.raises(StoreError, match="not a relgraph bundle"):
        create_bundle_app(tmp_path)
    shutil.rmtree(bundle)
