"""``relgraph serve --bundle DIR``: online predictions from an exported bundle, no workspace.

A small app: ``/health`` and ``POST /api/v1/models/{id}/predict`` for the bundle's
one model, tokens from ``DIR/auth/tokens.json`` (``relgraph token create -w DIR``),
the same auth, body limit, error bodies and security headers as the full service.
No job system, no data routes: the bundle only answers predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from relgraph import api
from relgraph.errors import RelgraphError
from relgraph.redact import redact_params
from relgraph.service.app import API_PREFIX, MAX_BODY_BYTES, BodyLimit, error_body, status_for
from relgraph.service.auth import TokenStore
from relgraph.service.deps import ServiceState, authenticate_route
from relgraph.service.hardening import AuthThrottle, SecurityHeaders
from relgraph.service.routes import online


def create_bundle_app(
    bundle: str | Path,
    *,
    snapshot_dir: str | Path | None = None,
    warm: bool = True,
    throttle: AuthThrottle | None = None,
) -> FastAPI:
    """The prediction service of the bundle at ``bundle`` (refused if it is none, or if
    ``snapshot_dir``'s schema is not the bundle's). ``warm``: load the model now, so
    that the first request does not pay for it."""
    root = Path(bundle)
    cache = api.online_cache(root, bundle=True, snapshot_dir=snapshot_dir, max_keys=online.MAX_KEYS)
    if warm:
        cache.get(cache.model_id)
    app = FastAPI(
        title="relgraph bundle",
        version="0.1.0",
        description=f"Online predictions of model {cache.model_id}. Send "
        "`Authorization: Bearer <token>` (`relgraph token create --role viewer -w BUNDLE`).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.relgraph = ServiceState(
        workspace=root,
        tokens=TokenStore(root),
        # No jobs, sources or secrets here: the routes mounted below read none of them.
        runner=cast(Any, None),
        policy=cast(Any, None),
        secrets=cast(Any, None),
        throttle=throttle or AuthThrottle(),
    )
    app.state.online = cache

    @app.exception_handler(RelgraphError)
    async def relgraph_error(_: Request, e: Exception) -> Response:
        assert isinstance(e, RelgraphError)
        return JSONResponse(error_body(e), status_code=status_for(e))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: Exception) -> Response:
        assert isinstance(e, RequestValidationError)
        try:  # who asks comes first, as in the full service
            await authenticate_route(request)
        except HTTPException as denied:
            return await http_exception_handler(request, denied)
        detail = redact_params(jsonable_encoder(e.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/health", tags=["health"], summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_id": cache.model_id}

    app.include_router(online.router, prefix=API_PREFIX)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    return app
