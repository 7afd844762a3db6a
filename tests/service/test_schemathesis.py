"""Property-based requests generated from the OpenAPI spec: the server never answers 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from relgraph import api  # noqa: E402
from relgraph.jobs.secretstore import SecretStore  # noqa: E402
from relgraph.service import DBJobRunner, TokenStore, create_app  # noqa: E402
from tests.service.conftest import F1  # noqa: E402


def _noop(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    # Generated job parameters must not make the test ingest arbitrary paths of this machine.
    return {}


def _build() -> tuple[Any, str, Path]:
    import tempfile

    ws = Path(tempfile.mkdtemp(prefix="rg-schemathesis-"))
    api.ingest(str(F1), workspace=ws)
    store = SecretStore(tempfile.mkdtemp(prefix="rg-schemathesis-secrets-"))
    runner = DBJobRunner(
        ws, {"ingest": _noop, "project": _noop, "label-stats": _noop}, secrets=store
    )
    app = create_app(ws, runner=runner, secrets=store)
    token = TokenStore(ws).create("admin").token
    return app, token, ws


APP, TOKEN, WS = _build()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _shutdown() -> Iterator[None]:
    yield
    APP.state.relgraph.runner.shutdown()


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    if response.status_code == 501 and not hasattr(api, "compile_query"):
        return  # the declared answer of a build without the query compiler
    case.validate_response(response, checks=[not_a_server_error])
