"""Jobs: create, list, progress, logs, cancel, retry. Every long piece of work is one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from relgraph.service.auth import TokenInfo
from relgraph.service.deps import Paging, ServiceState, editor, paging, state, viewer

router = APIRouter(tags=["jobs"])

JobId = Path(..., min_length=1, max_length=64, pattern=r"^[0-9a-zA-Z_-]+$")
Status = Literal[
    "pending", "queued", "running", "succeeded", "skipped", "failed", "blocked", "cancelled"
]


class JobRequest(BaseModel):
    kind: str = Field(..., min_length=1, max_length=64, description="See GET /jobs/kinds.")
    params: dict[str, Any] = Field(default_factory=dict)


@router.get("/jobs/kinds", summary="The job kinds this server can run")
def job_kinds(st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)) -> dict[str, Any]:
    return {"kinds": sorted(st.runner.kinds)}


# Job reads are served from the runner's cache (a DB query only after a change): async
# handlers skip the thread hop of sync ones.
@router.get("/jobs", summary="Jobs (REST and pipeline ones), newest first")
async def list_jobs(
    status: Status | None = Query(None),
    kind: str | None = Query(None, max_length=64),
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    jobs, total = st.runner.list(limit=page.limit, offset=page.offset, status=status, kind=kind)
    return page.page([j.to_dict() for j in jobs], total)


@router.post("/jobs", status_code=202, summary="Start a job")
def create_job(
    body: JobRequest, st: ServiceState = Depends(state), who: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    return st.runner.submit(body.kind, body.params, created_by=who.id).to_dict()


@router.get("/jobs/{job_id}", summary="One job: status, progress, result")
async def get_job(
    job_id: str = JobId, st: ServiceState = Depends(state), _: TokenInfo = Depends(viewer)
) -> dict[str, Any]:
    return st.runner.get(job_id).to_dict()


@router.get("/jobs/{job_id}/logs", summary="A page of a job's log lines")
def job_logs(
    job_id: str = JobId,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    lines, total = st.runner.logs(job_id, limit=page.limit, offset=page.offset)
    return page.page(lines, total)


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
def cancel_job(
    job_id: str = JobId, st: ServiceState = Depends(state), _: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    return st.runner.cancel(job_id).to_dict()


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    summary="Run a failed, cancelled or blocked job again (same id, attempts + 1)",
)
def retry_job(
    job_id: str = JobId, st: ServiceState = Depends(state), who: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    return st.runner.retry(job_id, created_by=who.id).to_dict()
