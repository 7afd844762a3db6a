"""Label sets (small, reviewed by people) and API tokens (admin only)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from relgraph.jobs.secretstore import CONNECTION_NAME
from relgraph.redact import redact
from relgraph.service.auth import Role, TokenInfo
from relgraph.service.deps import (
    Paging,
    ServiceState,
    admin,
    editor,
    json_value,
    paging,
    state,
    viewer,
)
from relgraph.store import atomic

router = APIRouter()
_lock = threading.Lock()

LabelName = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
MAX_LABELS_PER_REQUEST = 10_000


class LabelRow(BaseModel):
    entity: str | int = Field(..., description="The entity's primary-key value.")
    label: str | int | float | bool | None
    note: str | None = Field(None, max_length=2000)


class LabelSetRequest(BaseModel):
    entity_table: str = Field(..., min_length=1, max_length=200)
    rows: list[LabelRow] = Field(default_factory=list, max_length=MAX_LABELS_PER_REQUEST)


def _path(st: ServiceState, name: str) -> Any:
    return st.workspace / "labels" / f"{name}.json"


def _load(st: ServiceState, name: str) -> dict[str, Any]:
    p = _path(st, name)
    if not p.is_file():
        raise HTTPException(404, f"no label set '{name}'; create it with PUT /labels/{name}")
    data: dict[str, Any] = json.loads(p.read_text())
    return data


@router.get("/labels", tags=["labels"], summary="Label sets")
def list_labels(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    root = st.workspace / "labels"
    names = sorted(p.stem for p in root.glob("*.json")) if root.is_dir() else []
    items = []
    for n in names[page.offset : page.offset + page.limit]:
        d = _load(st, n)
        items.append(
            {
                "name": n,
                "entity_table": d["entity_table"],
                "rows": len(d["rows"]),
                "updated": d["updated"],
            }
        )
    return page.page(items, len(names))


@router.get("/labels/{name}", tags=["labels"], summary="A page of a label set's rows")
def get_labels(
    name: str = LabelName,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    d = _load(st, name)
    rows = d["rows"]
    return page.page(rows[page.offset : page.offset + page.limit], len(rows)) | {
        "name": name,
        "entity_table": d["entity_table"],
        "updated": d["updated"],
    }


@router.put(
    "/labels/{name}", tags=["labels"], summary="Add or replace rows of a label set (by entity)"
)
def put_labels(
    body: LabelSetRequest,
    name: str = LabelName,
    st: ServiceState = Depends(state),
    who: TokenInfo = Depends(editor),
) -> dict[str, Any]:
    with _lock:
        p = _path(st, name)
        current: dict[str, Any] = (
            json.loads(p.read_text())
            if p.is_file()
            else {"entity_table": body.entity_table, "rows": []}
        )
        if current["entity_table"] != body.entity_table:
            raise HTTPException(
                409,
                f"label set '{name}' labels '{current['entity_table']}', not '{body.entity_table}'",
            )
        by_entity = {str(r["entity"]): r for r in current["rows"]}
        for r in body.rows:
            by_entity[str(r.entity)] = json_value(r.model_dump()) | {"by": who.id}
        current["rows"] = list(by_entity.values())
        current["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic.write_text(p, json.dumps(current))
    return {
        "name": name,
        "entity_table": body.entity_table,
        "rows": len(current["rows"]),
        "updated": current["updated"],
    }


@router.delete("/labels/{name}", tags=["labels"], status_code=204, summary="Delete a label set")
def delete_labels(
    name: str = LabelName, st: ServiceState = Depends(state), _: TokenInfo = Depends(editor)
) -> None:
    with _lock:
        p = _path(st, name)
        if not p.is_file():
            raise HTTPException(404, f"no label set '{name}'")
        p.unlink()


class TokenRequest(BaseModel):
    role: Role
    name: str = Field("", max_length=200)


@router.get("/tokens", tags=["tokens"], summary="API tokens (ids and roles; never the secrets)")
def list_tokens(
    page: Paging = Depends(paging), st: ServiceState = Depends(state), _: TokenInfo = Depends(admin)
) -> dict[str, Any]:
    items = [t.to_dict() for t in st.tokens.list()]
    return page.page(items[page.offset : page.offset + page.limit], len(items))


@router.post(
    "/tokens", tags=["tokens"], status_code=201, summary="Create a token (its secret is shown once)"
)
def create_token(
    body: TokenRequest, st: ServiceState = Depends(state), _: TokenInfo = Depends(admin)
) -> dict[str, Any]:
    issued = st.tokens.create(body.role, name=body.name)
    return issued.info.to_dict() | {"token": issued.token}


@router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204, summary="Revoke a token")
def revoke_token(
    token_id: str = Path(..., min_length=1, max_length=16, pattern=r"^[0-9a-f]+$"),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(admin),
) -> None:
    if not st.tokens.revoke(token_id):
        raise HTTPException(404, f"no token '{token_id}'")


@router.get("/me", tags=["tokens"], summary="The calling token's id and role")
def me(who: TokenInfo = Depends(viewer)) -> dict[str, Any]:
    return who.to_dict()


# -- named connections: database/bucket URLs an admin stores; editors ingest "conn:NAME" --
ConnectionName = Path(..., min_length=1, max_length=64, pattern=CONNECTION_NAME.pattern)


class ConnectionRequest(BaseModel):
    url: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        description="postgresql://user:password@host/db, s3://bucket/prefix?…, a path",
    )


@router.get(
    "/connections",
    tags=["connections"],
    summary="Named connections (ingest them as source 'conn:NAME'); URLs redacted",
)
def list_connections(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(editor),
) -> dict[str, Any]:
    conns = sorted(st.secrets.connections().items())
    items = [{"name": n, "url": redact(u), "source": f"conn:{n}"} for n, u in conns]
    return page.page(items[page.offset : page.offset + page.limit], len(items))


@router.put(
    "/connections/{name}",
    tags=["connections"],
    summary="Create or replace a named connection (admin; its URL is kept server-side)",
)
def put_connection(
    body: ConnectionRequest,
    name: str = ConnectionName,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(admin),
) -> dict[str, Any]:
    st.secrets.set_connection(name, body.url)
    return {"name": name, "url": redact(body.url), "source": f"conn:{name}"}


@router.delete(
    "/connections/{name}", tags=["connections"], status_code=204, summary="Delete a connection"
)
def delete_connection(
    name: str = ConnectionName, st: ServiceState = Depends(state), _: TokenInfo = Depends(admin)
) -> None:
    if not st.secrets.remove_connection(name):
        raise HTTPException(404, f"no connection '{name}'")
