"""The FastAPI application: REST API under ``/api/v1``, the dashboard at ``/``.

Example:
    >>> from relgraph.service import create_app
    >>> app = create_app("/tmp/rg-doctest-app")
    >>> app.title
    'relgraph'
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from relgraph.errors import (
    AccessDenied,
    DataValidationError,
    JobError,
    JobParameterError,
    LabelConflict,
    LabelError,
    QueryError,
    RelgraphError,
    SchemaError,
    SourceError,
    StoreError,
)
from relgraph.jobs.secretstore import SecretStore
from relgraph.redact import redact, redact_params
from relgraph.service.auth import TokenStore
from relgraph.service.deps import ServiceState, authenticate_route
from relgraph.service.hardening import (
    ASGIApp,
    AuthThrottle,
    Message,
    Receive,
    Scope,
    SecurityHeaders,
    Send,
)
from relgraph.service.policy import SourcePolicy
from relgraph.service.routes import admin, data, explain, jobs, labels, ml, online, sources
from relgraph.service.runner import DBJobRunner, JobRunner
from relgraph.service.tasks import default_kinds
from relgraph.service.views import router as views_router
from relgraph.store import atomic

log = logging.getLogger("relgraph.service")

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1 << 20
STATIC = Path(__file__).parent / "static"
# Swagger UI's files, served from the pinned swagger-ui-py package (the docs work offline).
SWAGGER_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, declared or streamed.

    A declared ``Content-Length`` is checked up front (the HTTP server never hands
    over more than it declares). A chunked body, which declares nothing, is read
    here up to the limit and then handed to the app in one piece: the limit must be
    enforced outside the app, because FastAPI turns any error raised while it reads
    a body into "400 error parsing the body".
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _too_large(self.max_bytes, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await _too_large(self.max_bytes, send)
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then only http.disconnect, as the app expects

        await self.app(scope, replay, send)


async def _too_large(limit: int, send: Send) -> None:
    body = json.dumps(
        {"error": "RequestTooLarge", "message": f"request body over {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def status_for(e: RelgraphError) -> int:
    """The HTTP status of a relgraph error: what the caller can fix is 4xx."""
    if isinstance(e, AccessDenied):
        return 403
    if isinstance(e, StoreError):
        return 404
    if isinstance(e, LabelConflict):
        return 409
    if isinstance(e, LabelError):
        return 422
    if isinstance(e, JobParameterError):
        return 422
    if isinstance(e, JobError):
        return 404 if str(e.message).startswith("no job") else 409
    if isinstance(e, QueryError | SchemaError | DataValidationError):
        return 422
    if isinstance(e, SourceError):
        return 400
    if type(e).__name__ == "NotImplementedError":
        return 501
    return 400


def error_body(e: RelgraphError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(e).__name__, "message": redact(e.message)}
    for k in ("table", "column", "row", "line", "col"):
        if getattr(e, k, None) is not None:
            body[k] = getattr(e, k)
    return body


def create_app(
    workspace: str | Path,
    *,
    runner: JobRunner | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    job_workers: int = 1,
    meta: str | None = None,
    source_roots: Iterable[str | Path] = (),
    allow_urls: Iterable[str] = (),
    secrets: SecretStore | None = None,
    throttle: AuthThrottle | None = None,
) -> FastAPI:
    """The relgraph service for ``workspace``.

    Args:
        workspace: The workspace folder (snapshots, models, outputs, tokens).
        runner: The job system; by default a :class:`DBJobRunner` on the workspace's
            metadata DB, the one ``relgraph run`` and ``relgraph jobs`` use.
        max_body_bytes: Request bodies above this are refused with 413.
        job_workers: Worker threads of the default runner; 0 when worker processes run
            the jobs (``relgraph serve --workers N``, :mod:`relgraph.service.workers`).
        meta: Metadata DB URL (default: ``workspace/meta.db``).
        source_roots: Folders whose files ingest jobs may read (none: no files).
        allow_urls: Patterns of database/bucket URLs ingest jobs may read
            (:class:`~relgraph.service.policy.SourcePolicy`).
        secrets: The secret store (default: the workspace's, outside it).
        throttle: The backoff on bad tokens (default: 10 in a minute, then 1 s, 2 s, …).
    """
    ws = atomic.private_dir(Path(workspace))
    store = secrets or SecretStore.for_workspace(ws)
    policy = SourcePolicy(roots=source_roots, allow_urls=allow_urls, workspace=ws, secrets=store)
    job_runner = runner or DBJobRunner(
        ws, default_kinds(ws, policy), workers=job_workers, meta=meta, secrets=store
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        job_runner.start()  # also runs what a stopped service left queued
        yield
        job_runner.shutdown()

    app = FastAPI(
        title="relgraph",
        version="0.1.0",
        description="Predictions from relational data. Every endpoint but /health needs "
        "`Authorization: Bearer <token>` (create one with `relgraph token create --role viewer`).",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's files, not a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.relgraph = ServiceState(
        workspace=ws,
        tokens=TokenStore(ws),
        runner=job_runner,
        policy=policy,
        secrets=store,
        throttle=throttle or AuthThrottle(),
    )

    @app.exception_handler(RelgraphError)
    async def relgraph_error(_: Request, e: Exception) -> Response:
        assert isinstance(e, RelgraphError)
        return JSONResponse(error_body(e), status_code=status_for(e))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: Exception) -> Response:
        # FastAPI decodes a JSON body before any dependency runs: without this, a
        # malformed body would be answered 422 to a caller without a valid token
        # (or role), telling it about a route it may not use. Who asks comes first.
        assert isinstance(e, RequestValidationError)
        try:
            await authenticate_route(request)
        except HTTPException as denied:
            return await http_exception_handler(request, denied)
        # FastAPI's answer echoes the offending input: a URL with its password, say.
        detail = redact_params(jsonable_encoder(e.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/health", tags=["health"], summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    routers = (data, sources, jobs, ml, online, explain, labels, admin)
    for r in (*(m.router for m in routers), views_router):
        app.include_router(r, prefix=API_PREFIX)

    # -- dashboard: static files, no token needed (they hold no data) ----------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        # Served from the installed plotly package, which ships it: no copy in our tree.
        path = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
        return FileResponse(
            str(path),
            media_type="application/javascript",
            headers={"Cache-Control": "max-age=86400"},
        )

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> RedirectResponse:
        return RedirectResponse("/")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in SWAGGER_ASSETS:
            raise HTTPException(404, f"no docs asset '{name[:80]}'")
        path = importlib.resources.files("swagger_ui") / "static" / name
        return FileResponse(str(path), headers={"Cache-Control": "max-age=86400"})

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]  # outermost: every answer
    return app
