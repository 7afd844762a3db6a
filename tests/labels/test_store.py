"""Label projects, queues, labels, label sets, agreement and seeding on a real metadata DB
(SQLite, and PostgreSQL where it is cheap) over the shop snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select

from relgraph.errors import AccessDenied, LabelConflict, LabelError, StoreError
from relgraph.jobs.db import MetaDB
from relgraph.jobs.models import Event
from relgraph.labels import LabelStore, Who
from relgraph.labels.agreement import agreement
from relgraph.labels.seed import seed
from relgraph.labels.sets import export
from relgraph.store import labelsets
from relgraph.testing.shop import shop_snapshot

ANN, BOB, EVE = Who.of("ann"), Who.of("bob"), Who.of("eve")


@pytest.fixture
def ls(tmp_path: Path) -> LabelStore:
    shop_snapshot(tmp_path)
    store = LabelStore.open(tmp_path)
    store.create_project(
        "tier",
        table="users",
        schema={
            "classes": ["gold", "basic"],
            "attributes": [{"name": "confidence", "kind": "confidence"}],
        },
        guidelines="Gold customers buy every month.",
    )
    store.add_stage("tier", "first", labelers=["ann", "bob"])
    return store


def test_labels_are_checked_against_the_schema_and_unknown_keys_reported(ls: LabelStore) -> None:
    res = ls.add_items("tier", "first", [1, 2, 3, 999, "x"])
    assert (res.added, res.unknown) == (3, ["999", "x"])
    assert ls.add_items("tier", "first", [1]).already == 1
    with pytest.raises(LabelError, match=r"'platinum' is not a class.*gold, basic"):
        ls.submit("tier", "first", 1, {"value": "platinum"}, who=ANN)
    with pytest.raises(LabelError, match="confidence between 0 and 1"):
        ls.submit("tier", "first", 1, {"value": "gold", "attributes": {"confidence": 2}}, who=ANN)
    with pytest.raises(LabelError, match="not in the queue"):
        ls.submit("tier", "first", 999, {"value": "gold"}, who=ANN)
    assert ls.labels("tier") == []


def test_first_label_wins_with_a_conflict_and_nothing_is_lost(ls: LabelStore) -> None:
    ls.add_items("tier", "first", [1, 2])
    assert ls.next_item("tier", "first", who=ANN)["key"] == "1"
    assert ls.next_item("tier", "first", who=BOB)["key"] == "1"  # both see it
    assert ls.submit("tier", "first", 1, {"value": "gold"}, who=ANN)["done"]
    with pytest.raises(LabelConflict, match="first saved wins"):
        ls.submit("tier", "first", 1, {"value": "basic"}, who=BOB)
    assert [r["value"] for r in ls.labels("tier")] == ["gold"]
    assert ls.next_item("tier", "first", who=BOB)["key"] == "2"


def test_a_labeler_sees_only_their_projects_and_stages(ls: LabelStore) -> None:
    ls.add_stage("tier", "expert", labelers=["eve"])
    ls.add_items("tier", "first", [1])
    with pytest.raises(AccessDenied):
        ls.submit("tier", "first", 1, {"value": "gold"}, who=EVE)
    with pytest.raises(AccessDenied):
        ls.queue("tier", "first", who=EVE)
    with pytest.raises(AccessDenied):
        ls.project("tier", who=Who.of("mallory"))
    with pytest.raises(AccessDenied):  # same answer whether the project exists or not
        ls.project("nope", who=Who.of("mallory"))
    assert [s["name"] for s in ls.project("tier", who=EVE)["stages"]] == ["expert"]
    assert ls.projects(who=Who.of("mallory")) == []


def test_a_watching_stage_gets_filtered_items_and_milestones_fire_once(ls: LabelStore) -> None:
    ls.add_stage("tier", "expert", labelers=["eve"], watches="first", filter={"confidence_lt": 0.8})
    ls.add_items("tier", "first", [1, 2, 3, 4])
    ls.submit("tier", "first", 1, {"value": "gold", "attributes": {"confidence": 0.5}}, who=ANN)
    ls.submit("tier", "first", 2, {"value": "basic", "attributes": {"confidence": 0.9}}, who=ANN)
    q = ls.queue("tier", "expert", who=EVE)
    assert [i["key"] for i in q["items"]] == ["1"]
    assert q["items"][0]["suggestion"]["value"] == "gold"
    for k in (3, 4):
        ls.submit("tier", "first", k, {"value": "gold"}, who=BOB)
    events = ls.db.read(lambda s: [json.loads(e.message) for e in s.scalars(select(Event))])
    kinds = [(e["event"], e.get("milestone")) for e in events if e["event"] != "item.completed"]
    assert kinds == [
        ("stage.progress", 25),
        ("stage.progress", 50),
        ("stage.progress", 75),
        ("stage.complete", 100),
    ]
    assert ls.progress("tier", "first")["percent"] == 100.0


def test_label_sets_are_immutable_content_hashed_and_copy_on_write(ls: LabelStore) -> None:
    ls.add_items("tier", "first", [1, 2, 3])
    ls.submit("tier", "first", 1, {"value": "gold"}, who=ANN)
    v1 = export(ls, "tier", "v1")
    assert v1.rows == 1 and v1.parent is None
    assert export(ls, "tier", "v1").content_hash == v1.content_hash  # same content: no-op
    ls.submit("tier", "first", 2, {"value": "basic"}, who=ANN)
    with pytest.raises(StoreError, match="immutable"):
        export(ls, "tier", "v1")
    v2 = export(ls, "tier", "v2")
    assert (v2.rows, v2.parent) == (2, "v1")
    t, man = labelsets.read_version(ls.workspace, "tier", "v1")
    assert t["key"].to_pylist() == ["1"] and man.content_hash == v1.content_hash
    t2, _ = labelsets.read_version(ls.workspace, "tier")
    assert dict(zip(t2["key"].to_pylist(), t2["label"].to_pylist(), strict=True)) == {
        "1": "gold",
        "2": "basic",
    }


def test_overlap_keeps_both_labels_and_agreement_uses_the_libraries(ls: LabelStore) -> None:
    ls.add_stage("tier", "double", labelers=["ann", "bob", "eve"], overlap=3)
    ls.add_items("tier", "double", [1, 2, 3, 4])
    answers = {
        "ann": ["gold", "gold", "basic", "basic"],
        "bob": ["gold", "basic", "basic", "basic"],
        "eve": ["gold", "gold", "basic", "gold"],
    }
    for name, values in answers.items():
        for k, v in zip([1, 2, 3, 4], values, strict=True):
            ls.submit("tier", "double", k, {"value": v}, who=Who.of(name))
    with pytest.raises(LabelConflict):
        ls.submit("tier", "double", 1, {"value": "gold"}, who=Who.of("zed", admin=True))
    # Gold: the truth for three keys, in a label set named "gold".
    gold = pa.table(
        {
            "key": ["1", "2", "3"],
            "label": ["gold", "gold", "basic"],
            "confidence": [1.0] * 3,
            "labeler": ["x"] * 3,
            "stage": ["g"] * 3,
            "labeled_at": ["t"] * 3,
        }
    )
    export(ls, "tier", "gold", table=gold, parent=None)
    a = agreement(ls, "tier", "double")
    from sklearn.metrics import cohen_kappa_score

    ab = next(p for p in a["cohen"] if (p["a"], p["b"]) == ("ann", "bob"))
    assert ab["cohen_kappa"] == pytest.approx(cohen_kappa_score(answers["ann"], answers["bob"]))
    assert a["fleiss"]["raters"] == 3 and -1 <= a["fleiss"]["kappa"] <= 1
    assert a["accuracy"]["bob"] == {"items": 3, "accuracy": 2 / 3}
    assert a["accuracy"]["ann"]["accuracy"] == 1.0


def test_seeding_orders_by_uncertainty_with_suggestions(ls: LabelStore) -> None:
    pred = pa.table(
        {
            "ENTITY": [1, 2, 3, 4],
            "PREDICTION": [True, False, True, False],
            "TRUE_PROB": [0.9, 0.45, 0.6, 0.02],
            "MODEL_ID": ["m"] * 4,
        }
    )
    res = seed(ls, "tier", "first", pred, order="uncertainty", positive="gold")
    assert res.added == 4
    q = ls.queue("tier", "first")["items"]
    assert [i["key"] for i in q] == ["2", "3", "1", "4"]
    assert q[0]["suggestion"]["value"] == "basic" and q[1]["suggestion"]["value"] == "gold"
    other = pred.set_column(2, "TRUE_PROB", pa.array([0.1, 0.45, 0.6, 0.02]))
    ls.add_stage("tier", "dis", labelers=["ann"])
    seed(ls, "tier", "dis", pred, order="disagreement", other=other, positive="gold")
    assert ls.queue("tier", "dis")["items"][0]["key"] == "1"


def test_postgres_metadata_db_keeps_the_first_label(tmp_path: Path, meta_url: str) -> None:
    shop_snapshot(tmp_path)
    store = LabelStore(MetaDB.open(meta_url), tmp_path)
    store.create_project("tier", table="users", schema={"classes": ["gold", "basic"]})
    store.add_stage("tier", "first", labelers=["ann", "bob"])
    store.add_items("tier", "first", [1, 2])
    store.submit("tier", "first", 1, {"value": "gold"}, who=ANN)
    with pytest.raises(LabelConflict):
        store.submit("tier", "first", 1, {"value": "basic"}, who=BOB)
    assert export(store, "tier", "v1").rows == 1
    store.db.dispose()
