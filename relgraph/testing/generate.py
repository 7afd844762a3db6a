"""A seeded generator of relational data whose signal only a 2-hop aggregate reveals.

Users buy items; half of the items are of kind ``bad``. Each user has a hidden
taste for bad items, so the share of bad items among the items they bought before
the anchor time varies from user to user. The label ("stays active") is 1 when that
share is below one half — it is a property of the *items* of the user's *orders*
(users ← orders ← items, two hops). Users' own columns and their orders' own
columns are noise, so a model without the graph scores near chance. Users who stay
active keep ordering after the anchor, so ``COUNT(orders.*, 0, 30, days) > 0`` over
the same data gives the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from relgraph.store.snapshot import Snapshot

ANCHOR = datetime(2024, 6, 1)

SCHEMA = """tables:
  users: {primary_key: user_id, time: null, columns: {age: numerical, segment: categorical}}
  items: {primary_key: item_id, time: null, columns: {kind: categorical, price: numerical}}
  orders:
    primary_key: order_id
    time: ordered_at
    foreign_keys: {user_id: users, item_id: items}
    columns: {quantity: numerical}
"""


@dataclass(frozen=True)
class PlantedData:
    """Where the generated tables are and the planted labels per split.

    Each label table has ``ENTITY`` (user_id), ``ANCHOR_TIMESTAMP`` and ``TARGET``.
    """

    folder: Path
    train: pa.Table
    val: pa.Table
    test: pa.Table
    anchor: datetime


def write_planted(
    folder: str | Path,
    *,
    num_users: int = 300,
    num_items: int = 40,
    orders_per_user: tuple[int, int] = (3, 9),
    seed: int = 0,
) -> PlantedData:
    """Write users/items/orders CSVs with the planted 2-hop signal; returns labels per split."""
    rng = np.random.default_rng(seed)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    # 1. Entities: user columns and item prices are pure noise.
    ages = rng.integers(18, 80, num_users)
    segments = rng.choice(["a", "b", "c"], num_users)
    bad = np.zeros(num_items, dtype=bool)
    bad[rng.permutation(num_items)[: num_items // 2]] = True
    prices = rng.uniform(5, 100, num_items).round(2)
    taste = rng.uniform(0.0, 1.0, num_users)
    # 2. Past orders: each user picks bad items with probability = taste.
    rows: list[tuple[int, int, int, int, str]] = []
    labels = np.zeros(num_users, dtype=np.float64)
    oid = 0
    bad_ids, good_ids = np.flatnonzero(bad), np.flatnonzero(~bad)
    for u in range(num_users):
        n = int(rng.integers(orders_per_user[0], orders_per_user[1] + 1))
        picks_bad = rng.random(n) < taste[u]
        items = np.where(picks_bad, rng.choice(bad_ids, n), rng.choice(good_ids, n))
        days = np.sort(rng.uniform(1, 150, n))
        for it, d in zip(items, days, strict=True):
            t = ANCHOR - timedelta(days=float(d))
            rows.append((oid, u, int(it), int(rng.integers(1, 5)), f"{t:%Y-%m-%d %H:%M:%S}"))
            oid += 1
        labels[u] = float(picks_bad.mean() < 0.5)
        # 3. Future orders for users who stay active (so the PQL label agrees).
        if labels[u] == 1.0:
            t = ANCHOR + timedelta(days=float(rng.uniform(1, 29)))
            it = int(rng.choice(good_ids))
            rows.append((oid, u, it, int(rng.integers(1, 5)), f"{t:%Y-%m-%d %H:%M:%S}"))
            oid += 1
    (root / "users.csv").write_text(
        "user_id,age,segment\n"
        + "".join(f"{u},{ages[u]},{segments[u]}\n" for u in range(num_users))
    )
    (root / "items.csv").write_text(
        "item_id,kind,price\n"
        + "".join(f"{i},{'bad' if bad[i] else 'good'},{prices[i]}\n" for i in range(num_items))
    )
    (root / "orders.csv").write_text(
        "order_id,user_id,item_id,quantity,ordered_at\n"
        + "".join(f"{o},{u},{i},{q},{t}\n" for o, u, i, q, t in rows)
    )
    (root / "schema.yaml").write_text(SCHEMA)
    # 4. Splits by user (one anchor time): 60% / 20% / 20%.
    order = rng.permutation(num_users)
    cut1, cut2 = int(0.6 * num_users), int(0.8 * num_users)

    def table(idx: np.ndarray) -> pa.Table:
        idx = np.sort(idx)
        return pa.table(
            {
                "ENTITY": pa.array(idx.astype(np.int64)),
                "ANCHOR_TIMESTAMP": pa.array([ANCHOR] * len(idx), pa.timestamp("us")),
                "TARGET": pa.array(labels[idx]),
            }
        )

    return PlantedData(
        folder=root,
        train=table(order[:cut1]),
        val=table(order[cut1:cut2]),
        test=table(order[cut2:]),
        anchor=ANCHOR,
    )


def planted_snapshot(workspace: str | Path, **kwargs: int) -> tuple[Snapshot, PlantedData]:
    """Generate the planted data, ingest it into ``workspace`` and return both."""
    from relgraph import api

    data = write_planted(Path(workspace) / "planted-src", **kwargs)  # type: ignore[arg-type]
    return api.ingest(str(data.folder), workspace=workspace).snapshot, data
