"""A seeded database that grows by a fixed rate a day, for delta snapshots and graphs.

Day ``d`` holds every row of day ``d - 1`` unchanged and in the same order, plus
``rate`` more users and orders at the end (new users, and new orders that link to
old and new users alike). Items do not change. Rows are drawn once for the last
day and each day is a prefix of them, so any two days agree on their shared rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = datetime(2024, 1, 1)

SCHEMA = """tables:
  users: {primary_key: user_id, time: signup_at, columns: {age: numerical, segment: categorical}}
  items: {primary_key: item_id, time: null, columns: {kind: categorical, price: numerical}}
  orders:
    primary_key: order_id
    time: ordered_at
    foreign_keys: {user_id: users, item_id: items}
    columns: {quantity: numerical}
"""


@dataclass(frozen=True)
class GrowingDatabase:
    """``users`` users and ``orders`` orders on day 0; both grow by ``rate`` a day."""

    users: int = 1000
    orders: int = 5000
    items: int = 50
    rate: float = 0.01
    days: int = 30
    seed: int = 0

    def count(self, base: int, day: int) -> int:
        return round(base * (1.0 + self.rate) ** day)

    def tables(self, day: int) -> dict[str, pa.Table]:
        """The database as of ``day`` (0 .. ``days``)."""
        if not 0 <= day <= self.days:
            raise ValueError(f"day {day} is outside 0..{self.days}")
        rng = np.random.default_rng(self.seed)
        n_users = self.count(self.users, self.days)
        n_orders = self.count(self.orders, self.days)
        # Day each row appears: rows of day k sit after all rows of days < k.
        user_counts = np.array([self.count(self.users, k) for k in range(self.days + 1)])
        order_counts = np.array([self.count(self.orders, k) for k in range(self.days + 1)])
        user_day = np.searchsorted(user_counts, np.arange(n_users), side="right")
        order_day = np.searchsorted(order_counts, np.arange(n_orders), side="right")
        ages = rng.integers(18, 80, n_users)
        segments = rng.choice(np.array(["a", "b", "c"]), n_users)
        # An order links to any user that exists on its day (old ones and that day's new ones).
        order_user = (rng.random(n_orders) * user_counts[order_day]).astype(np.int64)
        order_item = rng.integers(0, self.items, n_orders)
        quantity = rng.integers(1, 5, n_orders)
        seconds = order_day * 86400 + np.sort(rng.integers(0, 86400, n_orders))
        signup = user_day * 86400 + rng.integers(0, 86400, n_users)
        kinds = rng.choice(np.array(["good", "bad"]), self.items)
        prices = rng.uniform(5, 100, self.items).round(2)
        start = np.datetime64(START, "s")
        u, o = user_counts[day], order_counts[day]
        return {
            "users": pa.table(
                {
                    "user_id": pa.array(np.arange(u, dtype=np.int64)),
                    "signup_at": pa.array(start + signup[:u].astype("timedelta64[s]")),
                    "age": pa.array(ages[:u]),
                    "segment": pa.array(segments[:u]),
                }
            ),
            "items": pa.table(
                {
                    "item_id": pa.array(np.arange(self.items, dtype=np.int64)),
                    "kind": pa.array(kinds),
                    "price": pa.array(prices),
                }
            ),
            "orders": pa.table(
                {
                    "order_id": pa.array(np.arange(o, dtype=np.int64)),
                    "user_id": pa.array(order_user[:o]),
                    "item_id": pa.array(order_item[:o]),
                    "quantity": pa.array(quantity[:o]),
                    "ordered_at": pa.array(start + seconds[:o].astype("timedelta64[s]")),
                }
            ),
        }

    def write(self, folder: str | Path, day: int) -> Path:
        """Write day ``day`` as Parquet files plus ``schema.yaml`` into ``folder`` (replacing)."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables(day).items():
            tmp = root / f".{name}.parquet.tmp"
            pq.write_table(table, tmp)
            tmp.replace(root / f"{name}.parquet")
        (root / "schema.yaml").write_text(SCHEMA)
        return root
