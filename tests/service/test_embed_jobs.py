"""The embed, cluster and pretrain job kinds: end to end through the SDK against a live
server (on the small planted dataset), and their parameter errors through REST."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

import relgraph
from relgraph import api
from relgraph.client import ServiceError
from relgraph.errors import JobError
from relgraph.jobs import kinds, outputs, params, registry
from tests.service.conftest import LiveServer, auth
from tests.service.test_api import wait_job

V1 = "/api/v1"
QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"
USERS = 60
ITEMS = 15
# The smallest training budget: the existing service train test's one minute is a cap;
# on this data the 'fast' preset trains in a few seconds.
TRAIN = {"budget": "fast", "minutes": 1, "predict": False}
needs_train = pytest.mark.skipif(
    not hasattr(api, "train"), reason="this build has no relgraph.api.train"
)


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    from relgraph.testing import planted_snapshot

    ws = tmp_path / "planted"
    planted_snapshot(ws, num_users=USERS, num_items=ITEMS)
    return ws


@pytest.fixture
def planted_server(planted: Path) -> Iterator[tuple[LiveServer, str, Path]]:
    from relgraph.service import TokenStore, create_app

    app = create_app(planted)
    token = TokenStore(planted).create("editor").token
    with LiveServer(app) as srv:
        yield srv, token, planted
    app.state.relgraph.runner.shutdown()


def _embeddings_output(workspace: Path, points: np.ndarray) -> str:
    """An embeddings output made the way an embed job stores one (ENTITY, embedding)."""
    dim = points.shape[1]
    flat = pa.array(points.astype(np.float32).reshape(-1))
    table = pa.table(
        {
            "ENTITY": pa.array(list(range(len(points))), pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )
    return outputs.register_output(workspace, "embeddings", table, {"table": "things"})


def _post_job(client: TestClient, token: str, kind: str, params: dict[str, Any]) -> Any:
    return client.post(f"{V1}/jobs", headers=auth(token), json={"kind": kind, "params": params})


# -- end to end through the SDK ------------------------------------------------------------
@needs_train
def test_train_embed_cluster_through_the_sdk(
    planted_server: tuple[LiveServer, str, Path],
) -> None:
    srv, token, ws = planted_server
    with relgraph.Client(srv.url, token) as rg:
        kinds = rg._get("/jobs/kinds")["kinds"]
        assert {"embed", "cluster", "pretrain", "train"} <= set(kinds)
        model_id = rg.train(QUERY, **TRAIN).result["model_id"]

        emb = rg.embed(model_id)
        assert emb.kind == "embed" and emb.status == "succeeded"
        res = emb.result
        assert (res["model_id"], res["table"], res["rows"]) == (model_id, "users", USERS)
        rows = rg.embeddings(res["output_id"])
        assert rows.num_rows == USERS
        assert sorted(rows.column("ENTITY").to_pylist()) == list(range(USERS))
        assert {len(v) for v in rows.column("embedding").to_pylist()} == {res["dim"]}
        listed = {e["id"]: e for e in rg._pages("/embeddings")}
        assert listed[res["output_id"]]["rows"] == USERS
        assert listed[res["output_id"]]["has_projection"]
        assert rg.projection(res["output_id"]).num_rows == USERS
        # Another table's rows through the same trunk; a table that is not there fails.
        items = rg.embed(model_id, table="items", at="test").result
        assert (items["table"], items["rows"]) == ("items", ITEMS)
        with pytest.raises(JobError, match="cannot embed table 'nope'"):
            rg.embed(model_id, table="nope")

        cl = rg.cluster(res["output_id"], k=3, seed=1)
        sizes = cl.result["sizes"]
        assert sorted(sizes) == ["cluster_0", "cluster_1", "cluster_2"]
        assert sum(sizes.values()) == USERS
        labelled = rg.embeddings(cl.result["output_id"])
        got = labelled.column("cluster_label").to_pylist()
        assert {c: got.count(c) for c in set(got)} == sizes
        # The same clusters as the facade's k-means over the vectors the server handed out.
        local = ws / "check.parquet"
        pq.write_table(rows.select(["ENTITY", "embedding"]), local)
        want = api.cluster(local, k=3, seed=1)
        want_of = dict(
            zip(
                want.column("ENTITY").to_pylist(),
                want.column("cluster_label").to_pylist(),
                strict=True,
            )
        )
        assert dict(zip(labelled.column("ENTITY").to_pylist(), got, strict=True)) == want_of
        proj = rg.projection(cl.result["output_id"])
        assert sorted(set(proj.column("cluster").to_pylist())) == sorted(sizes)

        # A trainer's predictions carry embeddings too (``EMBEDDING``): they cluster as well.
        preds = rg.predict(model_id).result["predictions"]
        n = rg.predictions(preds).num_rows
        cl = rg.cluster(preds, k=2)
        assert sum(cl.result["sizes"].values()) == n > 0
        info = rg._get(f"/embeddings/{cl.result['output_id']}")
        assert info["table"] == "users" and info["source"] == preds


@needs_train
def test_pretrain_then_train_from_the_trunk(
    planted_server: tuple[LiveServer, str, Path],
) -> None:
    srv, token, _ = planted_server
    with relgraph.Client(srv.url, token) as rg:
        pre = rg.pretrain(budget="fast", steps=3, batch_size=16, seed=0)
        pid = pre.result["pretrained_id"]
        assert pre.result["steps"] == 3 and "path" not in pre.result
        assert np.isfinite([pre.result["loss_start"], pre.result["loss_end"]]).all()
        job = rg.train(QUERY, from_pretrained=pid, **TRAIN)
        assert job.result["pretraining"]["pretrained_id"] == pid
        assert job.result["pretraining"]["loaded_tensors"] > 0
        with pytest.raises(ServiceError, match="no pretrained trunk 'nope-trunk'") as e:
            rg.train(QUERY, from_pretrained="nope-trunk", **TRAIN)
        assert e.value.status == 422


# -- cluster on a hand-made embeddings output (no training) -------------------------------
def test_cluster_job_finds_planted_groups(
    client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 0.0]])
    group = np.repeat([0, 1], 10)
    oid = _embeddings_output(workspace, centres[group] + rng.normal(0, 0.1, (20, 3)))
    r = _post_job(client, tokens["editor"], "cluster", {"embeddings": oid, "k": 2})
    assert r.status_code == 202, r.json()
    done = wait_job(client, tokens["editor"], r.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["sizes"] == {"cluster_0": 10, "cluster_1": 10}
    out = done["result"]["output_id"]
    page = client.get(f"{V1}/embeddings/{out}/rows?limit=100", headers=auth(tokens["viewer"]))
    by_entity = {row["ENTITY"]: row["cluster_label"] for row in page.json()["items"]}
    # Every planted group is one cluster.
    assert len({by_entity[i] for i in range(10)}) == len({by_entity[i] for i in range(10, 20)}) == 1
    assert by_entity[0] != by_entity[10]
    info = client.get(f"{V1}/embeddings/{out}", headers=auth(tokens["viewer"])).json()
    assert info["source"] == oid and info["k"] == 2 and info["has_projection"]


def test_cluster_with_more_clusters_than_rows_fails_naming_both(
    client: TestClient, tokens: dict[str, str], workspace: Path
) -> None:
    oid = _embeddings_output(workspace, np.eye(3))
    r = _post_job(client, tokens["editor"], "cluster", {"embeddings": oid, "k": 5})
    done = wait_job(client, tokens["editor"], r.json()["id"])
    assert done["status"] == "failed"
    assert "cannot make 5 clusters from 3 embeddings" in done["error"]


# -- parameter errors: refused on submit, naming the bad value ----------------------------
@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("embed", {}, "job parameter 'model_id' is required"),
        ("embed", {"model_id": "nope-model"}, "no model 'nope-model'"),
        ("embed", {"model_id": 7}, "'model_id' must be a str, got int"),
        ("cluster", {"embeddings": "emb-missing1", "k": 3}, "no embeddings 'emb-missing1'"),
        ("cluster", {"k": 3}, "job parameter 'embeddings' is required"),
        ("cluster", {"embeddings": "x", "k": 1}, "'k' must be within 2..100, got 1"),
        ("cluster", {"embeddings": "x", "k": 101}, "'k' must be within 2..100, got 101"),
        ("pretrain", {"stepz": 3}, "unknown pretrain job parameter(s) ['stepz']"),
        ("pretrain", {"steps": 0}, "'steps' must be at least 1, got 0"),
        ("pretrain", {"tables": "users"}, "'tables' must be a list, got str"),
        ("train", {"query": QUERY, "from_pretrained": "nope-trunk"}, "'nope-trunk'"),
        ("predict", {}, "job parameter 'model_id' is required"),
        ("predict", {"model_id": "nope-model"}, "no model 'nope-model'"),
        ("predict", {"model_id": "nope-model", "split": "val"}, "'split' must be one of test, now"),
    ],
)
def test_bad_parameters_are_refused_on_submit(
    client: TestClient, tokens: dict[str, str], kind: str, params: dict[str, Any], message: str
) -> None:
    if kind not in client.get(f"{V1}/jobs/kinds", headers=auth(tokens["viewer"])).json()["kinds"]:
        pytest.skip(f"this build has no '{kind}' job kind")
    before = client.get(f"{V1}/jobs", headers=auth(tokens["viewer"])).json()["total"]
    r = _post_job(client, tokens["editor"], kind, params)
    assert r.status_code == 422, r.json()
    assert message in r.json()["message"]
    # Nothing was queued.
    assert client.get(f"{V1}/jobs", headers=auth(tokens["viewer"])).json()["total"] == before


def test_cluster_refuses_a_projection_only_output(
    client: TestClient, tokens: dict[str, str]
) -> None:
    r = _post_job(client, tokens["editor"], "project", {"table": "drivers", "k": 2})
    proj = wait_job(client, tokens["editor"], r.json()["id"])
    assert proj["status"] == "succeeded", proj["error"]
    oid = proj["result"]["output_id"]
    r = _post_job(client, tokens["editor"], "cluster", {"embeddings": oid, "k": 2})
    assert r.status_code == 422
    assert f"output '{oid}' holds a 3-D projection only" in r.json()["message"]


def test_predict_splits_match_the_predictor() -> None:
    run = pytest.importorskip("relgraph.predict.run")
    assert params.PREDICT_SPLITS == run.SPLITS


def test_trunk_layout_matches_the_trainer() -> None:
    pretrain = pytest.importorskip("relgraph.train.pretrain")
    assert (kinds.PRETRAINED, kinds.PRETRAIN_JSON) == (
        pretrain.PRETRAINED,
        pretrain.PRETRAIN_JSON,
    )


def test_a_checked_job_checks_again_when_it_runs() -> None:
    """A retried job skips submit: its parameters are checked again before it runs."""
    ran: list[dict[str, Any]] = []

    @dataclass(frozen=True)
    class KParams(params.Params):
        k: int = 0

    def check(p: KParams, env: registry.Env) -> None:
        if p.k < 2:
            raise JobError(f"job parameter 'k' must be at least 2, got {p.k}")

    def run(ctx: Any, p: KParams) -> dict[str, Any]:
        ran.append(p.to_dict())
        return {}

    kind = registry.Kind("k", KParams, run, check=check)
    job = registry.ServiceKind(kind, registry.Env(Path("unused")))
    with pytest.raises(JobError, match="got 1"):
        job(None, {"k": 1})  # type: ignore[arg-type]
    assert ran == []
    assert job(None, {"k": 2}) == {} and ran == [{"k": 2}]  # type: ignore[arg-type]
