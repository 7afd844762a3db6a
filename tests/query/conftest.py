"""Fixtures for the query tests: a tiny hand-made shop snapshot and the F1 snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api
from relgraph.store.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
F1 = ROOT / "examples" / "f1"

# Four users (one signs up late, one has no age), three items, eight orders.
USERS = """user_id,name,country,age,signup
1,ann,FR,31,2020-01-01
2,bob,DE,45,2020-01-10
3,cid,FR,,2020-02-15
4,dan,US,22,2020-03-20
"""
ITEMS = """item_id,category,price
10,book,12.5
11,game,40.0
12,book,8.0
"""
ORDERS = """order_id,user_id,item_id,amount,status,ordered_at
100,1,10,12.5,done,2020-01-05 10:00:00
101,1,11,40.0,done,2020-01-20 09:00:00
102,2,10,12.5,cancelled,2020-01-31 00:00:00
103,2,12,8.0,done,2020-02-01 00:00:00
104,1,12,8.0,done,2020-02-25 12:00:00
105,3,11,40.0,done,2020-03-01 00:00:00
106,2,11,40.0,done,2020-03-02 00:00:00
107,4,10,12.5,cancelled,2020-04-01 00:00:00
"""
SCHEMA = """tables:
  users:
    time: signup
"""


def write_shop(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("users.csv", USERS),
        ("items.csv", ITEMS),
        ("orders.csv", ORDERS),
        ("schema.yaml", SCHEMA),
    ):
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("shop")
    src = write_shop(root / "src")
    return api.ingest(str(src), workspace=root / "ws").snapshot


@pytest.fixture(scope="session")
def f1_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("f1") / "ws"
    api.ingest(str(F1), workspace=ws)
    return ws


@pytest.fixture(scope="session")
def f1(f1_workspace: Path) -> Snapshot:
    return api.snapshot(workspace=f1_workspace)
