"""Export a project's labels as a versioned label set (:mod:`relgraph.store.labelsets`).

One row per entity key: the final answer of the latest stage that completed the key
(an expert stage overrides a first pass), the majority of its labels when the stage
had overlap. A new version is copy-on-write over ``parent`` (default: the newest
version): keys labeled since replace their rows, the rest are carried over.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from relgraph.jobs.models import Label, LabelSetRow, LabelStage
from relgraph.labels import notify
from relgraph.labels.access import Who
from relgraph.labels.store import LabelStore, check_name
from relgraph.store import labelsets
from relgraph.store.labelsets import LabelSetManifest


def final_labels(ls: LabelStore, project: str, who: Who | None = None) -> pa.Table:
    """The current answer per key (only completed items count)."""
    rows = ls.labels(project, who=who)
    info = ls.project(project, who=who)
    stage_order = {st["name"]: i for i, st in enumerate(info["stages"])}
    done_items = _done_items(ls, project)
    by_key: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["item_id"] in done_items:
            grouped[(r["key"], r["stage"])].append(r)
    for (key, stage), labels in grouped.items():
        order = stage_order.get(stage, -1)
        if key not in by_key or order > by_key[key][0]:
            by_key[key] = (order, labels)
    number = info["schema"].get("kind") == "number"
    out: dict[str, list[Any]] = {c: [] for c in labelsets.COLUMNS}
    for key, (_, labels) in sorted(by_key.items()):
        values = [lb["value"] for lb in labels]
        if number:
            value: Any = float(sum(values) / len(values))
            agree = 1.0
        else:
            top, n = Counter(values).most_common(1)[0]
            value, agree = str(top), n / len(values)
        last = labels[-1]
        out["key"].append(key)
        out["label"].append(value)
        out["confidence"].append(float(agree))
        out["labeler"].append(",".join(sorted({lb["labeler"] for lb in labels})))
        out["stage"].append(last["stage"])
        out["labeled_at"].append(last["at"])
    return pa.table(
        {
            "key": pa.array(out["key"], pa.string()),
            "label": pa.array(out["label"], pa.float64() if number else pa.string()),
            "confidence": pa.array(out["confidence"], pa.float64()),
            "labeler": pa.array(out["labeler"], pa.string()),
            "stage": pa.array(out["stage"], pa.string()),
            "labeled_at": pa.array(out["labeled_at"], pa.string()),
        }
    )


def _done_items(ls: LabelStore, project: str) -> set[int]:
    from relgraph.jobs.models import LabelItem

    return ls.db.read(
        lambda s: set(
            s.scalars(select(LabelItem.id).where(LabelItem.project_id == project, LabelItem.done))
        )
    )


def export(
    ls: LabelStore,
    project: str,
    version: str,
    *,
    parent: str | None = None,
    table: pa.Table | None = None,
    source: str = "labels",
    who: Who | None = None,
) -> LabelSetManifest:
    """Write version ``version`` (immutable); ``table`` instead of the project's labels for a
    weak-supervision result. Fires ``labelset.created``."""
    check_name("label set version", version)
    info = ls.project(project, who=who)
    new = table if table is not None else final_labels(ls, project, who=who)
    olds = labelsets.list_versions(ls.workspace, project)
    base = parent if parent is not None else (olds[-1].version if olds else None)
    if base is not None:
        old, _ = labelsets.read_version(ls.workspace, project, base)
        keep = pa.compute.invert(pa.compute.is_in(old["key"], value_set=new["key"]))
        new = pa.concat_tables([old.filter(keep).cast(new.schema), new])
    man = labelsets.write_version(
        ls.workspace,
        new,
        project=project,
        version=version,
        label_schema=info["schema"],
        entity_table=info["entity_table"],
        key_column=info["key_column"],
        parent=base,
        source=source,
    )

    def record(s: Any) -> list[dict[str, Any]]:
        if (
            s.scalar(
                select(LabelSetRow).where(
                    LabelSetRow.project_id == project, LabelSetRow.version == version
                )
            )
            is None
        ):
            s.add(
                LabelSetRow(
                    project_id=project,
                    version=version,
                    content_hash=man.content_hash,
                    parent=base,
                    rows=man.rows,
                    path=str(man.content_hash),
                )
            )
            return [
                notify.record(
                    s,
                    project,
                    "labelset.created",
                    version=version,
                    content_hash=man.content_hash,
                    rows=man.rows,
                )
            ]
        return []

    bodies = ls.db.write(record)
    notify.send(ls._webhook(project), bodies)
    return man


def stage_names(ls: LabelStore, project: str) -> list[str]:
    return ls.db.read(
        lambda s: list(s.scalars(select(LabelStage.name).where(LabelStage.project_id == project)))
    )


def labels_of(ls: LabelStore, project: str) -> list[Any]:
    return ls.db.read(lambda s: list(s.scalars(select(Label).where(Label.project_id == project))))
