"""POST /sources/{name}/changed: a named source with new data is ingested (as a delta)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from relgraph import api
from relgraph.testing.growing import GrowingDatabase
from tests.service.conftest import auth
from tests.service.test_api import V1, wait_job

DB = GrowingDatabase(users=100, orders=400, rate=0.05, days=1)


def test_changed_source_is_ingested_once_per_change(
    client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    src = workspace.parent / "shop"
    DB.write(src, 0)
    url = f"{V1}/sources/shop/changed"
    # Unknown name: 404; a name that is not a connection name: 422; viewers may not: 403.
    assert client.post(url, headers=auth(tokens["editor"])).status_code == 404
    assert client.post(
        f"{V1}/sources/..%2Fetc/changed", headers=auth(tokens["editor"])
    ).status_code in (404, 422)
    put = client.put(
        f"{V1}/connections/shop", json={"url": str(src)}, headers=auth(tokens["admin"])
    )
    assert put.status_code == 200, put.text
    assert client.post(url, headers=auth(tokens["viewer"])).status_code == 403
    ids = []
    for day in (0, 1, 1):  # the third call: nothing changed
        DB.write(src, day)
        r = client.post(url, headers=auth(tokens["editor"]))
        assert r.status_code == 202, r.text
        job = wait_job(client, tokens["editor"], r.json()["id"])
        assert job["status"] == "succeeded", job
        ids.append(api.snapshots(workspace)[-1].id)
    assert ids[0] != ids[1] == ids[2]
    snaps = {s.id: s for s in api.snapshots(workspace)}
    assert snaps[ids[1]].manifest.storage["orders"] == "delta"
    assert sum(s.manifest.source.startswith("conn:") or s.manifest.source == str(src)
               for s in snaps.values()) == 2  # fmt: skip
    # The REST table pages and stats of the delta snapshot read every part, in order.
    h = auth(tokens["viewer"])
    n0 = DB.count(DB.orders, 0)
    page = client.get(f"{V1}/snapshots/{ids[1]}/tables/orders/rows?limit=6&offset={n0 - 3}",
                      headers=h).json()  # fmt: skip
    assert [r["order_id"] for r in page["items"]] == list(range(n0 - 3, n0 + 3))
    assert page["total"] == DB.count(DB.orders, 1)
    stats = client.get(f"{V1}/snapshots/{ids[1]}/tables/orders/stats", headers=h).json()
    oid = next(c for c in stats["columns"] if c["column"] == "order_id")
    assert str(oid["max"]) == str(DB.count(DB.orders, 1) - 1)  # SUMMARIZE gives text
