"""The service's source policy and id parameters, against a live server on 127.0.0.1.

An editor may have the service read only files under its source roots, allowed URLs and
named connections; everything else is one 403 whose body does not depend on whether
the path exists. Every id parameter of a job is an id, never a path (422).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security import _fixtures_policy as fx
from tests.security._fixtures_policy import Service, Site

site = fx.site
service = fx.service
shared_service = fx.shared_service

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


def _hostile_sources(site: Site) -> list[str]:
    ws, root, outside = site.workspace, site.root, site.outside
    # Symlinks inside the root that lead out of it, and a folder mixing both.
    (root / "link.csv").symlink_to(outside / "t.csv")
    (root / "linkdir").symlink_to(outside)
    (root / "etc").symlink_to("/etc")
    mixed = root / "mixed"
    mixed.mkdir()
    (mixed / "users.csv").write_text("user_id\n1\n")
    (mixed / "passwd.csv").symlink_to("/etc/passwd")
    (root / "ws-link").symlink_to(ws)
    return [
        # exist
        "/etc/passwd",
        "/etc",
        str(outside / "t.csv"),
        str(outside / "shop"),
        str(ws),
        str(ws / "meta.db"),
        str(ws / "auth" / "tokens.json"),
        str(site.secrets),
        str(root / ".." / "outside" / "t.csv"),
        str(root / "link.csv"),
        str(root / "linkdir"),
        str(root / "linkdir" / "t.csv"),
        str(root / "etc" / "passwd"),
        str(mixed),
        str(root / "ws-link"),
        f"sqlite:///{outside / 'shop.db'}",
        f"sqlite:///{ws / 'meta.db'}",
        "sqlite:////etc/passwd",
        str(site.base),  # contains the root *and* the workspace
        # do not exist
        "/etc/no-such-file-relgraph",
        str(outside / "missing.csv"),
        str(root / ".." / "nowhere"),
        str(root / "linkdir" / "missing.csv"),
        "sqlite:////nonexistent/x.db",
        # relative, URLs not allowed, odd schemes
        "examples/f1",
        "data/shop",
        "postgresql://10.0.0.1:5432/shop",
        "postgresql://u:pw@evil.example:5432/x",
        "file:///etc/passwd",
        "http://127.0.0.1:1/x.csv",
        "conn:nope",
        "conn:../../etc",
        "x\x00y",
    ]


def test_sources_outside_the_roots_get_one_403(service: Service) -> None:
    site = service.site
    (site.workspace / "auth").mkdir(exist_ok=True)
    bodies = set()
    sources = _hostile_sources(site)
    for source in sources:
        for route, body in (
            ("/sources", {"source": source}),
            ("/jobs", {"kind": "ingest", "params": {"source": source}}),
        ):
            r = service.post(f"{route}", headers=service.h("editor"), json=body)
            assert r.status_code == 403, (source, r.status_code, r.text)
            bodies.add(r.content)
    # One answer for all: it tells nothing about what exists on the server.
    assert len(bodies) == 1, bodies
    assert b"source policy" in bodies.pop()
    jobs = service.get("/jobs", headers=service.h("viewer")).json()
    assert jobs["total"] == 0  # no job was even queued


def test_sources_under_the_roots_are_read(service: Service) -> None:
    root = service.site.root
    (root / "inside-link").symlink_to(root / "shop")  # a symlink that stays inside is fine
    for source in (str(root / "shop"), str(root / "shop" / "users.csv"), str(root / "inside-link")):
        r = service.post("/sources", headers=service.h("editor"), json={"source": source})
        assert r.status_code == 202, r.text
        job = service.wait(r.json()["id"])
        assert job["status"] == "succeeded", job
    # A missing file under a root is the caller's own business: the job fails, no 403.
    r = service.post(
        "/sources",
        headers=service.h("editor"),
        json={"source": str(root / "not-yet")},
    )
    assert r.status_code == 202 and service.wait(r.json()["id"])["status"] == "failed"


def test_named_connections_are_made_by_admins_and_read_by_editors(service: Service) -> None:
    site = service.site
    db = f"sqlite:///{site.outside / 'shop.db'}"  # outside every root: only as a connection
    put = {"url": db}
    assert (
        service.put("/connections/shop", headers=service.h("editor"), json=put).status_code == 403
    )
    r = service.put("/connections/shop", headers=service.h("admin"), json=put)
    assert r.status_code == 200 and r.json()["source"] == "conn:shop"
    pg = {"url": "postgresql://alice:conn-pw-1234@127.0.0.1:1/shop"}
    assert service.put("/connections/pg", headers=service.h("admin"), json=pg).is_success
    assert service.get("/connections", headers=service.h("viewer")).status_code == 403
    listed = service.get("/connections", headers=service.h("editor"))
    assert "conn-pw-1234" not in listed.text and "alice:***@" in listed.text
    assert {c["name"] for c in listed.json()["items"]} == {"shop", "pg"}

    r = service.post("/sources", headers=service.h("editor"), json={"source": "conn:shop"})
    job = service.wait(r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["params"]["source"] == "conn:shop"  # the record never holds the URL
    snap = service.get(
        f"/snapshots/{job['result']['snapshot_id']}", headers=service.h("viewer")
    ).json()
    assert snap["tables"]["orders"]["rows"] == 3

    # The store is outside the workspace and private.
    store = site.secrets / "connections.json"
    assert store.is_file() and oct(store.stat().st_mode & 0o777) == "0o600"
    assert not any(site.workspace.rglob("connections.json"))
    bad = service.put("/connections/..%2Fx", headers=service.h("admin"), json=put)
    assert bad.status_code in (404, 422)

    assert service.delete("/connections/shop", headers=service.h("admin")).status_code == 204
    r = service.post("/sources", headers=service.h("editor"), json={"source": "conn:shop"})
    assert r.status_code == 403


# Every id parameter of every job kind: a path in its place is a 422, no job made.
BAD_IDS = [
    ("project", {"table": "users", "snapshot": "../../outside"}, "snapshot"),
    ("project", {"table": "users", "snapshot": "/etc"}, "snapshot"),
    ("project", {"predictions": "../../models/x.test"}, "predictions"),
    ("project", {"table": "users", "labels": "../auth/tokens"}, "labels"),
    ("project", {"table": "users", "snapshot": 5}, "snapshot"),
    ("label-stats", {"query": QUERY, "snapshot": "abc/../../d"}, "snapshot"),
    ("train", {"query": QUERY, "snapshot": "..", "predict": False}, "snapshot"),
    ("train", {"query": QUERY, "from_pretrained": "../../x"}, "from_pretrained"),
    ("predict", {"model_id": "../models/x"}, "model_id"),
    ("predict", {"model_id": "/etc/passwd"}, "model_id"),
    ("embed", {"model_id": ".."}, "model_id"),
    ("embed", {"model_id": "m", "snapshot": "../x"}, "snapshot"),
    ("cluster", {"embeddings": "../../etc", "k": 3}, "embeddings"),
    ("pretrain", {"snapshot": "../../outside"}, "snapshot"),
]


@pytest.mark.parametrize(("kind", "params", "name"), BAD_IDS)
def test_id_parameters_are_ids(
    shared_service: Service, kind: str, params: dict[str, object], name: str
) -> None:
    service = shared_service
    before = service.get("/jobs", headers=service.h("viewer")).json()["total"]
    kinds = service.get("/jobs/kinds", headers=service.h("viewer")).json()
    if kind not in kinds["kinds"]:
        pytest.skip(f"this build has no '{kind}' jobs")
    r = service.post(
        "/jobs",
        headers=service.h("editor"),
        json={"kind": kind, "params": params},
    )
    assert r.status_code == 422, r.text
    assert f"'{name}'" in r.json()["message"]
    assert service.get("/jobs", headers=service.h("viewer")).json()["total"] == before


@pytest.mark.parametrize(
    "path",
    [
        "/snapshots/..%2F..%2Fetc",
        "/snapshots/latest/tables/..%2F..%2Fmeta.db/rows",
        "/models/..%2Fauth",
        "/labels/..%2Fauth%2Ftokens",
        "/labels/..",
        "/embeddings/..%2F..%2Fauth/rows",
        "/predictions/..%2Fmeta.db/rows",
        "/jobs/..%2F1",
    ],
)
def test_id_routes_refuse_paths(shared_service: Service, path: str) -> None:
    r = shared_service.get(path, headers=shared_service.h("viewer"))
    assert r.status_code in (404, 422), (path, r.status_code, r.text)


def test_the_workspace_is_private(service: Service) -> None:
    ws = service.site.workspace
    assert ws.stat().st_mode & 0o777 == 0o700
    for f in ws.glob("meta.db*"):
        assert f.stat().st_mode & 0o077 == 0, (f, oct(f.stat().st_mode))
    assert os.access(ws, os.R_OK)  # still ours


def test_a_queued_job_is_checked_again_when_it_runs(site: Site, tmp_path: Path) -> None:
    """A job queued under a wider policy (a service restarted with fewer roots) fails."""
    from relgraph.jobs.secretstore import SecretStore
    from relgraph.service import create_app

    wide = create_app(site.workspace, source_roots=[site.base], secrets=SecretStore(site.secrets))
    runner = wide.state.relgraph.runner
    runner.start = lambda: None  # type: ignore[method-assign]  # queue only, run nothing
    job = runner.submit("ingest", {"source": str(site.outside / "shop")})
    runner.shutdown()
    narrow = create_app(site.workspace, source_roots=[site.root], secrets=SecretStore(site.secrets))
    try:
        narrow.state.relgraph.runner.start()
        done = narrow.state.relgraph.runner.wait(job.id, timeout=60)
    finally:
        narrow.state.relgraph.runner.shutdown()
    assert done.status == "failed" and "source policy" in (done.error or "")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("postgresql://alice:pw@db.internal:5432/shop", True),
        ("postgresql://db.internal:5432/shop?schema=s&password=x", True),
        ("postgresql://db.internal:5433/shop", False),
        ("postgresql://db.internal.evil.example:5432/shop", False),
        ("postgresql://alice:pw@evil.example:5432/x#@db.internal:5432/", False),
        ("postgresql://a:b@db.internal:5432@evil.example/x", False),
        ("postgres://db.internal:5432/shop", False),  # the pattern names its scheme
        ("s3://exports/2024/?secret_key=x", True),
        ("s3://exports-evil/x", False),
        ("mysql://db.internal:5432/shop", False),
    ],
)
def test_url_allow_list_matches_without_credentials(
    url: str, allowed: bool, tmp_path: Path
) -> None:
    from relgraph.errors import AccessDenied
    from relgraph.service.policy import SourcePolicy

    policy = SourcePolicy(
        allow_urls=["postgresql://db.internal:5432/*", "s3://exports/*"], workspace=tmp_path
    )
    if allowed:
        assert policy.check(url) == url
    else:
        with pytest.raises(AccessDenied):
            policy.check(url)


def test_connection_cli(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from relgraph.cli import app as cli

    d, ws = str(tmp_path / "secrets"), str(tmp_path / "ws")
    url = "postgresql://alice:Cli-Pw-42@db:5432/shop"
    r = CliRunner().invoke(
        cli, ["connection", "add", "wh", "-w", ws, "--secrets-dir", d], input=url
    )
    assert r.exit_code == 0, r.output
    assert "Cli-Pw-42" not in r.output and "conn:wh" in r.output
    r = CliRunner().invoke(cli, ["connection", "list", "--json", "-w", ws, "--secrets-dir", d])
    assert json.loads(r.stdout) == [
        {"name": "wh", "url": "postgresql://alice:***@db:5432/shop", "source": "conn:wh"}
    ]
    bad = CliRunner().invoke(cli, ["connection", "add", "../x", "--url", url, "--secrets-dir", d])
    assert bad.exit_code != 0 and "invalid connection name" in bad.output
    assert (
        CliRunner().invoke(cli, ["connection", "remove", "wh", "--secrets-dir", d]).exit_code == 0
    )
    assert (
        CliRunner().invoke(cli, ["connection", "remove", "wh", "--secrets-dir", d]).exit_code == 1
    )
