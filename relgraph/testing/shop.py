"""A tiny hand-written shop database: 4 users, 4 items, 8 orders with real foreign keys."""

from __future__ import annotations

from pathlib import Path

from relgraph.store.snapshot import Snapshot

USERS = """user_id,name,age,country
1,Ada,36,UK
2,Grace,45,US
3,Linus,28,FI
4,Margaret,52,US
"""

ITEMS = """item_id,title,category,price
10,red mug,kitchen,8.5
11,blue kettle,kitchen,32.0
12,rain jacket,clothing,79.9
13,wool socks,clothing,12.0
"""

ORDERS = """order_id,user_id,item_id,quantity,ordered_at
100,1,10,2,2024-01-03 10:00:00
101,1,12,1,2024-01-20 12:30:00
102,2,11,1,2024-01-05 09:15:00
103,2,13,3,2024-02-02 18:00:00
104,3,10,1,2024-02-10 08:00:00
105,1,13,2,2024-02-14 14:45:00
106,4,12,1,2024-03-01 11:00:00
107,2,10,4,2024-03-09 16:20:00
"""

SCHEMA = """tables:
  users:
    primary_key: user_id
    time: null
    columns: {name: text, age: numerical, country: categorical}
  items:
    primary_key: item_id
    time: null
    columns: {title: text, category: categorical, price: numerical}
  orders:
    primary_key: order_id
    time: ordered_at
    foreign_keys: {user_id: users, item_id: items}
    columns: {quantity: numerical}
"""


def write_shop(folder: str | Path) -> Path:
    """Write the shop as CSV files plus a ``schema.yaml`` into ``folder``."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("users", USERS), ("items", ITEMS), ("orders", ORDERS)):
        (root / f"{name}.csv").write_text(text)
    (root / "schema.yaml").write_text(SCHEMA)
    return root


def shop_snapshot(workspace: str | Path) -> Snapshot:
    """Ingest the shop into ``workspace`` (idempotent) and return its snapshot."""
    from relgraph import api

    src = write_shop(Path(workspace) / "shop-src")
    return api.ingest(str(src), workspace=workspace).snapshot
