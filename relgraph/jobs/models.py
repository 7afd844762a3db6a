"""The metadata database's tables (SQLAlchemy 2 ORM).

The schema itself is created and evolved by the Alembic migrations in
``relgraph/jobs/migrations``; these classes must match the latest revision
(``tests/jobs/test_db.py`` checks that they do).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(StrEnum):
    """A job's life: pending → queued → running → succeeded | failed | cancelled.

    ``skipped`` means an identical earlier job's outputs were reused; ``blocked``
    means a job it depends on failed or was cancelled.
    """

    pending = "pending"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    skipped = "skipped"
    failed = "failed"
    blocked = "blocked"
    cancelled = "cancelled"

    @property
    def done(self) -> bool:
        return self in DONE

    @property
    def ok(self) -> bool:
        return self in (Status.succeeded, Status.skipped)


DONE = frozenset(
    {Status.succeeded, Status.skipped, Status.failed, Status.blocked, Status.cancelled}
)

# ``Run.executor`` of a job started through the REST service (``relgraph serve``): one run
# per job, run by the service's own workers rather than by a pipeline runner.
SERVICE_EXECUTOR = "service"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Run(Base):
    """One ``relgraph run pipeline.yaml``: the spec it ran and who ran it."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(200))
    spec_path: Mapped[str | None] = mapped_column(Text)
    spec_text: Mapped[str] = mapped_column(Text)
    workspace: Mapped[str] = mapped_column(Text)
    executor: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=Status.running.value)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def is_service_run(run: Run | None) -> bool:
    """Whether a run holds one job started through the REST service (``relgraph serve``)."""
    return run is not None and run.executor == SERVICE_EXECUTOR


class Job(Base):
    """One job of a run; ``input_hash`` fingerprints its type, params and inputs."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(50))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    input_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default=Status.pending.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float | None] = mapped_column(Float)
    progress_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    logs: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reused_from: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    """Every job state change, in order; what the webhook is sent."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uri: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str | None] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(64))
    row_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Query(Base):
    __tablename__ = "queries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash of the text
    name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    query_id: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Metric(Base):
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    model_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)


class Output(Base):
    __tablename__ = "outputs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(50))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lineage(Base):
    """An edge "``src`` made ``dst``" (snapshot → model, model → output, ...)."""

    __tablename__ = "lineage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    src_kind: Mapped[str] = mapped_column(String(50))
    src_id: Mapped[str] = mapped_column(String(200))
    dst_kind: Mapped[str] = mapped_column(String(50))
    dst_id: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)


# -- human labels (relgraph.labels): projects, stages (queues), items, labels, label sets --


class LabelProject(Base):
    """A labeling project on one entity table: its label schema and guidelines."""

    __tablename__ = "label_projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a checked name
    entity_table: Mapped[str] = mapped_column(String(200))
    key_column: Mapped[str] = mapped_column(String(200))
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    label_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    guidelines: Mapped[str] = mapped_column(Text, default="")
    reviewers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    webhook: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelStage(Base):
    """One queue of a project; ``watches`` another stage's completed items through ``filter``."""

    __tablename__ = "label_stages"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_label_stage_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("label_projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    watches: Mapped[str | None] = mapped_column(String(64))
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    labelers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attributes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Progress milestones (25, 50, ...) whose event has fired: each fires once.
    milestones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelItem(Base):
    """An entity row (by key) in a stage's queue; ``done`` once ``overlap`` labels are in."""

    __tablename__ = "label_items"
    __table_args__ = (
        UniqueConstraint("stage_id", "key", name="uq_label_item_key"),
        Index("ix_label_items_queue", "stage_id", "done", "priority", "id"),
        # Keyset pages over a whole stage (open and done): see LabelStore.queue.
        Index("ix_label_items_order", "stage_id", "priority", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("label_stages.id"))
    key: Mapped[str] = mapped_column(String(200))
    # Lower comes first (most uncertain first when seeded by a model).
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    gold: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Label(Base):
    """One labeler's answer for one item: who, when, which stage. Never updated in place."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("item_id", "labeler", name="uq_label_item_labeler"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    stage_id: Mapped[int] = mapped_column(Integer, index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("label_items.id"))
    key: Mapped[str] = mapped_column(String(200))
    labeler: Mapped[str] = mapped_column(String(200))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"value": ..., "attributes": {...}}
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelSetRow(Base):
    """A named, immutable, content-hashed version of a project's labels (a Parquet file)."""

    __tablename__ = "label_sets"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_label_set_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    parent: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
