"""Label set files: immutable, content-hashed versions of a labeling project's labels.

A version is one Parquet file named by the SHA-256 of its bytes
(``<workspace>/labelsets/<project>/<hash>.parquet``: two versions with the same rows share
one file) and a small JSON manifest per version name (``versions/<version>.json``). A
version is never rewritten: writing a name that exists with other content is refused.
This is the store layer's part; projects, queues and who labeled what live in the
metadata DB (:mod:`relgraph.labels`). The query compiler reads label sets from here
(``PREDICT LABEL(project[, version]) FOR EACH table.key``).

Columns: ``key`` (the entity key as text), ``label`` (text for classes, float for a
number), ``confidence`` (float, 1.0 for a human label), ``labeler``, ``stage``,
``labeled_at``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import StoreError
from relgraph.store import atomic
from relgraph.store.ids import check_id
from relgraph.store.workspace import table_bytes

DIR = "labelsets"
COLUMNS = ("key", "label", "confidence", "labeler", "stage", "labeled_at")


@dataclass(frozen=True)
class LabelSetManifest:
    """One named version: its content hash, the version it was made over, its schema."""

    project: str
    version: str
    content_hash: str
    parent: str | None
    rows: int
    label_schema: dict[str, Any]
    entity_table: str
    key_column: str
    created: str
    source: str = "labels"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def id(self) -> str:
        """``project@version``: how lineage and model metadata name it."""
        return f"{self.project}@{self.version}"


def _project_dir(workspace: str | Path, project: str) -> Path:
    check_id("label project", project)
    return Path(workspace) / DIR / project


def write_version(
    workspace: str | Path,
    table: pa.Table,
    *,
    project: str,
    version: str,
    label_schema: dict[str, Any],
    entity_table: str,
    key_column: str,
    parent: str | None = None,
    source: str = "labels",
) -> LabelSetManifest:
    """Write ``table`` as version ``version`` of ``project`` (refused if it exists differently)."""
    check_id("label set version", version)
    folder = _project_dir(workspace, project)
    table = table.sort_by([("key", "ascending")])
    blob = table_bytes(table)
    digest = hashlib.sha256(blob).hexdigest()
    man_path = folder / "versions" / f"{version}.json"
    if man_path.is_file():
        old = read_manifest(workspace, project, version)
        if old.content_hash == digest:
            return old
        raise StoreError(
            f"label set {project}@{version} exists with other content ({old.content_hash[:12]}); "
            "versions are immutable: export under a new name"
        )
    atomic.private_dir(folder / "versions")
    data = folder / f"{digest}.parquet"
    if not data.is_file():  # copy-on-write: unchanged content shares the file
        atomic.write_bytes(data, blob)
    man = LabelSetManifest(
        project=project,
        version=version,
        content_hash=digest,
        parent=parent,
        rows=table.num_rows,
        label_schema=label_schema,
        entity_table=entity_table,
        key_column=key_column,
        created=datetime.now(UTC).isoformat(timespec="microseconds"),
        source=source,
    )
    atomic.write_text(man_path, json.dumps(man.to_dict(), indent=2))
    return man


def read_manifest(
    workspace: str | Path, project: str, version: str | None = None
) -> LabelSetManifest:
    """The manifest of ``version`` (default: the newest version of ``project``)."""
    folder = _project_dir(workspace, project) / "versions"
    if version is None:
        found = sorted(
            (json.loads(p.read_text()) for p in folder.glob("*.json")) if folder.is_dir() else [],
            key=lambda d: d["created"],
        )
        if not found:
            raise StoreError(
                f"label project '{project}' has no exported label set; export one first"
            )
        return LabelSetManifest(**found[-1])
    check_id("label set version", version)
    path = folder / f"{version}.json"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise StoreError(
            f"no label set version '{version}' of '{project}' "
            f"(versions: {', '.join(have) or 'none'})"
        )
    return LabelSetManifest(**json.loads(path.read_text()))


def read_version(
    workspace: str | Path, project: str, version: str | None = None
) -> tuple[pa.Table, LabelSetManifest]:
    """The rows and manifest of a version; the file is checked against its hash."""
    man = read_manifest(workspace, project, version)
    path = _project_dir(workspace, project) / f"{man.content_hash}.parquet"
    blob = path.read_bytes() if path.is_file() else b""
    if hashlib.sha256(blob).hexdigest() != man.content_hash:
        raise StoreError(f"label set {man.id}: file '{path}' is missing or does not match its hash")
    return pq.read_table(pa.BufferReader(blob)), man


def list_versions(workspace: str | Path, project: str) -> list[LabelSetManifest]:
    folder = _project_dir(workspace, project) / "versions"
    if not folder.is_dir():
        return []
    mans = [LabelSetManifest(**json.loads(p.read_text())) for p in folder.glob("*.json")]
    return sorted(mans, key=lambda m: m.created)
