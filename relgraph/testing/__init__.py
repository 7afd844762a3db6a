"""Test data shipped with relgraph: a tiny shop and a seeded generator with planted signal.

Example:
    >>> import tempfile
    >>> folder = write_shop(tempfile.mkdtemp())
    >>> sorted(p.name for p in folder.glob("*.csv"))
    ['items.csv', 'orders.csv', 'users.csv']
"""

from __future__ import annotations

from relgraph.testing.generate import PlantedData, planted_snapshot, write_planted
from relgraph.testing.shop import shop_snapshot, write_shop

__all__ = ["PlantedData", "planted_snapshot", "shop_snapshot", "write_planted", "write_shop"]
