from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
# Worker processes import test steps (``steps:emit``) and this checkout's relgraph.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def worker_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{HERE}"
    return env


@pytest.fixture
def write_spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "pipeline.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write


@pytest.fixture
def csv_sources(tmp_path: Path) -> Path:
    """Two tiny CSV sources: ``a/users.csv`` and ``b/items.csv``."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "users.csv").write_text("userId,age\n1,30\n2,41\n3,25\n")
    (tmp_path / "b" / "items.csv").write_text("itemId,price\n1,3.5\n2,4.0\n")
    return tmp_path
