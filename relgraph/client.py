"""The Python SDK: the same calls as :mod:`relgraph.api`, against a ``relgraph serve`` server.

A notebook writes the same code against a laptop workspace or a server::

    import relgraph.api as rg                     # local
    rg = relgraph.Client("http://host:8000", token)  # remote

    snap = rg.snapshot()                          # Snapshot / RemoteSnapshot
    snap.schema["results"].primary_key
    snap.read_table("drivers")                    # pyarrow.Table either way
    rg.ingest("examples/f1").snapshot.id          # remote: runs as a job, waits for it

Example:
    >>> c = Client("http://127.0.0.1:9", "rg_x_y")
    >>> c
    Client('http://127.0.0.1:9')
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa

from relgraph.errors import JobError, QueryError, RelgraphError, StoreError
from relgraph.schema.types import Schema

PAGE = 1000


class ServiceError(RelgraphError):
    """The server refused a request (``status`` is the HTTP status)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteManifest:
    id: str
    source: str
    created: str
    parent: str | None
    row_counts: dict[str, int]
    validation: dict[str, Any] = field(default_factory=dict)


class RemoteSnapshot:
    """A snapshot on the server: the reading half of :class:`relgraph.store.snapshot.Snapshot`."""

    def __init__(self, client: Client, summary: dict[str, Any], schema: Schema) -> None:
        self._client = client
        self.schema = schema
        self.manifest = RemoteManifest(
            id=summary["snapshot_id"],
            source=summary["source"],
            created=summary["created"],
            parent=summary.get("parent"),
            row_counts={n: t["rows"] for n, t in summary["tables"].items()},
        )

    def __repr__(self) -> str:
        return f"RemoteSnapshot(id={self.id[:12]!r}, tables={len(self.manifest.row_counts)})"

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def table_names(self) -> list[str]:
        return list(self.manifest.row_counts)

    def read_table(
        self, name: str, columns: list[str] | None = None, *, limit: int | None = None
    ) -> pa.Table:
        """The table's rows (all, or the first ``limit``) as Arrow, fetched page by page."""
        if name not in self.manifest.row_counts:
            raise StoreError(
                f"snapshot {self.id[:12]} has no table '{name}'; "
                f"tables: {', '.join(self.table_names)}"
            )
        rows = list(self._client._pages(f"/snapshots/{self.id}/tables/{name}/rows", limit=limit))
        tbl = pa.Table.from_pylist(rows)
        return tbl.select(columns) if columns else tbl

    def stats(self, name: str) -> dict[str, Any]:
        s: dict[str, Any] = self._client._get(f"/snapshots/{self.id}/tables/{name}/stats")
        return s

    def validation(self) -> dict[str, Any]:
        v: dict[str, Any] = self._client._get(f"/snapshots/{self.id}/validation")["validation"]
        return v


@dataclass
class Job:
    """A job on the server; ``wait()`` polls until it finishes."""

    client: Client
    id: str
    kind: str
    status: str
    progress: float
    result: dict[str, Any]
    error: str | None

    @classmethod
    def _from(cls, client: Client, d: dict[str, Any]) -> Job:
        return cls(
            client,
            d["id"],
            d["kind"],
            d["status"],
            d["progress"],
            d.get("result") or {},
            d.get("error"),
        )

    def refresh(self) -> Job:
        d = self.client._get(f"/jobs/{self.id}")
        self.status, self.progress, self.result, self.error = (
            d["status"],
            d["progress"],
            d.get("result") or {},
            d.get("error"),
        )
        return self

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "skipped", "failed", "blocked", "cancelled")

    def wait(self, timeout: float = 3600.0, poll: float = 0.25) -> Job:
        """Block until the job finishes; raises :class:`JobError` if it did not succeed."""
        deadline = time.monotonic() + timeout
        while not self.refresh().done:
            if time.monotonic() > deadline:
                raise JobError(f"job '{self.id}' still {self.status} after {timeout:.0f} s")
            time.sleep(poll)
        if self.status not in ("succeeded", "skipped"):
            raise JobError(
                f"job '{self.id}' ({self.kind}) {self.status}: {self.error or ''}".rstrip(": ")
            )
        return self

    def logs(self) -> list[str]:
        return list(self.client._pages(f"/jobs/{self.id}/logs"))

    def cancel(self) -> Job:
        self.client._post(f"/jobs/{self.id}/cancel")
        return self.refresh()

    def retry(self) -> Job:
        return Job._from(self.client, self.client._post(f"/jobs/{self.id}/retry"))


