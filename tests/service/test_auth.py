"""Every route refuses unauthenticated (401) and under-privileged (403) requests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from relgraph.service import Role, TokenStore
from relgraph.service.auth import TOKEN_PREFIX
from relgraph.service.hardening import AuthThrottle
from tests.service.conftest import auth


def api_routes(app: FastAPI) -> list[tuple[str, str, Role]]:
    """(method, concrete path, required role) for every route of the REST API."""
    out = []
    for r, prefix in _flat(app.routes, ""):
        full = prefix + r.path
        if full == "/health" or not r.include_in_schema:
            continue
        roles = [
            d.call.required_role for d in _walk(r.dependant) if hasattr(d.call, "required_role")
        ]
        assert roles, f"{full} has no auth dependency"
        path = re.sub(r"\{[^}]+\}", "abc123", full)
        for m in sorted(r.methods or ()):
            out.append((m, path, roles[0]))
    # Cross-check against the OpenAPI spec: no documented operation is missed.
    spec = app.openapi()["paths"]
    documented = {
        (m.upper(), re.sub(r"\{[^}]+\}", "abc123", p)) for p, ops in spec.items() for m in ops
    }
    documented.discard(("GET", "/health"))
    assert documented == {(m, p) for m, p, _ in out}
    return out


def _flat(routes: Any, prefix: str) -> Iterator[tuple[APIRoute, str]]:
    """APIRoutes with their mount prefix; FastAPI 0.16x wraps included routers."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r, prefix
        elif hasattr(r, "original_router"):
            yield from _flat(r.original_router.routes, prefix + (r.include_context.prefix or ""))


def _walk(dep: Any) -> Iterator[Any]:
    for d in dep.dependencies:
        yield d
        yield from _walk(d)


def test_every_route_but_health_needs_auth(app: FastAPI) -> None:
    routes = api_routes(app)
    assert len(routes) >= 25
    paths = {p for _, p, _ in routes}
    for resource in (
        "sources",
        "snapshots",
        "queries",
        "jobs",
        "models",
        "predictions",
        "embeddings",
        "labels",
    ):
        assert any(f"/api/v1/{resource}" in p for p in paths), resource


def test_unauthenticated_requests_get_401(app: FastAPI, client: TestClient) -> None:
    # Hundreds of bad tokens from one client: lift the backoff (tests/security tests it).
    app.state.relgraph.throttle = AuthThrottle(max_failures=1_000_000)
    for method, path, _ in api_routes(app):
        for headers in ({}, auth("rg_nothere_xyz"), {"Authorization": "Basic dXNlcjpwdw=="}):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_underprivileged_requests_get_403(
    app: FastAPI, client: TestClient, tokens: dict[str, str], role: str
) -> None:
    have = Role(role)
    refused = 0
    for method, path, needed in api_routes(app):
        if have.allows(needed):
            continue
        r = client.request(method, path, headers=auth(tokens[role]), json={})
        assert r.status_code == 403, (role, method, path, r.status_code, r.text)
        refused += 1
    assert refused > 0


def test_viewer_cannot_start_jobs_or_change_data(
    client: TestClient, tokens: dict[str, str]
) -> None:
    h = auth(tokens["viewer"])
    assert (
        client.post("/api/v1/jobs", headers=h, json={"kind": "ingest", "params": {}}).status_code
        == 403
    )
    assert client.post("/api/v1/sources", headers=h, json={"source": "x"}).status_code == 403
    assert (
        client.put(
            "/api/v1/labels/x", headers=h, json={"entity_table": "drivers", "rows": []}
        ).status_code
        == 403
    )
    assert client.post("/api/v1/tokens", headers=h, json={"role": "admin"}).status_code == 403
    # ... but may read.
    assert client.get("/api/v1/jobs", headers=h).status_code == 200
    assert client.get("/api/v1/snapshots", headers=h).status_code == 200


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_tokens_are_stored_hashed(workspace: Path) -> None:
    store = TokenStore(workspace)
    issued = store.create("editor", name="ci")
    raw = (workspace / "auth" / "tokens.json").read_text()
    assert issued.token.startswith(TOKEN_PREFIX)
    assert issued.token not in raw
    secret = issued.token.rsplit("_", 1)[1]
    assert secret not in raw
    assert json.loads(raw)["tokens"][-1]["sha256"] != secret
    assert store.verify(issued.token) == issued.info
    assert store.verify(issued.token + "x") is None
    assert store.revoke(issued.info.id)
    assert store.verify(issued.token) is None


def test_revoked_token_is_refused_by_the_server(client: TestClient, workspace: Path) -> None:
    store = TokenStore(workspace)
    issued = store.create("viewer")
    assert client.get("/api/v1/me", headers=auth(issued.token)).json()["role"] == "viewer"
    store.revoke(issued.info.id)
    assert client.get("/api/v1/me", headers=auth(issued.token)).status_code == 401


def test_admin_manages_tokens_over_rest(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["admin"])
    r = client.post("/api/v1/tokens", headers=h, json={"role": "viewer", "name": "bot"})
    assert r.status_code == 201
    new = r.json()
    listed = client.get("/api/v1/tokens", headers=h).json()
    assert new["id"] in [t["id"] for t in listed["items"]]
    assert all("token" not in t and "sha256" not in t for t in listed["items"])
    assert client.get("/api/v1/me", headers=auth(new["token"])).status_code == 200
    assert client.delete(f"/api/v1/tokens/{new['id']}", headers=h).status_code == 204
    assert client.get("/api/v1/me", headers=auth(new["token"])).status_code == 401


def test_unknown_role_is_refused(workspace: Path) -> None:
    from relgraph.errors import StoreError

    with pytest.raises(StoreError, match="unknown role 'root'"):
        TokenStore(workspace).create("root")
