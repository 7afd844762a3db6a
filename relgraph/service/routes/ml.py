"""Queries (compile/explain), models (metrics, learning curves), predictions and embeddings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import BaseModel, Field

from relgraph import api
from relgraph.jobs import outputs
from relgraph.jobs.views import task_dict
from relgraph.service import pages
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import Paging, ServiceState, editor, paging, state, viewer

router = APIRouter(tags=["models"])

ModelId = Path(..., min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")
OutputId = Path(..., min_length=1, max_length=128, pattern=r"^[0-9A-Za-z_.-]+$")


class QueryRequest(BaseModel):
    query: str = Field(
        ..., min_length=1, max_length=20_000, description="A predictive query (PQL)."
    )
    snapshot: str | None = Field(None, max_length=64, pattern=r"^[0-9a-f]+$")


def _compile(body: QueryRequest, st: ServiceState) -> Any:
    compile_query = getattr(api, "compile_query", None)
    if compile_query is None:
        raise HTTPException(501, "this build has no query compiler (relgraph.api.compile_query)")
    return compile_query(body.query, workspace=st.workspace, snapshot=body.snapshot)


@router.post("/queries/compile", tags=["queries"], summary="Compile a query: the inferred task")
def compile_query(
    body: QueryRequest, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    return {"task": task_dict(_compile(body, st))}


@router.post(
    "/queries/explain",
    tags=["queries"],
    status_code=202,
    summary="Compile a query and start a label-stats job counting its labels per split",
)
def explain_query(
    body: QueryRequest, st: ServiceState = Depends(state), who: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    task = task_dict(_compile(body, st))
    job = None
    if "label-stats" in st.runner.kinds:
        job = st.runner.submit("label-stats", body.model_dump(), created_by=who.id).to_dict()
    return {"task": task, "job": job}


@router.get("/models", summary="Trained models, newest first")
def list_models(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    items = outputs.list_models(st.workspace)
    return page.page(items[page.offset : page.offset + page.limit], len(items))


@router.get("/models/{model_id}", summary="A model: metrics, learning curves, config")
def get_model(
    model_id: str = ModelId, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    return outputs.model_info(st.workspace, model_id)


def _list(kind: str, page: Paging, st: ServiceState) -> dict[str, Any]:
    items = outputs.list_outputs(st.workspace, kind)
    return page.page(items[page.offset : page.offset + page.limit], len(items))


async def _rows(kind: str, output_id: str, page: Paging, st: ServiceState, which: str) -> Response:
    out = outputs.find_output(st.workspace, output_id, kind)
    path = out.projection if which == "projection" else out.data
    if path is None:
        raise HTTPException(
            404, f"{kind} '{output_id}' has no {which}; start a 'project' job for it"
        )
    items, total = await pages.page_json_async(path, page.limit, page.offset)
    return page.json_page(items, total)


@router.get("/predictions", tags=["predictions"], summary="Prediction outputs, newest first")
def list_predictions(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    return _list("predictions", page, st)


@router.get("/predictions/{output_id}", tags=["predictions"], summary="One prediction output")
def get_predictions(
    output_id: str = OutputId, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    return outputs.output_info(st.workspace, output_id, "predictions")


@router.get("/predictions/{output_id}/rows", tags=["predictions"], summary="A page of predictions")
async def prediction_rows(
    output_id: str = OutputId,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    return await _rows("predictions", output_id, page, st, "data")


@router.get(
    "/embeddings", tags=["embeddings"], summary="Embedding outputs and projections, newest first"
)
def list_embeddings(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    return _list("embeddings", page, st)


@router.get("/embeddings/{output_id}", tags=["embeddings"], summary="One embeddings output")
def get_embeddings(
    output_id: str = OutputId, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    return outputs.output_info(st.workspace, output_id, "embeddings")


@router.get("/embeddings/{output_id}/rows", tags=["embeddings"], summary="A page of embeddings")
async def embedding_rows(
    output_id: str = OutputId,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    return await _rows("embeddings", output_id, page, st, "data")


@router.get(
    "/embeddings/{output_id}/projection",
    tags=["embeddings"],
    summary="A page of 3-D projected points (x, y, z, cluster, row)",
)
async def embedding_projection(
    output_id: str = OutputId,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    return await _rows("embeddings", output_id, page, st, "projection")