@dataclass(frozen=True)
class RemoteIngestResult:
    snapshot: RemoteSnapshot
    created: bool
    job: Job


class Client:
    """A relgraph server at ``url`` reached with the API ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------
    def _check(self, r: httpx.Response) -> Any:
        if r.status_code < 400:
            return r.json() if r.content else None
        try:
            body = r.json()
        except ValueError:
            body = {"message": r.text}
        msg = body.get("message") or body.get("detail") or r.reason_phrase
        if not isinstance(msg, str):
            msg = str(msg)
        if body.get("error") == "QueryError":
            if "line" not in body:  # an error of no token: the message says it all
                raise QueryError(msg)
            # The server's message already ends in "at line:col".
            raise QueryError(msg.rsplit(" at ", 1)[0], line=body["line"], col=body["col"])
        if r.status_code == 404:
            raise StoreError(msg)
        raise ServiceError(f"{r.status_code}: {msg}", status=r.status_code)

    def _get(self, path: str, **params: Any) -> Any:
        return self._check(self._http.get(path, params=params))

    def _post(self, path: str, json: Any = None) -> Any:
        return self._check(self._http.post(path, json=json))

    def _pages(self, path: str, *, limit: int | None = None) -> Iterator[Any]:
        offset = 0
        while True:
            size = PAGE if limit is None else min(PAGE, limit - offset)
            if size <= 0:
                return
            page = self._get(path, limit=size, offset=offset)
            yield from page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    # -- the api mirror --------------------------------------------------------------
    def snapshots(self) -> list[RemoteSnapshot]:
        """All snapshots, oldest first (as :func:`relgraph.api.snapshots`)."""
        return [self.snapshot(s["snapshot_id"]) for s in reversed(list(self._pages("/snapshots")))]

    def snapshot(self, snapshot_id: str | None = None) -> RemoteSnapshot:
        sid = snapshot_id or "latest"
        summary = self._get(f"/snapshots/{sid}")
        schema = Schema.from_dict(
            self._get(f"/snapshots/{summary['snapshot_id']}/schema")["schema"]
        )
        return RemoteSnapshot(self, summary, schema)

    def snapshot_summary(self, snap: RemoteSnapshot | str | None = None) -> dict[str, Any]:
        sid = snap.id if isinstance(snap, RemoteSnapshot) else (snap or "latest")
        summary: dict[str, Any] = self._get(f"/snapshots/{sid}")
        return summary

    def ingest(
        self, source: str, *, strict: bool = False, wait: bool = True
    ) -> RemoteIngestResult | Job:
        """Ingest ``source`` (a path on the server) as a job; waits and returns the result."""
        job = Job._from(self, self._post("/sources", {"source": source, "strict": strict}))
        if not wait:
            return job
        job.wait()
        return RemoteIngestResult(
            self.snapshot(job.result["snapshot_id"]), bool(job.result["created"]), job
        )

    def compile_query(self, text: str, *, snapshot: str | None = None) -> dict[str, Any]:
        """The inferred task of a query (a dict with the fields of :class:`relgraph.query.Task`)."""
        task: dict[str, Any] = self._post(
            "/queries/compile", {"query": text, "snapshot": snapshot}
        )["task"]
        return task

    def submit(self, kind: str, **params: Any) -> Job:
        return Job._from(self, self._post("/jobs", {"kind": kind, "params": params}))

    def train(
        self,
        query_text: str,
        *,
        snapshot: str | None = None,
        budget: str | None = None,
        from_pretrained: str | None = None,
        wait: bool = True,
        **params: Any,
    ) -> Job:
        """Train a model; ``from_pretrained``: a trunk id from :meth:`pretrain`. Other
        ``params`` go to the job as they are (``minutes``, ``trials``, ``predict``, ...)."""
        if from_pretrained is not None:
            params["from_pretrained"] = from_pretrained
        job = self.submit("train", query=query_text, snapshot=snapshot, budget=budget, **params)
        return job.wait() if wait else job

    def predict(self, model_id: str, *, wait: bool = True) -> Job:
        job = self.submit("predict", model_id=model_id)
        return job.wait() if wait else job

    def embed(
        self,
        model_id: str,
        *,
        table: str | None = None,
        at: str | None = None,
        snapshot: str | None = None,
        wait: bool = True,
    ) -> Job:
        """GNN embeddings of an entity table from a trained model (as
        :func:`relgraph.api.embed_entities`); ``job.result["output_id"]`` names them for
        :meth:`embeddings` and :meth:`cluster`."""
        params = {"table": table, "at": at, "snapshot": snapshot}
        job = self.submit("embed", model_id=model_id, **_given(params))
        return job.wait() if wait else job

    def pretrain(
        self,
        *,
        snapshot: str | None = None,
        budget: str | None = None,
        steps: int | None = None,
        batch_size: int | None = None,
        minutes: float | None = None,
        until: str | None = None,
        tables: list[str] | None = None,
        seed: int | None = None,
        wait: bool = True,
    ) -> Job:
        """Pretrain a GNN trunk without labels (as :func:`relgraph.api.pretrain`);
        ``job.result["pretrained_id"]`` goes to ``train(..., from_pretrained=...)``."""
        params = {
            "snapshot": snapshot,
            "budget": budget,
            "steps": steps,
            "batch_size": batch_size,
            "minutes": minutes,
            "until": until,
            "tables": tables,
            "seed": seed,
        }
        job = self.submit("pretrain", **_given(params))
        return job.wait() if wait else job

    def cluster(self, embeddings_id: str, *, k: int = 8, seed: int = 0, wait: bool = True) -> Job:
        """k-means over an embeddings output; ``job.result`` has ``sizes`` and the
        ``output_id`` of the rows with their ``cluster_label``."""
        job = self.submit("cluster", embeddings=embeddings_id, k=k, seed=seed)
        return job.wait() if wait else job

    def job(self, job_id: str) -> Job:
        return Job._from(self, self._get(f"/jobs/{job_id}"))

    def jobs(self, *, status: str | None = None, limit: int = 50) -> list[Job]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return [Job._from(self, d) for d in self._get("/jobs", **params)["items"]]

    def models(self) -> list[dict[str, Any]]:
        return list(self._pages("/models"))

    def model(self, model_id: str) -> dict[str, Any]:
        m: dict[str, Any] = self._get(f"/models/{model_id}")
        return m

    def predict_online(
        self,
        model_id: str,
        keys: list[Any],
        *,
        at: str | None = None,
        embedding: bool = False,
        model_kind: str | None = None,
        snapshot: str | None = None,
    ) -> dict[str, Any]:
        """Predictions for a few entity keys now (``POST /models/{id}/predict``).

        The answer's ``results`` hold one object per key, in order: ``prediction``,
        ``score`` (binary: P(true)), ``top`` (multiclass/link: class, score, rank),
        ``embedding`` when asked, or ``error`` for a key the server could not answer.
        """
        body = _given(
            {"keys": list(keys), "at": at, "model_kind": model_kind, "snapshot": snapshot}
        )
        body["embedding"] = embedding
        out: dict[str, Any] = self._post(f"/models/{model_id}/predict", json=body)
        return out

    def explain(
        self,
        model_id: str,
        *,
        entity: Any = None,
        model_kind: str | None = None,
        at: str = "test",
        sample: int = 64,
        top: int = 10,
        snapshot: str | None = None,
    ) -> dict[str, Any]:
        """Why a model predicts what it does (as :func:`relgraph.api.explain`, as JSON):
        ranked ``columns``, ``tables``, ``edge_types``, ``cohorts`` and, with ``entity``,
        the local view under ``entity``."""
        body = _given(
            {"entity": None if entity is None else str(entity), "model_kind": model_kind,
             "at": at, "sample": sample, "top": top, "snapshot": snapshot}
        )  # fmt: skip
        out: dict[str, Any] = self._post(f"/models/{model_id}/explain", json=body)
        return out

    def predictions(self, output_id: str, *, limit: int | None = None) -> pa.Table:
        return pa.Table.from_pylist(
            list(self._pages(f"/predictions/{output_id}/rows", limit=limit))
        )

    def embeddings(self, output_id: str, *, limit: int | None = None) -> pa.Table:
        return pa.Table.from_pylist(list(self._pages(f"/embeddings/{output_id}/rows", limit=limit)))

    def projection(self, output_id: str, *, limit: int | None = None) -> pa.Table:
        return pa.Table.from_pylist(
            list(self._pages(f"/embeddings/{output_id}/projection", limit=limit))
        )

    # -- human labels (/label-projects) -------------------------------------------------------
    def _lp(self, project: str, stage: str | None = None) -> str:
        path = f"/label-projects/{quote(project, safe='')}"
        return path if stage is None else f"{path}/stages/{quote(stage, safe='')}"

    def label_projects(self) -> list[dict[str, Any]]:
        """The label projects this token is on."""
        return list(self._get("/label-projects")["items"])

    def create_label_project(
        self,
        name: str,
        *,
        table: str,
        schema: dict[str, Any],
        key: str | None = None,
        guidelines: str = "",
        reviewers: list[str] | None = None,
        webhook: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "table": table,
            "schema": schema,
            "key": key,
            "guidelines": guidelines,
            "reviewers": reviewers or [],
            "webhook": webhook,
        }
        out: dict[str, Any] = self._post("/label-projects", _given(body))
        return out

    def label_project(self, project: str) -> dict[str, Any]:
        out: dict[str, Any] = self._get(self._lp(project))
        return out

    def add_label_stage(self, project: str, name: str, **options: Any) -> dict[str, Any]:
        """``labelers``, ``watches``, ``filter``, ``overlap``, ``attributes``."""
        out: dict[str, Any] = self._post(f"{self._lp(project)}/stages", {"name": name, **options})
        return out

    def add_label_items(self, project: str, stage: str, keys: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = self._post(f"{self._lp(project, stage)}/items", {"keys": keys})
        return out

    def next_label_item(self, project: str, stage: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._get(f"{self._lp(project, stage)}/next")["item"]
        return item

    def label_queue(
        self, project: str, stage: str, *, limit: int | None = None, done: bool | None = None
    ) -> list[Any]:
        """A stage's queue in order (at most ``limit`` items), fetched page by page after
        each page's ``next`` token: none skipped or repeated while labels are saved."""
        return list(self.label_queue_pages(project, stage, limit=limit, done=done))

    def label_queue_pages(
        self, project: str, stage: str, *, limit: int | None = None, done: bool | None = None
    ) -> Iterator[Any]:
        path = f"{self._lp(project, stage)}/items"
        extra: dict[str, Any] = {} if done is None else {"done": str(done).lower()}
        after: str | None = None
        got = 0
        while limit is None or got < limit:
            size = PAGE if limit is None else min(PAGE, limit - got)
            page = self._get(path, limit=size, **extra, **({"after": after} if after else {}))
            yield from page["items"]
            got += len(page["items"])
            after = page.get("next")
            if not after or not page["items"]:
                return

    def submit_label(
        self,
        project: str,
        stage: str,
        key: Any,
        value: Any,
        *,
        attributes: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Save a label; ``ServiceError`` with ``status == 409`` when another label won."""
        body = _given(
            {"key": key, "value": value, "attributes": attributes or {}, "comment": comment}
        )
        out: dict[str, Any] = self._post(f"{self._lp(project, stage)}/labels", body)
        return out

    def label_progress(self, project: str, stage: str) -> dict[str, Any]:
        out: dict[str, Any] = self._get(f"{self._lp(project, stage)}/progress")
        return out

    def label_agreement(self, project: str, stage: str, *, gold: str = "gold") -> dict[str, Any]:
        out: dict[str, Any] = self._get(f"{self._lp(project, stage)}/agreement", gold=gold)
        return out

    def export_label_set(
        self, project: str, version: str, *, parent: str | None = None
    ) -> dict[str, Any]:
        body = _given({"version": version, "parent": parent})
        out: dict[str, Any] = self._post(f"{self._lp(project)}/sets", body)
        return out

    def label_sets(self, project: str) -> list[dict[str, Any]]:
        return list(self._get(f"{self._lp(project)}/sets")["items"])


def _given(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that were given: the server applies its defaults to the rest."""
    return {k: v for k, v in params.items() if v is not None}
