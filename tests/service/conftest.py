"""Fixtures for the service tests: an F1 workspace, tokens per role, an app, a live server."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from relgraph import api
from relgraph.jobs.secretstore import SecretStore
from relgraph.service import TokenStore, create_app

ROOT = Path(__file__).resolve().parents[2]
F1 = ROOT / "examples" / "f1"


@pytest.fixture(scope="session")
def f1_workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """F1 ingested once per session; tests copy it so none sees another's writes."""
    ws = tmp_path_factory.mktemp("f1-template")
    api.ingest(str(F1), workspace=ws)
    return ws


@pytest.fixture
def workspace(f1_workspace_template: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(f1_workspace_template, ws)
    return ws


@pytest.fixture
def tokens(workspace: Path) -> dict[str, str]:
    store = TokenStore(workspace)
    return {
        role: store.create(role, name=f"test {role}").token
        for role in ("viewer", "editor", "admin")
    }


# The source policy of the service tests: files next to the workspace (tests make their
# sources in tmp_path), PostgreSQL on this machine.
TEST_ALLOW_URLS = ("postgresql://127.0.0.1:*",)


@pytest.fixture
def app(workspace: Path) -> Iterator[FastAPI]:
    application = create_app(
        workspace,
        source_roots=[workspace.parent],
        allow_urls=TEST_ALLOW_URLS,
        secrets=SecretStore(workspace.parent / "secrets"),
    )
    yield application
    application.state.relgraph.runner.shutdown()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as srv:
        yield srv


SHOP_QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.fixture(scope="session")
def shop_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted shop ingested twice (60, then 80 users: two snapshots to compare), one
    model trained on the second (LightGBM and baselines: the GNN is tested elsewhere) and
    its test predictions written. Shared by the dashboard's view and browser tests."""
    from relgraph.testing import planted_snapshot

    ws = tmp_path_factory.mktemp("shop") / "ws"
    planted_snapshot(ws, num_users=60, num_items=20)
    planted_snapshot(ws, num_users=80, num_items=20)
    result = api.train(SHOP_QUERY, workspace=ws, budget="fast", minutes=0.05, gnn=False)
    api.predict(result.model_id, workspace=ws)
    return ws
