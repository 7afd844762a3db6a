"""Model files: ``workspace/models/<model_id>/``.

- ``model.json`` — everything but weights: query, task, snapshot id, cut-offs,
  ``ModelConfig``, target normalisation, metrics;
- ``gnn.pt`` — the GNN's ``state_dict`` (plain tensors; loaded with ``weights_only=True``);
- ``lightgbm.txt`` + the baseline's feature encoding in ``model.json``;
- ``lightgbm_gap.txt``: the LightGBM trained for the frozen protocol's gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import torch

from relgraph.errors import StoreError
from relgraph.store.atomic import write_text
from relgraph.store.ids import check_id

MODEL_JSON = "model.json"
GNN_WEIGHTS = "gnn.pt"
LGBM_FILE = "lightgbm.txt"


def model_dir(workspace: str | Path, model_id: str) -> Path:
    return Path(workspace) / "models" / model_id


@dataclass
class ModelFiles:
    """A stored model's metadata and the paths of its weights."""

    model_id: str
    path: Path
    meta: dict[str, Any]

    @property
    def snapshot_id(self) -> str:
        return str(self.meta["snapshot_id"])

    def gnn_state(self) -> dict[str, torch.Tensor]:
        """The GNN weights, loaded safely (``weights_only=True``: tensors only, no code)."""
        state: dict[str, torch.Tensor] = torch.load(
            self.path / GNN_WEIGHTS, map_location="cpu", weights_only=True
        )
        return state

    def booster(self, name: str = "lightgbm") -> lgb.Booster | None:
        p = self.path / (LGBM_FILE if name == "lightgbm" else f"{name}.txt")
        return lgb.Booster(model_file=str(p)) if p.is_file() else None


def save_model(
    path: Path,
    meta: dict[str, Any],
    gnn_state: dict[str, torch.Tensor] | None,
    booster: lgb.Booster | None,
    *,
    extra_boosters: dict[str, lgb.Booster] | None = None,
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if gnn_state is not None:
        tmp = path / (GNN_WEIGHTS + ".tmp")
        torch.save({k: v.detach().cpu().contiguous() for k, v in gnn_state.items()}, tmp)
        tmp.replace(path / GNN_WEIGHTS)
    if booster is not None:
        write_text(path / LGBM_FILE, booster.model_to_string(num_iteration=booster.best_iteration))
    for name, b in (extra_boosters or {}).items():
        write_text(path / f"{name}.txt", b.model_to_string(num_iteration=b.best_iteration))
    write_text(path / MODEL_JSON, json.dumps(meta, indent=2, default=str))


def load_model(workspace: str | Path, model_id: str) -> ModelFiles:
    """A stored model by id or unique id prefix (``drivers-2026`` for one trained today)."""
    check_id("model", model_id)
    root = Path(workspace) / "models"
    known = sorted(p.name for p in root.glob("*") if (p / MODEL_JSON).is_file())
    if model_id not in known:
        matches = [k for k in known if k.startswith(model_id)]
        if len(matches) > 1:
            raise StoreError(
                f"model id prefix '{model_id}' is ambiguous: {', '.join(matches[:10])}"
            )
        if not matches:
            raise StoreError(
                f"no model '{model_id}' in workspace '{workspace}'; "
                f"models: {', '.join(known) or 'none (run `relgraph train` first)'}"
            )
        model_id = matches[0]
    path = model_dir(workspace, model_id)
    mj = path / MODEL_JSON
    try:
        meta = json.loads(mj.read_text())
    except ValueError as e:
        raise StoreError(f"corrupt {mj}: {e}") from e
    return ModelFiles(model_id=model_id, path=path, meta=meta)
