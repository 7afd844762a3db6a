"""Label projects, stages (queues), items and labels in the metadata DB.

Every write is one transaction committed before the caller hears back, so a label
the service answered for survives ``kill -9``. Two labelers saving the same item:
each item takes ``overlap`` labels (one by default) and the ``overlap + 1``-th is
refused with :class:`~relgraph.errors.LabelConflict` (HTTP 409), so nothing is
overwritten: the count is raised by one conditional ``UPDATE`` (row-locked on
PostgreSQL, serialised by ``BEGIN IMMEDIATE`` on SQLite) and ``(item, labeler)`` is
unique.

Example:
    >>> from relgraph.jobs.db import MetaDB
    >>> ls = LabelStore(MetaDB.open("sqlite://"), "/tmp/rg-doctest-labels")
    >>> _ = ls.create_project("demo", table="users", key="id", schema={"classes": ["a", "b"]})
    >>> _ = ls.add_stage("demo", "first", labelers=["ann"])
    >>> ls.add_items("demo", "first", ["1", "2"]).added
    2
    >>> ls.submit("demo", "first", "1", {"value": "a"}, who=Who.of("ann"))["done"]
    True
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, and_, exists, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relgraph.errors import LabelConflict, LabelError
from relgraph.jobs.db import MetaDB
from relgraph.jobs.models import Label, LabelItem, LabelProject, LabelStage, utcnow
from relgraph.labels import notify
from relgraph.labels.access import Who, denied
from relgraph.labels.schema import Attribute, LabelSchema

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_KEY = 200
FILTERS = ("all", "confidence_lt", "disagreement", "predicted_class", "label")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise LabelError(
            f"invalid {kind} name {str(name)[:80]!r}: a letter, then letters, digits, '_' or '-' "
            "(at most 64)"
        )
    return name


def check_filter(f: dict[str, Any] | None) -> dict[str, Any]:
    """A watch filter: ``{"all": true}``, ``{"confidence_lt": 0.8}``, ``{"disagreement": true}``,
    ``{"predicted_class": "fraud"}`` or ``{"label": "fraud"}`` (one key)."""
    f = f or {"all": True}
    if not isinstance(f, dict) or len(f) != 1 or next(iter(f)) not in FILTERS:
        raise LabelError(
            f"a watch filter is one of {', '.join(FILTERS)}, e.g. {{'confidence_lt': 0.8}}"
        )
    if "confidence_lt" in f and not isinstance(f["confidence_lt"], int | float):
        raise LabelError("confidence_lt takes a number")
    return f


def encode_cursor(priority: float, item_id: int) -> str:
    """The opaque ``next`` token of a queue page: the (priority, id) of its last item."""
    raw = json.dumps([float(priority), int(item_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, int]:
    """``encode_cursor``'s (priority, id), or a clear error for a token it did not make."""
    bad = LabelError("'after' is not a queue page token: pass the 'next' of the page before")
    if not isinstance(token, str) or len(token) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        prio, item_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise bad from None
    if (
        not isinstance(prio, int | float)
        or isinstance(prio, bool)
        or math.isnan(prio)
        or not isinstance(item_id, int)
        or isinstance(item_id, bool)
    ):
        raise bad
    return float(prio), item_id


@dataclass
class AddResult:
    """What ``add_items`` did: keys queued, keys already there, keys not in the entity table."""

    added: int = 0
    already: int = 0
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already": self.already,
            "unknown": self.unknown[:1000],
            "unknown_count": len(self.unknown),
        }


def _project_dict(p: LabelProject) -> dict[str, Any]:
    return {
        "id": p.id,
        "entity_table": p.entity_table,
        "key_column": p.key_column,
        "snapshot_id": p.snapshot_id,
        "schema": p.label_schema,
        "guidelines": p.guidelines,
        "reviewers": p.reviewers,
        "webhook": bool(p.webhook),
        "created_by": p.created_by,
        "created_at": p.created_at.isoformat(),
    }


def _stage_dict(st: LabelStage) -> dict[str, Any]:
    return {
        "id": st.id,
        "project": st.project_id,
        "name": st.name,
        "watches": st.watches,
        "filter": st.filter,
        "overlap": st.overlap,
        "labelers": st.labelers,
        "attributes": st.attributes,
    }


