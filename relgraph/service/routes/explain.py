"""Explanations of a stored model: ``GET/POST /models/{model_id}/explain``.

Runs in the request (a LightGBM explanation takes seconds; a GNN one, Integrated
Gradients over ``sample`` subgraphs, up to a minute or two on F1): a job kind
``explain`` is the way for larger samples.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from relgraph import api
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import ServiceState, state, viewer

router = APIRouter(tags=["models"])

ModelId = Path(..., min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")
# An entity key as given on a command line or in a URL: a plain value, no paths.
_KEY = r"^[0-9A-Za-z_.:@ -]{1,200}$"
_AT = r"^(test|now|\d{4}-\d{2}-\d{2}([T ][0-9:.]{1,15})?)$"
MAX_SAMPLE = 512


class ExplainRequest(BaseModel):
    entity: str | None = Field(None, pattern=_KEY, description="A key of the entity table.")
    model_kind: str | None = Field(None, pattern=r"^(gnn|lightgbm)$")
    at: str = Field("test", pattern=_AT, description="test | now | an ISO date")
    sample: int = Field(64, ge=1, le=MAX_SAMPLE, description="Rows of the global view.")
    top: int = Field(10, ge=1, le=100)
    snapshot: str | None = Field(None, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")


def _explain(model_id: str, body: ExplainRequest, st: ServiceState) -> dict[str, Any]:
    e = api.explain(
        model_id, workspace=st.workspace, entity=body.entity, model_kind=body.model_kind,
        at=body.at, sample=body.sample, top=body.top, snapshot=body.snapshot,
    )  # fmt: skip
    out: dict[str, Any] = e.to_dict()
    return out


@router.post("/models/{model_id}/explain", summary="Explain a model (global, cohorts, an entity)")
def explain_model(
    body: ExplainRequest,
    model_id: str = ModelId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    return _explain(model_id, body, st)


@router.get("/models/{model_id}/explain", summary="Explain a model (query parameters)")
def explain_model_get(
    model_id: str = ModelId,
    entity: str | None = Query(None, pattern=_KEY),
    model_kind: str | None = Query(None, pattern=r"^(gnn|lightgbm)$"),
    at: str = Query("test", pattern=_AT),
    sample: int = Query(64, ge=1, le=MAX_SAMPLE),
    top: int = Query(10, ge=1, le=100),
    snapshot: str | None = Query(None, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$"),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    body = ExplainRequest(
        entity=entity, model_kind=model_kind, at=at, sample=sample, top=top, snapshot=snapshot
    )
    return _explain(model_id, body, st)
