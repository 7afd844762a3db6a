"""The labels REST API through the SDK (``relgraph.client.Client``): roles (403), 409 on a
second label, unknown keys reported; and a real ``relgraph serve`` killed with ``-9``
right after answering loses no label."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from relgraph.client import Client, ServiceError
from relgraph.labels import LabelStore
from relgraph.service import TokenStore, create_app
from relgraph.testing.shop import shop_snapshot
from tests.service.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def test_labels_over_rest_with_roles_and_conflicts(tmp_path: Path) -> None:
    shop_snapshot(tmp_path)
    store = TokenStore(tmp_path)
    admin = store.create("admin", name="boss").token
    ann = store.create("viewer", name="ann").token
    eve = store.create("editor", name="eve").token
    app = create_app(tmp_path, job_workers=0)
    with LiveServer(app) as srv:
        boss = Client(srv.url, admin)
        boss.create_label_project("tier", table="users", schema={"classes": ["gold", "basic"]})
        boss.add_label_stage("tier", "first", labelers=["ann"])
        res = boss.add_label_items("tier", "first", [1, 2, 3, 404])
        assert (res["added"], res["unknown"]) == (3, ["404"])
        a, e = Client(srv.url, ann), Client(srv.url, eve)
        assert [p["id"] for p in a.label_projects()] == ["tier"]
        assert e.label_projects() == []
        for call in (
            lambda: e.label_project("tier"),
            lambda: e.next_label_item("tier", "first"),
            lambda: e.submit_label("tier", "first", 1, "gold"),
            lambda: e.label_project("missing"),
        ):
            with pytest.raises(ServiceError) as denied:
                call()
            assert denied.value.status == 403
        with pytest.raises(ServiceError) as bad:
            a.submit_label("tier", "first", 1, "platinum")
        assert bad.value.status == 422 and "'platinum' is not a class" in str(bad.value)
        assert a.next_label_item("tier", "first")["key"] == "1"
        assert a.submit_label("tier", "first", 1, "gold")["done"]
        with pytest.raises(ServiceError) as twice:
            boss.submit_label("tier", "first", 1, "basic")
        assert twice.value.status == 409
        with pytest.raises(ServiceError) as viewer_export:
            a.export_label_set("tier", "v1")
        assert viewer_export.value.status == 403
        man = boss.export_label_set("tier", "v1")
        assert man["rows"] == 1 and len(man["content_hash"]) == 64
        assert [s["version"] for s in a.label_sets("tier")] == ["v1"]
        assert a.label_progress("tier", "first")["done"] == 1
        # keyset pages through the SDK (pages of one, so 'next' is followed)
        from relgraph import client as sdk

        page, sdk.PAGE = sdk.PAGE, 1
        try:
            assert [i["key"] for i in a.label_queue("tier", "first")] == ["1", "2", "3"]
            assert [i["key"] for i in a.label_queue("tier", "first", done=False)] == ["2", "3"]
        finally:
            sdk.PAGE = page
        with pytest.raises(ServiceError) as bad_token:
            a._get("/label-projects/tier/stages/first/items", after="junk")
        assert bad_token.value.status == 422 and "not a queue page token" in str(bad_token.value)
    app.state.relgraph.runner.shutdown()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_kill_9_after_the_answer_loses_no_label(tmp_path: Path) -> None:
    shop_snapshot(tmp_path)
    token = TokenStore(tmp_path).create("admin", name="boss").token
    ls = LabelStore.open(tmp_path)
    ls.create_project("tier", table="users", schema={"classes": ["gold", "basic"]})
    ls.add_stage("tier", "first", labelers=["boss"])
    ls.add_items("tier", "first", [1, 2, 3, 4])
    ls.db.dispose()
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    args = ["serve", "--port", str(port), "-w", str(tmp_path), "--secrets-dir", str(tmp_path / "s")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "relgraph", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with Client(url, token) as c:
            answered = [c.submit_label("tier", "first", k, "gold")["key"] for k in (1, 2, 3)]
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = LabelStore.open(tmp_path)
    assert sorted(r["key"] for r in after.labels("tier")) == answered == ["1", "2", "3"]