def item_dict(it: LabelItem) -> dict[str, Any]:
    return {
        "id": it.id,
        "key": it.key,
        "priority": it.priority,
        "suggestion": it.suggestion,
        "n_labels": it.n_labels,
        "done": it.done,
    }


class LabelStore:
    """The labeling side of one workspace: projects, stages, queues, labels.

    Args:
        db: The metadata DB (SQLite in the workspace, or PostgreSQL).
        workspace: The workspace folder (snapshots to check keys against, label sets).
    """

    def __init__(self, db: MetaDB, workspace: str | Path) -> None:
        self.db = db
        self.workspace = Path(workspace)

    def __repr__(self) -> str:
        return f"LabelStore({self.db!r})"

    @classmethod
    def open(cls, workspace: str | Path, meta: str | None = None) -> LabelStore:
        return cls(MetaDB.open(meta, workspace=workspace), workspace)

    # -- lookups ---------------------------------------------------------------
    def _project(self, s: Session, project: str, who: Who, *, admin: bool = False) -> LabelProject:
        p = (
            s.get(LabelProject, project)
            if isinstance(project, str) and NAME.match(project)
            else None
        )
        if p is None:
            if who.admin:
                raise LabelError(f"no label project '{str(project)[:80]}'")
            raise denied(f"label project '{str(project)[:80]}'")
        if who.admin:
            return p
        if admin:
            raise denied(f"the admins of label project '{project}'")
        labelers = [
            n
            for st in s.scalars(select(LabelStage).where(LabelStage.project_id == p.id))
            for n in st.labelers
        ]
        if not who.on([*p.reviewers, *labelers]):
            raise denied(f"label project '{project}'")
        return p

    def _stage(self, s: Session, p: LabelProject, stage: str, who: Who) -> LabelStage:
        st = s.scalar(
            select(LabelStage).where(LabelStage.project_id == p.id, LabelStage.name == stage)
        )
        if st is None:
            if who.on(p.reviewers):
                raise LabelError(f"label project '{p.id}' has no stage '{str(stage)[:80]}'")
            raise denied(f"stage '{str(stage)[:80]}' of label project '{p.id}'")
        if not who.on([*p.reviewers, *st.labelers]):
            raise denied(f"stage '{stage}' of label project '{p.id}'")
        return st

    def schema(self, project: str, who: Who | None = None) -> LabelSchema:
        who = who or Who.local()
        return self.db.read(
            lambda s: LabelSchema.from_dict(self._project(s, project, who).label_schema)
        )

    # -- projects and stages ---------------------------------------------------
    def create_project(
        self,
        name: str,
        *,
        table: str,
        key: str | None = None,
        schema: dict[str, Any],
        guidelines: str = "",
        snapshot: str | None = None,
        reviewers: Sequence[str] = (),
        webhook: str | None = None,
        who: Who | None = None,
    ) -> dict[str, Any]:
        """A project on ``table`` (its primary key unless ``key``), checked against a snapshot
        when the workspace has one."""
        who = who or Who.local()
        if not who.admin:
            raise denied("the admins of this workspace")
        check_name("project", name)
        ls = LabelSchema.from_dict(schema)
        snap_id = None
        snap = self._snapshot(snapshot)
        if snap is not None:
            if table not in snap.schema:
                raise LabelError(f"no table '{table[:80]}' in snapshot {snap.id[:12]}")
            pk = snap.schema[table].primary_key
            key = key or pk
            if key is None or not snap.schema[table].has_column(key):
                raise LabelError(f"table '{table}' has no key column '{key}'; name one with key=")
            snap_id = snap.id
        if key is None:
            raise LabelError("without a snapshot, name the key column (key=)")
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise LabelError("a webhook is an http(s) URL")

        def write(s: Session) -> dict[str, Any]:
            if s.get(LabelProject, name) is not None:
                raise LabelConflict(f"label project '{name}' exists")
            p = LabelProject(
                id=name,
                entity_table=table,
                key_column=key,
                snapshot_id=snap_id,
                label_schema=ls.to_dict(),
                guidelines=guidelines,
                reviewers=list(reviewers),
                webhook=webhook,
                created_by=who.name,
            )
            s.add(p)
            s.flush()
            return _project_dict(p)

        return self.db.write(write)

    def _snapshot(self, snapshot: str | None) -> Any:
        from relgraph.store.workspace import Workspace

        ws = Workspace(self.workspace)
        if snapshot is None and ws.latest_id() is None:
            return None
        return ws.snapshot(snapshot)

    def project(self, name: str, who: Who | None = None) -> dict[str, Any]:
        who = who or Who.local()

        def read(s: Session) -> dict[str, Any]:
            p = self._project(s, name, who)
            stages = s.scalars(
                select(LabelStage).where(LabelStage.project_id == p.id).order_by(LabelStage.id)
            )
            visible = [_stage_dict(st) for st in stages if who.on([*p.reviewers, *st.labelers])]
            return _project_dict(p) | {"stages": visible}

        return self.db.read(read)

    def projects(self, who: Who | None = None) -> list[dict[str, Any]]:
        who = who or Who.local()

        def read(s: Session) -> list[dict[str, Any]]:
            out = []
            for p in s.scalars(select(LabelProject).order_by(LabelProject.id)):
                members = [*p.reviewers] + [
                    n
                    for st in s.scalars(select(LabelStage).where(LabelStage.project_id == p.id))
                    for n in st.labelers
                ]
                if who.on(members):
                    out.append(_project_dict(p))
            return out

        return self.db.read(read)

    def add_stage(
        self,
        project: str,
        name: str,
        *,
        labelers: Sequence[str] = (),
        watches: str | None = None,
        filter: dict[str, Any] | None = None,
        overlap: int = 1,
        attributes: Sequence[dict[str, Any]] = (),
        who: Who | None = None,
    ) -> dict[str, Any]:
        """A queue; with ``watches``, it receives the other stage's completed items that pass
        ``filter`` (those already completed too)."""
        who = who or Who.local()
        check_name("stage", name)
        if not isinstance(overlap, int) or not 1 <= overlap <= 20:
            raise LabelError("overlap (labelers per item) is between 1 and 20")
        attrs = [Attribute.from_dict(a).to_dict() for a in attributes]
        f = check_filter(filter) if watches else None

        def write(s: Session) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            p = self._project(s, project, who, admin=True)
            if s.scalar(
                select(LabelStage).where(LabelStage.project_id == p.id, LabelStage.name == name)
            ):
                raise LabelConflict(f"label project '{project}' has a stage '{name}' already")
            src = None
            if watches is not None:
                src = s.scalar(
                    select(LabelStage).where(
                        LabelStage.project_id == p.id, LabelStage.name == watches
                    )
                )
                if src is None:
                    raise LabelError(
                        f"stage '{name}' watches '{watches}', which project '{project}' lacks"
                    )
            st = LabelStage(
                project_id=p.id,
                name=name,
                watches=watches,
                filter=f,
                overlap=overlap,
                labelers=list(labelers),
                attributes=attrs,
                milestones=[],
            )
            s.add(st)
            s.flush()
            bodies: list[dict[str, Any]] = []
            if src is not None:
                done = s.scalars(
                    select(LabelItem).where(LabelItem.stage_id == src.id, LabelItem.done)
                )
                for it in done:
                    self._forward(s, p, src, it, only=st, bodies=bodies)
            return _stage_dict(st), bodies

        out, bodies = self.db.write(write)
        notify.send(self._webhook(project), bodies)
        return out

    def set_labelers(
        self, project: str, stage: str, labelers: Sequence[str], who: Who | None = None
    ) -> dict[str, Any]:
        who = who or Who.local()

        def write(s: Session) -> dict[str, Any]:
            p = self._project(s, project, who, admin=True)
            st = self._stage(s, p, stage, who)
            st.labelers = list(labelers)
            return _stage_dict(st)

        return self.db.write(write)

    def _webhook(self, project: str) -> str | None:
        return self.db.read(lambda s: p.webhook if (p := s.get(LabelProject, project)) else None)

    # -- items -----------------------------------------------------------------
    def entity_keys(self, project: str) -> set[str] | None:
        """Every key of the project's entity table (as text), or None without a snapshot."""
        info = self.project(project)
        if info["snapshot_id"] is None:
            return None
        from relgraph._sql import quote_ident
        from relgraph.store.workspace import Workspace

        con = Workspace(self.workspace).snapshot(info["snapshot_id"]).duckdb()
        col, tab = quote_ident(info["key_column"]), quote_ident(info["entity_table"])
        rows = con.execute(
            f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {tab} WHERE {col} IS NOT NULL"
        )
        return {r[0] for r in rows.fetchall()}

    def add_items(
        self,
        project: str,
        stage: str,
        keys: Iterable[Any],
        *,
        priorities: Sequence[float] | None = None,
        suggestions: Sequence[dict[str, Any] | None] | None = None,
        who: Who | None = None,
        known: set[str] | None = None,
    ) -> AddResult:
        """Queue entity rows by key. Keys not in the entity table are reported (``unknown``),
        never silently dropped; keys already queued are counted (``already``)."""
        who = who or Who.local()
        keys = [str(k) for k in keys]
        if any(len(k) > MAX_KEY for k in keys):
            raise LabelError(f"an entity key is at most {MAX_KEY} characters")
        known = known if known is not None else self.entity_keys(project)
        res = AddResult()
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, k in enumerate(keys):
            if known is not None and k not in known:
                res.unknown.append(k)
                continue
            if k in seen:
                res.already += 1
                continue
            seen.add(k)
            rows.append(
                {
                    "key": k,
                    "priority": float(priorities[i]) if priorities is not None else float(i),
                    "suggestion": suggestions[i] if suggestions is not None else None,
                }
            )

        def write(s: Session) -> None:
            p = self._project(s, project, who, admin=True)
            st = self._stage(s, p, stage, who)
            have = set()
            for chunk in range(0, len(rows), 10_000):
                ks = [r["key"] for r in rows[chunk : chunk + 10_000]]
                have |= set(
                    s.scalars(
                        select(LabelItem.key).where(
                            LabelItem.stage_id == st.id, LabelItem.key.in_(ks)
                        )
                    )
                )
            new = [r for r in rows if r["key"] not in have]
            res.already += len(rows) - len(new)
            now = utcnow()
            if new:
                s.execute(
                    insert(LabelItem),
                    [
                        {
                            "project_id": p.id,
                            "stage_id": st.id,
                            "n_labels": 0,
                            "done": False,
                            "created_at": now,
                            **r,
                        }
                        for r in new
                    ],
                )
            res.added = len(new)

        self.db.write(write)
        return res

    def next_item(self, project: str, stage: str, who: Who | None = None) -> dict[str, Any] | None:
        """The first open item (lowest priority value) this labeler has not labeled; None when
        the queue holds nothing for them."""
        who = who or Who.local()

        def read(s: Session) -> dict[str, Any] | None:
            p = self._project(s, project, who)
            st = self._stage(s, p, stage, who)
            mine = exists().where(Label.item_id == LabelItem.id, Label.labeler == who.name)
            it = s.scalar(
                select(LabelItem)
                .where(LabelItem.stage_id == st.id, LabelItem.done.is_(False), ~mine)
                .order_by(LabelItem.priority, LabelItem.id)
                .limit(1)
            )
            return item_dict(it) if it is not None else None

        return self.db.read(read)

    def queue(
        self,
        project: str,
        stage: str,
        *,
        limit: int = 50,
        after: str | None = None,
        offset: int = 0,
        done: bool | None = None,
        who: Who | None = None,
    ) -> dict[str, Any]:
        """One page of a stage's queue in queue order ``(priority, id)``; ``done`` filters
        open/completed items.

        Pages are keyset (seek) pages: pass the ``next`` token of one page as ``after`` to
        get the items that follow its last item, found through an index whatever the depth
        (an OFFSET walks every skipped row). An item is never repeated or skipped across
        pages, even while labels are saved: completing an item does not move the others.
        ``next`` is None on the last page.

        ``total`` is counted on the first page only (no ``after``) and is None on the pages
        that follow: counting a 1M-item stage costs a scan, and a client paging through
        keeps the first figure. ``offset`` still works (counted, as before) but costs the
        rows it skips: give ``after`` or ``offset``, not both.
        """
        who = who or Who.local()
        limit = max(1, min(int(limit), 1000))
        offset = int(offset)
        if offset < 0:
            raise LabelError("offset is 0 or more")
        if after is not None and offset:
            raise LabelError("give either 'after' (a page's 'next' token) or 'offset', not both")
        seek = decode_cursor(after) if after is not None else None

        def read(s: Session) -> dict[str, Any]:
            p = self._project(s, project, who)
            st = self._stage(s, p, stage, who)
            cond: list[Any] = [LabelItem.stage_id == st.id]
            if done is not None:
                cond.append(LabelItem.done.is_(done))
            total = (
                None
                if seek is not None
                else s.scalar(select(func.count()).select_from(LabelItem).where(*cond))
            )
            page = select(LabelItem).where(*cond)
            if seek is not None:
                # Row-value comparison: SQLite and PostgreSQL both seek the
                # (stage_id, [done,] priority, id) index with it.
                page = page.where(tuple_(LabelItem.priority, LabelItem.id) > tuple_(*seek))
            items = list(
                s.scalars(
                    page.order_by(LabelItem.priority, LabelItem.id).limit(limit).offset(offset)
                )
            )
            last = items[-1] if len(items) == limit else None
            return {
                "items": [item_dict(i) for i in items],
                "total": total,
                "limit": limit,
                "offset": offset,
                "next": encode_cursor(last.priority, last.id) if last is not None else None,
            }

        return self.db.read(read)

    def progress(self, project: str, stage: str, who: Who | None = None) -> dict[str, Any]:
        who = who or Who.local()

        def read(s: Session) -> dict[str, Any]:
            p = self._project(s, project, who)
            st = self._stage(s, p, stage, who)
            return _progress(s, st)

        return self.db.read(read)

    # -- labels ----------------------------------------------------------------
    def submit(
        self,
        project: str,
        stage: str,
        key: Any,
        label: dict[str, Any],
        *,
        comment: str | None = None,
        who: Who | None = None,
    ) -> dict[str, Any]:
        """Save one label; returns the item (``done``) once the transaction has committed."""
        who = who or Who.local()
        if not isinstance(label, dict):
            raise LabelError("a label is an object: {'value': ..., 'attributes': {...}}")
        label = {"value": label.get("value"), "attributes": dict(label.get("attributes") or {})}
        key = str(key)

        def write(s: Session) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            p = self._project(s, project, who)
            st = self._stage(s, p, stage, who)
            if not who.on(st.labelers) and not who.admin:
                raise denied(f"the labelers of stage '{stage}'")
            schema = LabelSchema.from_dict(p.label_schema)
            schema.check(label, tuple(Attribute.from_dict(a) for a in st.attributes))
            it = s.scalar(
                select(LabelItem).where(LabelItem.stage_id == st.id, LabelItem.key == key)
            )
            if it is None:
                raise LabelError(f"key '{key[:80]}' is not in the queue of stage '{stage}'")
            # The conditional UPDATE is the lock: of two racing labelers past the overlap,
            # one matches no row.
            result = s.execute(
                update(LabelItem)
                .where(LabelItem.id == it.id, LabelItem.n_labels < st.overlap)
                .values(n_labels=LabelItem.n_labels + 1)
                .execution_options(synchronize_session=False)
            )
            assert isinstance(result, CursorResult)  # an UPDATE always gives one
            if result.rowcount == 0:
                raise LabelConflict(
                    f"item '{key[:80]}' of stage '{stage}' already has its {st.overlap} label(s); "
                    "the first saved wins and yours was not saved"
                )
            try:
                with s.begin_nested():
                    s.add(
                        Label(
                            project_id=p.id,
                            stage_id=st.id,
                            item_id=it.id,
                            key=key,
                            labeler=who.name,
                            value=label,
                            comment=comment,
                        )
                    )
            except IntegrityError:
                raise LabelConflict(
                    f"you have labeled item '{key[:80]}' of stage '{stage}' already"
                ) from None
            s.refresh(it)
            bodies: list[dict[str, Any]] = []
            if it.n_labels >= st.overlap and not it.done:
                it.done, it.done_at = True, utcnow()
                s.flush()
                bodies += self._completed(s, p, st, it)
            return item_dict(it), bodies

        out, bodies = self.db.write(write)
        notify.send(self._webhook(project), bodies)
        return out

    def labels(
        self, project: str, stage: str | None = None, who: Who | None = None
    ) -> list[dict[str, Any]]:
        """Every label of a project (or stage): key, stage, labeler, value, attributes, when."""
        who = who or Who.local()

        def read(s: Session) -> list[dict[str, Any]]:
            p = self._project(s, project, who)
            stages = {
                st.id: st
                for st in s.scalars(select(LabelStage).where(LabelStage.project_id == p.id))
            }
            cond = [Label.project_id == p.id]
            if stage is not None:
                cond.append(Label.stage_id == self._stage(s, p, stage, who).id)
            elif not who.on(p.reviewers):
                cond.append(
                    Label.stage_id.in_([i for i, st in stages.items() if who.on(st.labelers)])
                )
            return [
                {
                    "key": lb.key,
                    "stage": stages[lb.stage_id].name,
                    "labeler": lb.labeler,
                    "value": lb.value["value"],
                    "attributes": lb.value.get("attributes") or {},
                    "comment": lb.comment,
                    "at": lb.created_at.isoformat(),
                    "item_id": lb.item_id,
                }
                for lb in s.scalars(select(Label).where(*cond).order_by(Label.id))
            ]

        return self.db.read(read)

    # -- completion: watching stages, progress events ----------------------------
    def _completed(
        self, s: Session, p: LabelProject, st: LabelStage, it: LabelItem
    ) -> list[dict[str, Any]]:
        votes = [lb.value for lb in s.scalars(select(Label).where(Label.item_id == it.id))]
        bodies = [
            notify.record(
                s,
                p.id,
                "item.completed",
                stage=st.name,
                key=it.key,
                labels=[v["value"] for v in votes],
            )
        ]
        bodies += self._milestones(s, p, st)
        self._forward(s, p, st, it, bodies=bodies, votes=votes)
        return bodies

    def _milestones(self, s: Session, p: LabelProject, st: LabelStage) -> list[dict[str, Any]]:
        prog = _progress(s, st)
        fired = set(st.milestones or [])
        out = []
        for m in notify.MILESTONES:
            if prog["percent"] >= m and m not in fired:
                fired.add(m)
                event = "stage.complete" if m == 100 else "stage.progress"
                out.append(notify.record(s, p.id, event, stage=st.name, milestone=m, **prog))
        if out:
            st.milestones = sorted(fired)
        return out

    def _forward(
        self,
        s: Session,
        p: LabelProject,
        src: LabelStage,
        it: LabelItem,
        *,
        bodies: list[dict[str, Any]],
        only: LabelStage | None = None,
        votes: list[dict[str, Any]] | None = None,
    ) -> None:
        """Put a completed item into each stage watching ``src`` whose filter it passes."""
        watchers = (
            [only]
            if only is not None
            else list(
                s.scalars(
                    select(LabelStage).where(
                        LabelStage.project_id == p.id, LabelStage.watches == src.name
                    )
                )
            )
        )
        if not watchers:
            return
        if votes is None:
            votes = [lb.value for lb in s.scalars(select(Label).where(Label.item_id == it.id))]
        values = [v["value"] for v in votes]
        top = Counter(map(str, values)).most_common(1)[0][0] if values else None
        first = next((v for v in values if str(v) == top), None)
        conf = [v.get("attributes", {}).get("confidence") for v in votes]
        conf_known = [c for c in conf if c is not None]
        if not conf_known and it.suggestion:
            conf_known = (
                [it.suggestion.get("score")] if it.suggestion.get("score") is not None else []
            )
        for w in watchers:
            f = w.filter or {"all": True}
            ((name, arg),) = f.items()
            ok = {
                "all": True,
                "confidence_lt": bool(conf_known) and min(conf_known) < float(arg),
                "disagreement": len({str(v) for v in values}) > 1,
                "predicted_class": str((it.suggestion or {}).get("value")) == str(arg),
                "label": top == str(arg),
            }[name]
            if not ok:
                continue
            exists_ = s.scalar(
                select(LabelItem.id).where(LabelItem.stage_id == w.id, LabelItem.key == it.key)
            )
            if exists_ is not None:
                continue
            s.add(
                LabelItem(
                    project_id=p.id,
                    stage_id=w.id,
                    key=it.key,
                    priority=it.priority,
                    suggestion={
                        "value": first,
                        "from_stage": src.name,
                        "votes": values,
                        "score": min(conf_known) if conf_known else None,
                    },
                    n_labels=0,
                    done=False,
                )
            )
            s.flush()
            # The watching stage grew: its percentage fell, milestones already fired stay fired.


def _progress(s: Session, st: LabelStage) -> dict[str, Any]:
    total = (
        s.scalar(select(func.count()).select_from(LabelItem).where(LabelItem.stage_id == st.id))
        or 0
    )
    done = (
        s.scalar(
            select(func.count())
            .select_from(LabelItem)
            .where(and_(LabelItem.stage_id == st.id, LabelItem.done))
        )
        or 0
    )
    return {
        "total": total,
        "done": done,
        "percent": round(100.0 * done / total, 2) if total else 0.0,
    }
