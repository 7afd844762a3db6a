"""``POST /sources/{name}/changed``: a source tells the service it has new data.

A warehouse loader, a cron job or an object-store notification calls this after it
wrote new data to a named connection (``conn:NAME``, created by an admin). The
service then starts an ingest job of that source, exactly as ``POST /sources`` with
``{"source": "conn:NAME"}`` would (same role, same source policy): the content-
addressed store makes a repeated call for unchanged data cost a read and store
nothing new, and a grown table is stored as a delta of its previous version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path

from relgraph.jobs.secretstore import CONNECTION_NAME, CONNECTION_PREFIX
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import ServiceState, editor, state

router = APIRouter(tags=["data"])

SourceName = Path(..., min_length=1, max_length=64, pattern=CONNECTION_NAME.pattern)


@router.post(
    "/sources/{name}/changed",
    status_code=202,
    summary="A named source (conn:NAME) has new data: ingest it (starts an ingest job)",
)
def source_changed(
    name: str = SourceName, st: ServiceState = Depends(state), who: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    if name not in (st.secrets.connections() if st.secrets else {}):
        raise HTTPException(404, f"no named source '{name}' (GET /connections lists them)")
    body = {"source": f"{CONNECTION_PREFIX}{name}", "strict": False}
    return st.runner.submit("ingest", body, created_by=who.id).to_dict() | {"trigger": "changed"}
