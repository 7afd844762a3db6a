"""The feature cache round-trips through ``torch.load(weights_only=True)`` without a warning.

A timestamp feature column is what used to break it: pytorch-frame's YEAR_RANGE
statistic holds NumPy integers, which the safe loader refuses, so ``torch_frame.load``
warned "Weights only load failed" and unpickled the file unsafely.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch_frame
from torch_frame.data.stats import StatType

from relgraph import api
from relgraph.graph.features import FEATURES_VERSION, FeatureSet, build_features
from relgraph.store.paths import table_stem
from relgraph.store.snapshot import Snapshot

PEOPLE = """person_id,born,height,team
1,1980-02-01,1.80,red
2,1991-07-12,1.65,blue
3,1975-11-30,1.92,red
4,2001-03-05,,green
"""
VISITS = """visit_id,person_id,minutes,at
10,1,12.5,2024-01-02 10:00:00
11,2,40.0,2024-01-03 11:00:00
12,1,8.0,2024-02-01 12:00:00
"""
SCHEMA = """tables:
  people:
    primary_key: person_id
    time: null
    columns: {born: timestamp, height: numerical, team: categorical}
  visits:
    primary_key: visit_id
    time: at
    foreign_keys: {person_id: people}
    columns: {minutes: numerical}
"""


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = Path(tmp_path_factory.mktemp("feats"))
    src = root / "src"
    src.mkdir()
    (src / "people.csv").write_text(PEOPLE)
    (src / "visits.csv").write_text(VISITS)
    (src / "schema.yaml").write_text(SCHEMA)
    return api.ingest(str(src), workspace=root / "ws").snapshot


def _same(a: FeatureSet, b: FeatureSet) -> None:
    assert sorted(a.frames) == sorted(b.frames) == ["people", "visits"]
    assert _equal(a.col_stats, b.col_stats)
    for name, fa in a.frames.items():
        fb = b.frames[name]
        assert fa.col_names_dict == fb.col_names_dict
        for stype, feat in fa.feat_dict.items():
            assert torch.equal(feat.nan_to_num(-1e9), fb.feat_dict[stype].nan_to_num(-1e9)), (
                name,
                stype,
            )


def _equal(a: Any, b: Any) -> bool:
    """Deep equality of statistics, tensors included (and of the same Python types)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


def _no_numpy(value: Any) -> bool:
    if isinstance(value, np.generic | np.ndarray):
        return False
    if isinstance(value, dict):
        return all(_no_numpy(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_no_numpy(v) for v in value)
    return True


def test_cache_round_trips_without_unsafe_loading(snap: Snapshot) -> None:
    fresh = build_features(snap)
    assert StatType.YEAR_RANGE in fresh.col_stats["people"]["born"]
    assert fresh.col_stats["people"]["born"][StatType.YEAR_RANGE] == [1975, 2001]
    assert _no_numpy(fresh.col_stats)
    cache = snap.cache_dir("frames") / f"v{FEATURES_VERSION}"
    # The stored file is plain data: the safe loader reads it as it is.
    torch.load(cache / f"{table_stem('people')}.pt", weights_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = build_features(snap)
    assert caught == []  # no "Weights only load failed", nor any other warning
    _same(fresh, loaded)


def test_unsafe_cache_is_rebuilt_not_unpickled(snap: Snapshot) -> None:
    fresh = build_features(snap)
    path = snap.cache_dir("frames") / f"v{FEATURES_VERSION}" / f"{table_stem('people')}.pt"
    # A cache written by an older relgraph: NumPy scalars in the statistics.
    stats = {c: dict(s) for c, s in fresh.col_stats["people"].items()}
    stats["born"][StatType.YEAR_RANGE] = [np.int64(1975), np.int64(2001)]
    torch_frame.save(fresh.frames["people"], stats, str(path))
    with pytest.raises(Exception, match="weights_only"):
        torch.load(path, weights_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = build_features(snap)
    # Rebuilding may warn about pandas deprecations inside pytorch-frame, not about loading.
    assert not [w for w in caught if "weights" in str(w.message).lower()]
    _same(fresh, rebuilt)
    torch.load(path, weights_only=True)  # rewritten as plain data
