"""Hostile input at the edges is a clear 4xx or a clean CLI error, never a 500 or a traceback.

Hand-written cases from the issue (a window of 10**20 days, a malformed PostgreSQL
URL, ``-w /dev/null``, malformed JSON without a token, an unknown job kind, a
chunked body over the limit) against the CLI and a real server on 127.0.0.1, and,
marked slow, schemathesis over the whole API with a viewer and an editor token.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app as cli
from relgraph.query.ast import quote_name
from relgraph.service import DBJobRunner, TokenStore, create_app
from relgraph.service.app import MAX_BODY_BYTES
from tests.security.conftest import ACCEPTED_TABLE_NAMES, listing, make_sqlite
from tests.service.conftest import LiveServer, auth

try:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
except ImportError:  # the slow API fuzzing needs it; the hand-written cases do not
    schemathesis = None

V1 = "/api/v1"
HUGE = "PREDICT COUNT(results.*, 0, 99999999999999999999, days) > 0 FOR EACH drivers.driverId"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _clean(res: Any, code: int, *needles: str) -> None:
    """Exited with ``code`` through relgraph's own error path: no escaped exception."""
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", res.output).split())  # Rich's boxes unwrapped
    for n in needles:
        assert n in text, res.output


# -- the CLI --------------------------------------------------------------------------
def test_cli_huge_window_is_a_query_error(f1_dir: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert _cli("ingest", str(f1_dir), "-w", str(ws)).exit_code == 0
    res = _cli("query", HUGE, "-w", str(ws))
    _clean(res, 7, "window bound 99999999999999999999 days is too far", "at 1:9")
    res = _cli("query", HUGE.replace("days", "months"), "-w", str(ws), "--json")
    assert res.exit_code == 7
    assert json.loads(res.stdout)["error"] == "QueryError"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://u@[::1/db", "Invalid IPv6 URL"),
        ("postgresql://u@host:99999999/db", "Port out of range"),
        ("postgresql://u:hunter2/db", "Port could not be cast to integer value"),
    ],
)
def test_cli_malformed_postgres_url_is_a_source_error(tmp_path: Path, url: str, why: str) -> None:
    res = _cli("ingest", url, "-w", str(tmp_path / "ws"))
    _clean(res, 3, "malformed PostgreSQL URL", why)
    assert "hunter2'" not in res.output.replace(url, "")  # the bad "port" is not echoed


@pytest.mark.parametrize(
    "args",
    [
        ("snapshots",),
        ("ingest", "examples/f1"),
        ("query", HUGE),
        ("jobs",),
        ("models",),
        ("token", "create", "--role", "viewer"),
    ],
    ids=lambda a: a[0] if a[0] != "token" else "token-create",
)
@pytest.mark.parametrize("ws", ["/dev/null", "/dev/null/sub"])
def test_cli_workspace_that_is_not_a_folder(args: tuple[str, ...], ws: str) -> None:
    _clean(_cli(*args, "-w", ws), 2, "not a folder")


def test_api_workspace_that_is_not_a_folder_is_a_store_error(f1_dir: Path) -> None:
    from relgraph.errors import StoreError

    with pytest.raises(StoreError, match="cannot use '/dev/null' as a workspace"):
        api.ingest(str(f1_dir), workspace="/dev/null")


# -- the service ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_workspace(tmp_path_factory: pytest.TempPathFactory, f1_dir: Path) -> Path:
    """F1 plus a hostile SQLite snapshot (the latest), shared read-only by this module."""
    ws = tmp_path_factory.mktemp("edges") / "ws"
    api.ingest(str(f1_dir), workspace=ws)
    db = make_sqlite(ws.parent / "hostile.db", list(ACCEPTED_TABLE_NAMES))
    api.ingest(f"sqlite:///{db}", workspace=ws)
    return ws


