"""HTTP hardening: security headers, the bad-token backoff, offline /docs, the warning on
0.0.0.0, and Plotly text escaped in the dashboard (a real Chromium, slow)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from relgraph.cli import app as cli
from relgraph.jobs import outputs
from relgraph.service.app import STATIC
from relgraph.service.hardening import AuthThrottle
from tests.security import _fixtures_policy as fx
from tests.security._fixtures_policy import Service

site = fx.site
service = fx.service


def _assert_hardened(r: httpx.Response) -> None:
    assert r.headers["x-frame-options"] == "DENY", (r.url, r.headers)
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1][:30]


def test_security_headers_on_every_response(service: Service) -> None:
    url, http = service.url, service.http
    bad = {"Authorization": "Bearer rg_nope"}
    answers = [
        http.get(f"{url}/health"),
        http.get(f"{url}/"),
        http.get(f"{url}/docs"),
        http.get(f"{url}/docs/assets/swagger-ui.css"),
        http.get(f"{url}/openapi.json"),
        http.get(f"{url}/static/app.js"),
        http.get(f"{url}/vendor/plotly.min.js"),
        http.get(f"{url}/no/such/page"),
        service.get("/me"),  # 401
        service.get("/me", headers=bad),  # 401, bad token
        service.get("/tokens", headers=service.h("viewer")),  # 403
        service.post("/jobs", headers=service.h("editor"), json={"kind": 1}),  # 422
        service.put(
            "/labels/x",
            headers={**service.h("editor"), "content-type": "application/json"},
            content=b"[" * (2 << 20),
        ),  # 413
    ]
    assert {r.status_code for r in answers} >= {200, 401, 403, 404, 413, 422}
    for r in answers:
        _assert_hardened(r)


def test_docs_are_served_from_the_package(service: Service) -> None:
    html = service.http.get(f"{service.url}/docs").text
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all("src=" in s for s in scripts)  # no inline script: CSP allows none
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', html))  # nothing remote
    bundle = service.http.get(f"{service.url}/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert "javascript" in bundle.headers["content-type"]
    assert service.http.get(f"{service.url}/docs/assets/..%2F__init__.py").status_code == 404
    # The dashboard has no inline script either.
    index = (STATIC / "index.html").read_text()
    assert all("src=" in s for s in re.findall(r"<script([^>]*)>", index))


def test_bad_tokens_back_off_with_429(service: Service) -> None:
    bad = {"Authorization": "Bearer rg_guess_0000"}
    t0 = time.monotonic()
    codes = [service.get("/me", headers=bad).status_code for _ in range(300)]
    took = time.monotonic() - t0
    # 11 bad tokens are answered 401 (the 11th starts the backoff), then 429s; a guess
    # gets through only when a backoff (0.5 s, 1 s, 2 s, 2 s, ...) has run out.
    assert codes[:11] == [401] * 11 and codes[11] == 429, codes[:20]
    assert codes.count(401) <= 11 + 1 + took / 0.5, (codes.count(401), took)
    assert set(codes) == {401, 429}
    while service.get("/me", headers=bad).status_code != 401:  # one more failure: 2 s
        time.sleep(0.05)
    r = service.get("/me", headers=service.h("viewer"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even a good token
    time.sleep(2.1)  # the test throttle's longest backoff is 2 s
    assert service.get("/me", headers=service.h("viewer")).status_code == 200
    r = service.get("/me", headers=bad)  # still over the limit in the window: back off again
    assert r.status_code == 401 and service.get("/me", headers=bad).status_code == 429


def test_throttle_is_per_client_and_windowed() -> None:
    t = AuthThrottle(max_failures=3, window_s=10, base_s=1, max_s=8)
    for i in range(3):
        t.failure("a", now=100 + i * 0.1)
    assert t.retry_after("a", now=100.3) is None  # 3 allowed
    t.failure("a", now=100.4)
    assert t.retry_after("a", now=100.5) == pytest.approx(0.9)
    assert t.retry_after("b", now=100.5) is None
    for i in range(10):
        t.failure("a", now=101 + i)
    assert t.retry_after("a", now=110) == pytest.approx(8.0)  # capped at max_s
    assert t.retry_after("a", now=200) is None
    t.failure("a", now=200)  # the old failures left the window: no backoff
    assert t.retry_after("a", now=200) is None


@pytest.mark.parametrize(
    ("host", "warned"), [("0.0.0.0", True), ("::", True), ("127.0.0.1", False)]
)
def test_serve_warns_when_binding_all_interfaces(
    host: str, warned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("RELGRAPH_SECRETS_DIR", str(tmp_path / "secrets"))
    r = CliRunner().invoke(cli, ["serve", "--host", host, "-w", str(tmp_path / "ws")])
    assert r.exit_code == 0, r.output
    assert ("listening on all interfaces" in r.output) is warned, r.output
    assert seen["host"] == host
    # uvicorn logs through handlers that redact.
    handlers = seen["log_config"]["handlers"]  # type: ignore[index]
    assert handlers and all(h.get("filters") == ["redact"] for h in handlers.values())


CHROMIUM = os.environ.get("RELGRAPH_CHROMIUM", "/usr/bin/chromium")
HOSTILE = ["<b>bold</b>", '<a href="javascript:alert(1)">click</a>', "x<br>y", "&amp;"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM}")
def test_dashboard_escapes_plotly_text_and_runs_under_the_csp(service: Service) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    n = 40
    proj = pa.table(
        {
            "ENTITY": [f"<i>e{i}</i>" for i in range(n)],
            "x": [float(i) for i in range(n)],
            "y": [float(i % 7) for i in range(n)],
            "z": [float(i % 3) for i in range(n)],
            "cluster": [HOSTILE[i % len(HOSTILE)] for i in range(n)],
            "row": ['{"<b>k</b>": "<a href=x>v</a>"}'] * n,
        }
    )
    oid = outputs.register_output(
        service.site.workspace, "embeddings", None, {"table": "t"}, projection=proj
    )
    # A table whose column names are markup: the stats chart's tick labels.
    folder = service.site.root / "marked"
    folder.mkdir()
    (folder / "things.csv").write_text(
        'id,"<b>bold","x<br>y",kind\n1,2,3,<i>a</i>\n2,3,4,b<br>c\n3,4,5,<i>a</i>\n'
    )
    job = service.post("/sources", headers=service.h("editor"), json={"source": str(folder)})
    assert service.wait(job.json()["id"])["status"] == "succeeded"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"], headless=True
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.set_default_timeout(30_000)
        page.goto(service.url + "/")
        page.fill("#token-input", service.tokens["viewer"])
        page.click("#login-btn")
        page.wait_for_selector("#table-list")
        page.goto(f"{service.url}/#/table/things")
        # The histogram's title names the column; a categorical column's values are its
        # tick labels: both shown as written, never as markup.
        page.wait_for_selector("#hist-column")
        for column, shown in (("<b>bold", "<b>bold"), ("x<br>y", "x<br>y"), ("kind", "kind")):
            page.select_option("#hist-column", column)
            page.wait_for_function(
                "c => (document.querySelector('#histogram .gtitle') || {}).textContent"
                "?.startsWith(c)",
                arg=shown,
            )
        ticks = page.locator("#histogram .xtick text").all_text_contents()
        assert "<i>a</i>" in ticks and "b<br>c" in ticks, ticks
        markup = "#histogram tspan[style*=bold], #histogram tspan[style*=italic]"
        assert page.locator(markup).count() == 0

        page.goto(f"{service.url}/#/embeddings/{oid}")
        page.wait_for_selector("#plot3d .legend .traces")
        legend = page.locator("#plot3d .legend text.legendtext")
        texts = sorted(legend.all_text_contents())
        assert texts == sorted(HOSTILE), texts  # shown as written, not as markup
        assert page.locator("#plot3d .legend a, #plot3d .legend tspan[style*=bold]").count() == 0

        # /docs: Swagger UI from the package renders the API under the same CSP.
        page.goto(service.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "relgraph" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock").count() > 10
        browser.close()
    assert not errors, errors
