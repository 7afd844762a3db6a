"""The pipeline spec (YAML): sources, queries and the jobs that use them.

Example:
    >>> spec = PipelineSpec.from_yaml('''
    ... name: demo
    ... sources:
    ...   shop: {uri: data/}
    ... jobs:
    ...   ingest: {type: ingest, source: shop}
    ...   embed: {type: embed, needs: [ingest], table: users}
    ... ''')
    >>> [j.name for j in spec.jobs]
    ['ingest', 'embed']
    >>> spec.jobs[1]
    JobSpec(name='embed', type='embed', needs=('ingest',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from relgraph.errors import JobError
from relgraph.jobs.dag import topological_order
from relgraph.jobs.registry import KINDS
from relgraph.jobs.schedule import Schedule, parse_schedule

# The kinds a pipeline may use: the registry's (relgraph.jobs.registry.KINDS).
JOB_TYPES = tuple(n for n, k in KINDS.items() if "pipeline" in k.surfaces)
_SPEC_KEYS = {"name", "workspace", "webhook", "schedule", "sources", "queries", "jobs"}


@dataclass(frozen=True)
class SourceSpec:
    name: str
    uri: str
    schema: str | None = None  # overrides YAML, a path


@dataclass(frozen=True)
class JobSpec:
    """One job: its ``type``, the jobs it ``needs``, and its parameters."""

    name: str
    type: str
    needs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    jobs: tuple[JobSpec, ...]
    sources: Mapping[str, SourceSpec] = field(default_factory=dict)
    queries: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None
    webhook: str | None = None
    # ``schedule: "0 6 * * *"`` (or ``{cron: ...}``, UTC): when `relgraph watch` looks at the
    # source; `relgraph run` is one run and ignores it.
    schedule: Schedule | None = None
    path: str | None = None  # where it was read from; relative paths resolve against its folder
    text: str = field(default="", repr=False)

    def job(self, name: str) -> JobSpec:
        for j in self.jobs:
            if j.name == name:
                return j
        raise JobError(f"pipeline '{self.name}' has no job '{name}'")

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    def resolve_path(self, p: str) -> str:
        """A path from the spec, relative to the spec file's folder; URLs stay as they are."""
        if "://" in p or Path(p).is_absolute():
            return p
        return str((self.base_dir / p).resolve())

    @classmethod
    def load(cls, path: str | Path) -> PipelineSpec:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise JobError(f"cannot read pipeline spec '{p}': {e.strerror}") from e
        return cls.from_yaml(text, path=str(p.resolve()))

    @classmethod
    def from_yaml(cls, text: str, *, path: str | None = None) -> PipelineSpec:
        where = f"pipeline spec '{path}'" if path else "pipeline spec"
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise JobError(f"{where} is not valid YAML: {e}") from e
        if not isinstance(raw, dict):
            raise JobError(f"{where} must be a mapping with 'jobs:' (and 'sources:', 'queries:')")
        unknown = set(raw) - _SPEC_KEYS
        if unknown:
            raise JobError(
                f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}"
            )
        sources: dict[str, SourceSpec] = {}
        for name, s in (raw.get("sources") or {}).items():
            if isinstance(s, str):
                s = {"uri": s}
            if not isinstance(s, dict) or "uri" not in s:
                raise JobError(f"{where}: source '{name}' needs 'uri:' (a folder, file or URL)")
            sources[str(name)] = SourceSpec(str(name), str(s["uri"]), s.get("schema"))
        queries = {str(k): str(v).strip() for k, v in (raw.get("queries") or {}).items()}
        jobs_raw = raw.get("jobs")
        if not isinstance(jobs_raw, dict) or not jobs_raw:
            raise JobError(f"{where} needs a non-empty 'jobs:' mapping of name → job")
        jobs = []
        for name, j in jobs_raw.items():
            jobs.append(_job(str(name), j, where, sources, queries))
        spec = cls(
            name=str(raw.get("name") or (Path(path).stem if path else "pipeline")),
            jobs=tuple(jobs),
            sources=sources,
            queries=queries,
            workspace=raw.get("workspace"),
            webhook=raw.get("webhook"),
            schedule=(
                parse_schedule(raw["schedule"], where=f"{where}: schedule")
                if raw.get("schedule") is not None
                else None
            ),
            path=path,
            text=text,
        )
        _check_refs(spec, where)
        topological_order(spec)  # raises on unknown needs and cycles
        return spec


def _job(
    name: str,
    j: Any,
    where: str,
    sources: Mapping[str, SourceSpec],
    queries: Mapping[str, str],
) -> JobSpec:
    if not isinstance(j, dict) or "type" not in j:
        raise JobError(f"{where}: job '{name}' needs 'type:' (one of {', '.join(JOB_TYPES)})")
    jtype = str(j["type"])
    if jtype not in JOB_TYPES:
        raise JobError(
            f"{where}: job '{name}' has unknown type '{jtype}'; use one of {', '.join(JOB_TYPES)}"
        )
    needs = j.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    params = {k: v for k, v in j.items() if k not in ("type", "needs")}
    if "source" in params and params["source"] not in sources:
        raise JobError(
            f"{where}: job '{name}' uses source '{params['source']}', which 'sources:' does not "
            f"declare (declared: {sorted(sources) or 'none'})"
        )
    if "query" in params and params["query"] not in queries:
        raise JobError(
            f"{where}: job '{name}' uses query '{params['query']}', which 'queries:' does not "
            f"declare (declared: {sorted(queries) or 'none'})"
        )
    return JobSpec(name=name, type=jtype, needs=tuple(str(n) for n in needs), params=params)


# Params that name another job's output: (job type, param) → what it reads.
_REFS = {("embed", "model"): "model", ("train", "from_pretrained"): "pretrained"}


def _check_refs(spec: PipelineSpec, where: str) -> None:
    """A param naming another job (``model: train``) needs that job in ``needs:``."""
    names = {j.name for j in spec.jobs}
    for j in spec.jobs:
        for (jtype, param), what in _REFS.items():
            ref = j.params.get(param) if j.type == jtype else None
            if isinstance(ref, str) and ref in names and ref not in j.needs:
                raise JobError(
                    f"{where}: job '{j.name}' reads the {what} of job '{ref}' ({param}: {ref}) "
                    f"but does not wait for it; add '{ref}' to its 'needs:'"
                )