@pytest.fixture(scope="module")
def server(hostile_workspace: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    store = TokenStore(hostile_workspace)
    tokens = {r: store.create(r).token for r in ("viewer", "editor")}
    app = create_app(hostile_workspace)
    try:
        with LiveServer(app) as srv:
            yield srv, tokens
    finally:
        app.state.relgraph.runner.shutdown()


@pytest.fixture
def http(server: tuple[LiveServer, dict[str, str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0].url, timeout=30) as c:
        yield c


def _f1_id(ws: Path) -> str:
    return next(s.id for s in api.snapshots(ws) if "drivers" in s.table_names)


def test_compile_huge_window_is_422_with_position(
    http: httpx.Client, server: tuple[LiveServer, dict[str, str]], hostile_workspace: Path
) -> None:
    tok = server[1]["viewer"]
    body = {"query": HUGE, "snapshot": _f1_id(hostile_workspace)}
    r = http.post(f"{V1}/queries/compile", json=body, headers=auth(tok))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "QueryError" and (r.json()["line"], r.json()["col"]) == (1, 9)
    nul = {
        "query": HUGE.replace("99999999999999999999", "30") + " WHERE drivers.surname = 'a\x00b'"
    }
    r = http.post(
        f"{V1}/queries/compile", json=nul | {"snapshot": body["snapshot"]}, headers=auth(tok)
    )
    assert r.status_code == 422 and "NUL" in r.json()["message"], r.text


MALFORMED = b'{"kind": "ingest", "params": {'


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/jobs", None, 401),
        ("/jobs", "bad", 401),
        ("/jobs", "viewer", 403),  # an editor route: the role is checked before the body
        ("/jobs", "editor", 422),
        ("/queries/compile", None, 401),
        ("/queries/compile", "viewer", 422),
        ("/sources", "viewer", 403),
    ],
)
def test_who_asks_is_checked_before_what_is_sent(
    http: httpx.Client,
    server: tuple[LiveServer, dict[str, str]],
    path: str,
    role: str | None,
    status: int,
) -> None:
    headers = {"content-type": "application/json"}
    if role is not None:
        headers |= auth(server[1].get(role, "rg_not_a_token"))
    r = http.post(f"{V1}{path}", content=MALFORMED, headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
        assert "JSON" not in r.text  # nothing about the body leaks to an unknown caller


def test_unknown_job_kind_is_422(
    http: httpx.Client, server: tuple[LiveServer, dict[str, str]]
) -> None:
    r = http.post(f"{V1}/jobs", json={"kind": "nope"}, headers=auth(server[1]["editor"]))
    assert r.status_code == 422, r.text
    assert "unknown job kind 'nope'" in r.json()["message"]


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b" " * n
        sent += n


def test_chunked_body_over_the_limit_is_413(
    http: httpx.Client, server: tuple[LiveServer, dict[str, str]]
) -> None:
    headers = {"content-type": "application/json"} | auth(server[1]["editor"])
    r = http.post(f"{V1}/jobs", content=_chunks(MAX_BODY_BYTES + 1), headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "RequestTooLarge"


def test_chunked_body_under_the_limit_still_arrives_whole(
    http: httpx.Client, server: tuple[LiveServer, dict[str, str]], hostile_workspace: Path
) -> None:
    pql = "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId"
    body = json.dumps({"query": pql, "snapshot": _f1_id(hostile_workspace)}).encode()
    padded = body[:-1] + b" " * 300_000 + b"}"

    def stream() -> Iterator[bytes]:
        for i in range(0, len(padded), 10_000):
            yield padded[i : i + 10_000]

    headers = {"content-type": "application/json"} | auth(server[1]["viewer"])
    r = http.post(f"{V1}/queries/compile", content=stream(), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["task"]["entity_table"] == "drivers"


def test_hostile_tables_over_http_answer_and_bad_names_are_4xx(
    http: httpx.Client, server: tuple[LiveServer, dict[str, str]], hostile_workspace: Path
) -> None:
    tok = server[1]["viewer"]
    before = listing(hostile_workspace.parent, skip=hostile_workspace)
    for name in ACCEPTED_TABLE_NAMES:
        seg = urllib.parse.quote(name, safe="")
        for tail in ("rows", "stats"):
            r = http.get(f"{V1}/snapshots/latest/tables/{seg}/{tail}", headers=auth(tok))
            assert r.status_code == 200, (name, r.status_code, r.text)
        q = f"PREDICT COUNT({quote_name(name)}.*, 0, 30, days) FOR EACH users.id"
        r = http.post(f"{V1}/queries/compile", json={"query": q}, headers=auth(tok))
        assert r.status_code == 200, r.text
    for bad in ("x" * 300, "..", "%00", "a%0Ab"):
        r = http.get(f"{V1}/snapshots/latest/tables/{bad}/rows", headers=auth(tok))
        assert 400 <= r.status_code < 500, (bad, r.status_code)
    assert listing(hostile_workspace.parent, skip=hostile_workspace) == before


# -- schemathesis (slow) ----------------------------------------------------------------
def _noop(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    # Generated job parameters must not make the test ingest arbitrary paths of this
    # machine (the source policy that refuses them is issue 12's item 3, elsewhere).
    return {}


@pytest.fixture(params=["viewer", "editor"])
def role_server(
    request: pytest.FixtureRequest, hostile_workspace: Path, tmp_path: Path
) -> Iterator[tuple[LiveServer, str]]:
    """A real server over a copy of the hostile workspace, and one token of the role."""
    ws = tmp_path / "ws"
    shutil.copytree(hostile_workspace, ws, ignore=shutil.ignore_patterns("auth", "meta.db*"))
    kinds = {k: _noop for k in api_kinds()}
    app = create_app(ws, runner=DBJobRunner(ws, kinds))
    token = TokenStore(ws).create(request.param).token
    before = listing(tmp_path, skip=ws)
    try:
        with LiveServer(app) as srv:
            yield srv, token
    finally:
        app.state.relgraph.runner.shutdown()
    assert listing(tmp_path, skip=ws) == before  # nothing written beside the workspace


def api_kinds() -> list[str]:
    from relgraph.service.tasks import default_kinds

    return sorted(default_kinds(Path("unused")))


@pytest.mark.slow
def test_schemathesis_never_gets_a_5xx(role_server: tuple[LiveServer, str]) -> None:
    """Every operation of the OpenAPI document, fuzzed over HTTP: 4xx or 2xx, never 5xx.

    Driven operation by operation with hypothesis (schemathesis' pytest plugin cannot
    take its schema from a fixture under pytest 9), so one failure does not hide others.
    """
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    srv, token = role_server
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            case.validate_response(response, checks=[not_a_server_error])

        try:
            fuzz()
        except Exception as e:  # keep fuzzing the other operations
            failures.append(f"{operation.label}: {str(e).splitlines()[0][:300]}")
    assert operations >= 30
    assert failures == []
    # The token was accepted: most answers are not 401 (an editor also gets 2xx writes).
    assert sum(n for c, n in statuses.items() if c != 401) > statuses.get(401, 0), statuses
    print(f"schemathesis: {operations} operations, statuses {sorted(statuses.items())}")
