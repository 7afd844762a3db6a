"""Online predictions: ``POST /models/{id}/predict`` answers a few entity keys now.

The predictors stay warm between requests (:func:`relgraph.api.online_cache`, kept
on the app): the first request for a model loads it, later ones only predict.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt, StringConstraints

from relgraph import api
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import ServiceState, state, viewer
from relgraph.service.routes.ml import ModelId

router = APIRouter(tags=["models"])

# Keys per request; more is a batch prediction job (a 10k-key request is refused
# with 422 before any work, so it cannot exhaust memory).
MAX_KEYS = 1000

Key = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=256)]


class OnlineRequest(BaseModel):
    keys: list[Key] = Field(
        ...,
        min_length=1,
        max_length=MAX_KEYS,
        description=f"Entity keys (primary-key values of the query's entity table), "
        f"at most {MAX_KEYS}; more is a batch job (predict with --now).",
    )
    at: str | None = Field(
        None,
        max_length=64,
        description="Anchor time (ISO); default: the snapshot's latest data.",
    )
    embedding: bool = Field(False, description="Also return each entity's GNN embedding.")
    model_kind: str | None = Field(
        None, max_length=64, pattern=r"^[a-z_]+$", description="gnn, lightgbm or ensemble."
    )
    snapshot: str | None = Field(
        None,
        pattern=r"^(latest|[0-9a-f]{4,64})$",
        description="'latest' (the workspace's newest snapshot) or a snapshot id; "
        "default: the model's own.",
    )


def online_cache(request: Request, st: ServiceState) -> Any:
    """The app's warm predictors (made on first use; a bundle server sets its own)."""
    cache = getattr(request.app.state, "online", None)
    if cache is None:
        cache = request.app.state.online = api.online_cache(st.workspace, max_keys=MAX_KEYS)
    return cache


@router.post(
    "/models/{model_id}/predict",
    summary="Online predictions for a few entity keys (unknown keys: a per-key error)",
)
def predict_online(
    body: OnlineRequest,
    request: Request,
    model_id: str = ModelId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    result = api.predict_online(
        model_id, body.keys, at=body.at, embedding=body.embedding, model_kind=body.model_kind,
        snapshot=body.snapshot, cache=online_cache(request, st),
    )  # fmt: skip
    return _json(result.to_dict())


def _json(d: dict[str, Any]) -> Response:
    import json

    from relgraph.service.deps import json_value

    return Response(json.dumps(json_value(d), separators=(",", ":")), media_type="application/json")
