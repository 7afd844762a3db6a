"""A project's label schema: classes or a number, plus optional attributes; label checks.

Example:
    >>> s = LabelSchema.from_dict({"classes": ["reseller", "consumer"]})
    >>> s.check({"value": "reseller"})
    'reseller'
    >>> s.check({"value": "fraud"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    relgraph.errors.LabelError: label 'fraud' is not a class of this project; the classes are: ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from relgraph.errors import LabelError

ATTRIBUTE_KINDS = ("text", "multi", "confidence")
MAX_TEXT = 10_000


@dataclass(frozen=True)
class Attribute:
    """An extra field a labeler fills: free ``text``, ``multi``-select of ``options``, or
    a ``confidence`` in [0, 1]."""

    name: str
    kind: str
    options: tuple[str, ...] = ()
    required: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attribute:
        kind = str(d.get("kind", "text"))
        if kind not in ATTRIBUTE_KINDS:
            raise LabelError(
                f"attribute '{d.get('name')}': unknown kind '{kind}'; "
                f"use {', '.join(ATTRIBUTE_KINDS)}"
            )
        name = str(d.get("name") or "")
        if not name or len(name) > 64:
            raise LabelError("every attribute needs a name of 1 to 64 characters")
        options = tuple(str(o) for o in d.get("options") or ())
        if kind == "multi" and not options:
            raise LabelError(f"multi-select attribute '{name}' needs its options")
        return cls(name=name, kind=kind, options=options, required=bool(d.get("required", False)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "options": list(self.options),
            "required": self.required,
        }

    def check(self, v: Any) -> Any:
        if self.kind == "text":
            if not isinstance(v, str) or len(v) > MAX_TEXT:
                raise LabelError(
                    f"attribute '{self.name}' takes text of at most {MAX_TEXT} characters"
                )
            return v
        if self.kind == "multi":
            if not isinstance(v, list) or any(o not in self.options for o in v):
                raise LabelError(
                    f"attribute '{self.name}' takes a list of: {', '.join(self.options)}"
                )
            return sorted(set(v))
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise LabelError(f"attribute '{self.name}' is a confidence between 0 and 1, not {v!r}")
        return float(v)


@dataclass(frozen=True)
class LabelSchema:
    """``classes`` (text labels) or, when empty, a ``number`` label; ``attributes`` for every
    stage."""

    classes: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = field(default=())

    @property
    def kind(self) -> str:
        return "classes" if self.classes else "number"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSchema:
        classes = d.get("classes")
        if classes is not None:
            if not isinstance(classes, list) or len(classes) < 2:
                raise LabelError("a label schema's 'classes' is a list of at least two class names")
            names = tuple(str(c) for c in classes)
            if len(set(names)) != len(names) or any(not c or len(c) > 200 for c in names):
                raise LabelError("class names must be distinct, 1 to 200 characters each")
        elif d.get("kind", "classes") != "number":
            raise LabelError("a label schema needs 'classes': [...] or 'kind': 'number'")
        attrs = tuple(Attribute.from_dict(a) for a in d.get("attributes") or ())
        return cls(classes=names if classes is not None else (), attributes=attrs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "attributes": [a.to_dict() for a in self.attributes],
        }
        if self.classes:
            out["classes"] = list(self.classes)
        return out

    def check(self, label: dict[str, Any], extra: tuple[Attribute, ...] = ()) -> Any:
        """The checked value of ``label`` (``{"value": ..., "attributes": {...}}``)."""
        v = label.get("value")
        if self.classes:
            if not isinstance(v, str) or v not in self.classes:
                raise LabelError(
                    f"label {v!r} is not a class of this project; the classes are: "
                    f"{', '.join(self.classes)}".replace('"', "'")
                )
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise LabelError(f"this project's label is a finite number, not {v!r}")
        attrs = label.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise LabelError("'attributes' is an object of attribute name to value")
        known = {a.name: a for a in (*self.attributes, *extra)}
        for name in attrs:
            if name not in known:
                raise LabelError(
                    f"unknown attribute '{name}'; this stage has: {', '.join(known) or 'none'}"
                )
        for a in known.values():
            if a.name in attrs:
                attrs[a.name] = a.check(attrs[a.name])
            elif a.required:
                raise LabelError(f"attribute '{a.name}' is required in this stage")
        label["attributes"] = attrs
        return v if self.classes else float(v)
