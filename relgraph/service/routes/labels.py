"""Human labels over REST (``/api/v1/label-projects``): projects, stages, queues, labels,
label sets, agreement.

Roles: an ``admin`` token manages projects and stages and sees everything; any token
whose id or name is on a stage's labelers (or a project's reviewers) may read that stage
and label in it; everyone else gets 403, whether or not the project exists. A label is
committed before the answer is sent (``kill -9`` loses no answered label); the second
label for an item past its overlap is 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from relgraph.jobs.db import MetaDB
from relgraph.labels import LabelStore, Who
from relgraph.labels.agreement import agreement
from relgraph.labels.sets import export
from relgraph.service.auth import Role, TokenInfo
from relgraph.service.deps import Paging, ServiceState, paging, state, viewer
from relgraph.store import labelsets

# /labels is taken by uploaded label tables (routes/admin.py): projects live beside it.
router = APIRouter(prefix="/label-projects", tags=["labels"])


def _name() -> Any:
    # A fresh Path per parameter: FastAPI binds one FieldInfo to one parameter.
    return Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")


def store(st: ServiceState = Depends(state)) -> LabelStore:
    cached = getattr(st, "_labels", None)
    if cached is None:
        db = getattr(st.runner, "db", None)
        cached = LabelStore(
            db if isinstance(db, MetaDB) else MetaDB.open(workspace=st.workspace), st.workspace
        )
        st._labels = cached  # type: ignore[attr-defined]
    return cached


def who(token: TokenInfo = Depends(viewer)) -> Who:
    return Who.of(token.name or token.id, token.id, admin=token.role is Role.admin)


class ProjectBody(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    table: str = Field(..., min_length=1, max_length=200)
    key: str | None = Field(None, max_length=200)
    label_schema: dict[str, Any] = Field(..., alias="schema")
    guidelines: str = Field("", max_length=100_000)
    snapshot: str | None = Field(None, max_length=64, pattern=r"^[0-9a-f]+$")
    reviewers: list[str] = Field(default_factory=list, max_length=1000)
    webhook: str | None = Field(None, max_length=2000)


class StageBody(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)
    labelers: list[str] = Field(default_factory=list, max_length=1000)
    watches: str | None = Field(None, max_length=64)
    filter: dict[str, Any] | None = None
    overlap: int = Field(1, ge=1, le=20)
    attributes: list[dict[str, Any]] = Field(default_factory=list, max_length=50)


class ItemsBody(BaseModel):
    keys: list[str | int] = Field(..., max_length=100_000)
    priorities: list[float] | None = None


class LabelBody(BaseModel):
    key: str | int
    value: Any
    attributes: dict[str, Any] = Field(default_factory=dict)
    comment: str | None = Field(None, max_length=10_000)


class ExportBody(BaseModel):
    version: str = Field(..., min_length=1, max_length=64)
    parent: str | None = Field(None, max_length=64)


@router.get("", summary="Label projects you are on")
def list_projects(ls: LabelStore = Depends(store), w: Who = Depends(who)) -> dict[str, Any]:
    items = ls.projects(who=w)
    return {"items": items, "total": len(items)}


@router.post("", status_code=201, summary="Create a label project (admin)")
def create_project(
    body: ProjectBody, ls: LabelStore = Depends(store), w: Who = Depends(who)
) -> dict[str, Any]:
    return ls.create_project(
        body.name,
        table=body.table,
        key=body.key,
        schema=body.label_schema,
        guidelines=body.guidelines,
        snapshot=body.snapshot,
        reviewers=body.reviewers,
        webhook=body.webhook,
        who=w,
    )


@router.get("/{project}", summary="A project, with the stages you are on")
def get_project(
    project: str = _name(), ls: LabelStore = Depends(store), w: Who = Depends(who)
) -> dict[str, Any]:
    return ls.project(project, who=w)


@router.post("/{project}/stages", status_code=201, summary="Add a stage (admin)")
def add_stage(
    body: StageBody, project: str = _name(), ls: LabelStore = Depends(store), w: Who = Depends(who)
) -> dict[str, Any]:
    return ls.add_stage(
        project,
        body.name,
        labelers=body.labelers,
        watches=body.watches,
        filter=body.filter,
        overlap=body.overlap,
        attributes=body.attributes,
        who=w,
    )


@router.post("/{project}/stages/{stage}/items", summary="Queue entity keys (admin)")
def add_items(
    body: ItemsBody,
    project: str = _name(),
    stage: str = _name(),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    return ls.add_items(project, stage, body.keys, priorities=body.priorities, who=w).to_dict()


@router.get("/{project}/stages/{stage}/next", summary="The next item for you to label")
def next_item(
    project: str = _name(),
    stage: str = _name(),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    return {"item": ls.next_item(project, stage, who=w)}


@router.get("/{project}/stages/{stage}/items", summary="A page of a stage's queue")
def queue(
    project: str = _name(),
    stage: str = _name(),
    done: bool | None = Query(None),
    after: str | None = Query(
        None,
        max_length=200,
        description="The 'next' token of the page before (keyset paging; 'total' is counted "
        "on the first page only). 'offset' still works but not together with 'after'.",
    ),
    page: Paging = Depends(paging),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    return ls.queue(
        project, stage, limit=page.limit, after=after, offset=page.offset, done=done, who=w
    )


@router.get("/{project}/stages/{stage}/progress", summary="Items done of total")
def progress(
    project: str = _name(),
    stage: str = _name(),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    return ls.progress(project, stage, who=w)


@router.post("/{project}/stages/{stage}/labels", status_code=201, summary="Save a label")
def submit(
    body: LabelBody,
    project: str = _name(),
    stage: str = _name(),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    label = {"value": body.value, "attributes": body.attributes}
    return ls.submit(project, stage, body.key, label, comment=body.comment, who=w)


@router.get("/{project}/stages/{stage}/agreement", summary="Kappas and accuracy against gold")
def stage_agreement(
    project: str = _name(),
    stage: str = _name(),
    gold: str | None = Query("gold", max_length=64),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    return agreement(ls, project, stage, gold=gold, who=w)


@router.get("/{project}/labels", summary="Every label you may see")
def list_labels(
    project: str = _name(),
    page: Paging = Depends(paging),
    ls: LabelStore = Depends(store),
    w: Who = Depends(who),
) -> dict[str, Any]:
    rows = ls.labels(project, who=w)
    return page.page(rows[page.offset : page.offset + page.limit], len(rows))


@router.post("/{project}/sets", status_code=201, summary="Export a label set version (admin)")
def export_set(
    body: ExportBody, project: str = _name(), ls: LabelStore = Depends(store), w: Who = Depends(who)
) -> dict[str, Any]:
    if not w.admin:
        ls.project(project, who=Who(names=w.names, admin=False))
        from relgraph.labels.access import denied

        raise denied(f"the admins of label project '{project}'")
    return export(ls, project, body.version, parent=body.parent, who=w).to_dict()


@router.get("/{project}/sets", summary="Label set versions of a project")
def list_sets(
    project: str = _name(), ls: LabelStore = Depends(store), w: Who = Depends(who)
) -> dict[str, Any]:
    ls.project(project, who=w)
    items = [m.to_dict() for m in labelsets.list_versions(ls.workspace, project)]
    return {"items": items, "total": len(items)}
