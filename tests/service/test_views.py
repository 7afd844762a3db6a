"""The dashboard's read-only views (/api/v1/views): histograms, table browsing, snapshot
diffs, a model's evaluation and predictions joined to entity names."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from relgraph.service import TokenStore, create_app
from tests.service.conftest import auth

V = "/api/v1/views"


# -- tables (the F1 workspace) -----------------------------------------------------------
def test_numeric_histogram_counts_every_row(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get(
        f"{V}/snapshots/latest/tables/results/histogram/points", headers=auth(tokens["viewer"])
    )
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["kind"] == "numeric" and len(h["counts"]) == 20 and len(h["edges"]) == 21
    assert sum(h["counts"]) + h["nulls"] == 27_178  # results has 27,178 rows
    assert h["edges"][0] == 0.0 and h["edges"][-1] == 50.0


def test_categorical_and_date_histograms(client: TestClient, tokens: dict[str, str]) -> None:
    base = f"{V}/snapshots/latest/tables/drivers/histogram"
    cat = client.get(f"{base}/nationality", headers=auth(tokens["viewer"])).json()
    assert cat["kind"] == "categorical" and cat["values"][0] == "British"
    assert cat["counts"] == sorted(cat["counts"], reverse=True) and cat["distinct"] == 43
    dob = client.get(f"{base}/dob?bins=10", headers=auth(tokens["viewer"])).json()
    assert dob["kind"] == "temporal" and dob["edges"][0].startswith("1896-12-28")
    assert sum(dob["counts"]) + dob["nulls"] == 864


@pytest.mark.parametrize("column", ["no_such", 'x" FROM x; --', "_rg_nope"])
def test_histogram_of_an_unknown_column_is_404(
    client: TestClient, tokens: dict[str, str], column: str
) -> None:
    r = client.get(
        f"{V}/snapshots/latest/tables/drivers/histogram/{column}", headers=auth(tokens["viewer"])
    )
    assert r.status_code == 404


def test_table_rows_search_sort_and_hidden_columns(
    client: TestClient, tokens: dict[str, str]
) -> None:
    base = f"{V}/snapshots/latest/tables/drivers/rows"
    r = client.get(f"{base}?q=hamilton&limit=5", headers=auth(tokens["viewer"])).json()
    assert r["total"] >= 1 and any(row["surname"] == "Hamilton" for row in r["items"])
    assert not any(c.startswith("_rg_") for c in r["columns"])
    s = client.get(f"{base}?sort=dob&desc=true&limit=3", headers=auth(tokens["viewer"])).json()
    dobs = [row["dob"] for row in s["items"]]
    assert dobs == sorted(dobs, reverse=True) and s["total"] == 864
    bad = client.get(f"{base}?sort=nope", headers=auth(tokens["viewer"]))
    assert bad.status_code == 422


def test_views_need_a_token(client: TestClient) -> None:
    assert client.get(f"{V}/snapshots/latest/tables/drivers/rows").status_code == 401
    assert client.get(f"{V}/snapshots/latest/diff/latest").status_code == 401


def test_diff_of_a_snapshot_with_itself_is_unchanged(
    client: TestClient, tokens: dict[str, str]
) -> None:
    d = client.get(f"{V}/snapshots/latest/diff/latest", headers=auth(tokens["viewer"])).json()
    assert d["changed"] is False and {t["status"] for t in d["tables"]} == {"unchanged"}


# -- a trained model (the planted shop, shared with the browser tests) ------------------------
@pytest.fixture(scope="module")
def shop(shop_workspace: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    store = TokenStore(shop_workspace)
    toks = {r: store.create(r, name=f"views {r}").token for r in ("viewer", "editor")}
    app = create_app(shop_workspace)
    with TestClient(app) as c:
        yield c, toks, shop_workspace
    app.state.relgraph.runner.shutdown()


def _model(ws: Path) -> tuple[str, dict]:  # type: ignore[type-arg]
    (d,) = (ws / "models").iterdir()
    return d.name, json.loads((d / "model.json").read_text())


@pytest.mark.slow
def test_evaluation_recomputes_the_stored_test_score(
    shop: tuple[TestClient, dict[str, str], Path],
) -> None:
    """The curves come from the stored test predictions joined to labels recomputed from
    the snapshot: their AUROC must be the one the trainer recorded for that candidate."""
    c, toks, ws = shop
    model_id, model = _model(ws)
    ev = c.get(f"{V}/models/{model_id}/evaluation", headers=auth(toks["viewer"])).json()
    selected = model["selected"]
    stored = model["candidates"][selected]["scores"][model["protocol"]]["test"]["auroc"]
    assert ev["test"]["kind"] == "binary"
    assert ev["test"]["auroc"] == pytest.approx(stored, abs=1e-9)
    assert ev["test"]["n"] == model["rows"]["test"]
    roc = ev["test"]["roc"]
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    cm = ev["test"]["confusion"]["matrix"]
    assert sum(map(sum, cm)) == ev["test"]["n"] and sum(cm[1]) == ev["test"]["positives"]
    names = {row["model"] for row in ev["candidates"]}
    assert {"lightgbm", "trivial:prior"} <= names
    assert ev["importance"] and ev["importance"][0]["gain"] >= ev["importance"][-1]["gain"]


@pytest.mark.slow
def test_predictions_joined_to_names_searched_and_downloaded(
    shop: tuple[TestClient, dict[str, str], Path],
) -> None:
    c, toks, ws = shop
    model_id, _ = _model(ws)
    base = f"{V}/predictions/{model_id}.test"
    page = c.get(f"{base}/rows?limit=5", headers=auth(toks["viewer"])).json()
    assert "EMBEDDING" not in page["columns"] and page["total"] > 0
    first = page["items"][0]["ENTITY"]
    one = c.get(f"{base}/rows?q={first}", headers=auth(toks["viewer"])).json()
    assert one["total"] >= 1 and {r["ENTITY"] for r in one["items"]} == {first}
    csv = c.get(f"{base}/download?format=csv", headers=auth(toks["viewer"]))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert pacsv.read_csv(io.BytesIO(csv.content)).num_rows == page["total"]
    pqt = c.get(f"{base}/download?format=parquet", headers=auth(toks["viewer"]))
    assert pq.read_table(io.BytesIO(pqt.content)).num_rows == page["total"]
    bad = c.get(f"{base}/download?format=xlsx", headers=auth(toks["viewer"]))
    assert bad.status_code == 422
    assert c.get(f"{V}/predictions/..%2Fetc/rows", headers=auth(toks["viewer"])).status_code in (
        404,
        422,
    )


@pytest.mark.slow
def test_diff_of_two_snapshots_counts_the_new_users(
    shop: tuple[TestClient, dict[str, str], Path],
) -> None:
    c, toks, _ws = shop
    snaps = c.get("/api/v1/snapshots", headers=auth(toks["viewer"])).json()["items"]
    after, before = snaps[0]["snapshot_id"], snaps[1]["snapshot_id"]
    d = c.get(f"{V}/snapshots/{before}/diff/{after}", headers=auth(toks["viewer"])).json()
    users = next(t for t in d["tables"] if t["name"] == "users")
    assert d["changed"] and users["rows_before"] == 60 and users["rows_after"] == 80


DEMO_QUERY = (
    "PREDICT MIN(qualifying.position, 0, 30, days) <= 3\n"
    "FOR EACH drivers.driverId\n"
    "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"
)


def test_label_stats_respect_the_chosen_cutoffs(client: TestClient, tokens: dict[str, str]) -> None:
    """The rows per split are those a train job at the same cut-offs uses (the demo's
    model reports train 1353, val 588, test 726 at 2005-01-01 / 2010-01-01)."""
    body = {"query": DEMO_QUERY, "val_cutoff": "2005-01-01", "test_cutoff": "2010-01-01"}
    r = client.post(f"{V}/label-stats", json=body, headers=auth(tokens["editor"]))
    assert r.status_code == 200, r.text
    rows = {k: v["rows"] for k, v in r.json()["splits"].items()}
    assert rows == {"train": 1353, "val": 588, "test": 726}
    assert r.json()["val_cutoff"].startswith("2005-01-01")
    default = client.post(
        f"{V}/label-stats", json={"query": DEMO_QUERY}, headers=auth(tokens["editor"])
    )
    assert default.json()["splits"]["train"]["rows"] != 1353  # other cut-offs, other rows
    viewer = client.post(f"{V}/label-stats", json=body, headers=auth(tokens["viewer"]))
    assert viewer.status_code == 403
    bad = client.post(
        f"{V}/label-stats", json=body | {"val_cutoff": "2005-13-45"}, headers=auth(tokens["editor"])
    )
    assert bad.status_code == 422 and "not a date" in bad.text
