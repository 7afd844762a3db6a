"""Export a project's labels as a versioned label set (:mod:`relgraph.store.labelsets`).

One row per entity key: the final answer of the latest stage that completed the key
(an expert stage overrides a first pass), the majority of its labels when the stage
had overlap. A new version is copy-on-write over ``parent`` (default: the newest
version): keys labeled since replace their rows, the rest are carried over.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from relgraph.jobs.models import Label, LabelItem, LabelSetRow, LabelStage
from relgraph.labels import notify
from relgraph.labels.access import Who
from relgraph.labels.store import LabelStore, check_name
from relgraph.store import labelsets
from relgraph.store.labelsets import LabelSetManifest


def final_labels(ls: LabelStore, project: str, who: Who | None = None) -> pa.Table:
    """The current answer per key (only completed items count).

    One SQL query brings the labels of completed items as plain rows, the label value
    taken out of its JSON by the database (``->>`` on PostgreSQL, ``json_extract`` on
    SQLite): building an ORM object and decoding a JSON document per label cost most of
    an export of 100k labels. One pass keeps, per key, the labels of its latest stage.
    """
    who = who or Who.local()
    info = ls.project(project, who=who)  # the access check; the stages ``who`` may see
    # Stages in creation order: a later stage (an expert pass) overrides an earlier one.
    stage_name = {st["id"]: st["name"] for st in info["stages"]}
    number = info["schema"].get("kind") == "number"
    value = Label.value["value"].as_float() if number else Label.value["value"].as_string()
    query = (
        select(Label.key, Label.stage_id, Label.labeler, value, Label.created_at)
        .join(LabelItem, LabelItem.id == Label.item_id)
        .where(Label.project_id == project, LabelItem.done, Label.stage_id.in_(list(stage_name)))
        .order_by(Label.id)
    )
    rows = ls.db.read(lambda s: s.execute(query).all())
    by_key: dict[str, tuple[int, list[tuple[str, Any, Any]]]] = {}
    for key, stage_id, labeler, v, at in rows:
        have = by_key.get(key)
        if have is None or stage_id > have[0]:
            by_key[key] = (stage_id, [(labeler, v, at)])
        elif stage_id == have[0]:
            have[1].append((labeler, v, at))
    out: dict[str, list[Any]] = {c: [] for c in labelsets.COLUMNS}
    for key, (stage_id, labels) in sorted(by_key.items()):
        if len(labels) == 1:  # the common case: one label, nothing to vote
            labeler, v, at = labels[0]
            value_out: Any = float(v) if number else str(v)
            agree, who_ = 1.0, labeler
        else:
            values = [lb[1] for lb in labels]
            if number:
                value_out, agree = float(sum(values) / len(values)), 1.0
            else:
                top, n = Counter(values).most_common(1)[0]
                value_out, agree = str(top), n / len(values)
            who_ = ",".join(sorted({lb[0] for lb in labels}))
            at = labels[-1][2]
        out["key"].append(key)
        out["label"].append(value_out)
        out["confidence"].append(float(agree))
        out["labeler"].append(who_)
        out["stage"].append(stage_name[stage_id])
        out["labeled_at"].append(at.isoformat())
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
