"""The dashboard in a real browser: Debian's Chromium driven headless by Playwright.

CI installs the browser with ``apt-get install -y chromium`` (never ``playwright install``).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relgraph import api
from relgraph import jobs as rgjobs
from tests.service.conftest import ROOT, LiveServer

CHROMIUM = os.environ.get("RELGRAPH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no Chromium at {CHROMIUM}"),
]

QUERY = "PREDICT COUNT(results.*, 0, 30, days) > 0 FOR EACH drivers.driverId"


def test_dashboard_flow(
    live_server: LiveServer, tokens: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # bypass_csp: Playwright's string predicates (wait_for_function) are eval'd in the
        # page, which the service's CSP forbids; the dashboard under its CSP is tested in
        # tests/security/test_hardening.py.
        page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(30_000)

        # 1. Log in with a token (a wrong one first: it must be refused).
        page.goto(live_server.url + "/")
        page.wait_for_selector("#token-input")
        page.fill("#token-input", "rg_wrong_token")
        page.click("#login-btn")
        page.wait_for_selector("#toast:not([hidden])")
        page.fill("#token-input", tokens["editor"])
        page.click("#login-btn")
        page.wait_for_selector("#table-list")
        assert "editor" in page.inner_text("#whoami")
        page.screenshot(path=str(ARTIFACTS / "01-tables.png"), full_page=True)

        # 2. The F1 entity dashboard of 'drivers': schema, stats, preview.
        page.click("[data-table=drivers]")
        page.wait_for_selector("#preview tbody tr")
        assert page.inner_text("#table-title") == "drivers"
        schema_text = page.inner_text("#schema-card")
        assert "primary key" in schema_text and "nationality" in schema_text
        assert page.locator("#preview tbody tr").count() == 25
        assert "Hamilton" in page.inner_text("#preview")
        page.click("#preview .pager button:last-child")
        page.wait_for_function(
            "document.querySelector('#preview .pager span').textContent.startsWith('26')"
        )
        page.screenshot(path=str(ARTIFACTS / "02-drivers.png"), full_page=True)

        # 3. The query editor: write a query, compile it.
        page.click("[data-nav=query]")
        page.wait_for_selector("#query-text")
        page.fill("#query-text", QUERY)
        page.click("#compile-btn")
        page.wait_for_selector("#task-kv, #query-error")
        assert page.inner_text("#task-kv [data-field=task_type]") == "binary"
        # Label statistics come from a job (counting labels is not request-sized work).
        page.click("#stats-btn")
        page.wait_for_selector("#label-stats table", timeout=300_000)
        stats = page.inner_text("#label-stats")
        assert "train" in stats and "val" in stats and "test" in stats
        page.screenshot(path=str(ARTIFACTS / "03-query.png"), full_page=True)

        # 4. Start a job and watch it finish (training has its own test below).
        page.click("[data-nav=jobs]")
        page.wait_for_selector("#job-kind")
        page.select_option("#job-kind", "project")
        page.fill("#job-params", '{"table": "drivers", "k": 4}')
        page.click("#job-start")
        page.wait_for_selector(
            "#jobs-list tr[data-kind=project][data-status=succeeded]", timeout=120_000
        )
        # A pipeline run on the same workspace (`relgraph run`) shows up in the open list.
        src = tmp_path / "tiny"
        src.mkdir()
        (src / "items.csv").write_text("item_id,price\n1,2.5\n2,3.0\n")
        spec = tmp_path / "pipeline.yaml"
        spec.write_text(
            f"sources:\n  s: {{uri: {src}}}\njobs:\n  load: {{type: ingest, source: s}}\n"
        )
        assert rgjobs.run_pipeline(spec, workspace=workspace).ok
        row = "#jobs-list tr[data-origin=pipeline][data-kind=ingest][data-status=succeeded]"
        page.wait_for_selector(row)
        assert "load" in page.inner_text(row)
        page.screenshot(path=str(ARTIFACTS / "04-jobs.png"), full_page=True)

        # 5. Open the 3-D projection from the finished job.
        page.click("#jobs-list tr[data-kind=project][data-status=succeeded] a")
        page.wait_for_selector("#open-projection")
        page.click("#open-projection")
        page.wait_for_selector("#plot3d .main-svg")
        assert page.inner_text("#point-count").startswith("864") or "points" in page.inner_text(
            "#point-count"
        )
        n_traces = page.evaluate("document.getElementById('plot3d').data.length")
        assert n_traces == 4  # one per cluster
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "05-projection.png"), full_page=True)
        browser.close()
    assert errors == [], errors


DEMO_QUERY = (
    "PREDICT MIN(qualifying.position, 0, 30, days) <= 3\n"
    "FOR EACH drivers.driverId\n"
    "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"
)


@pytest.mark.skipif(not hasattr(api, "train"), reason="this build has no relgraph.api.train")
@pytest.mark.timeout(2400)  # text features of F1 + a short training run on a shared CPU
def test_dashboard_training_flow(live_server: LiveServer, tokens: dict[str, str]) -> None:
    """Write a query, train from the editor, watch the job, open the model and the 3-D view."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # bypass_csp: Playwright's string predicates (wait_for_function) are eval'd in the
        # page, which the service's CSP forbids; the dashboard under its CSP is tested in
        # tests/security/test_hardening.py.
        page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(30_000)
        page.goto(live_server.url + "/#/query")
        page.wait_for_selector("#token-input")
        page.fill("#token-input", tokens["editor"])
        page.click("#login-btn")
        page.wait_for_selector("#table-list")
        page.click("[data-table=drivers]")
        page.wait_for_selector("#preview tbody tr")

        page.click("[data-nav=query]")
        page.wait_for_selector("#query-text")
        page.fill("#query-text", DEMO_QUERY)
        page.click("#compile-btn")
        page.wait_for_selector("#task-kv [data-field=task_type]")
        assert page.inner_text("#task-kv [data-field=task_type]") == "binary"
        # A short run on RelBench's rel-f1 cut-offs: the test checks the plumbing, not the model.
        page.select_option("#train-budget", "fast")
        page.fill("#train-minutes", "0.3")
        page.fill("#train-val-cutoff", "2005-01-01")
        page.fill("#train-test-cutoff", "2010-01-01")
        page.click("#train-btn")
        page.wait_for_selector("#job-status")
        page.wait_for_function(
            "['succeeded','failed','cancelled'].includes(document.querySelector('#job-status')?.textContent)",
            timeout=1_500_000,
        )
        page.screenshot(path=str(ARTIFACTS / "06-train-job.png"), full_page=True)
        assert page.inner_text("#job-status") == "succeeded", page.inner_text("#job-error")

        page.click("#open-model")
        page.wait_for_selector("#candidates tr[data-model=gnn]")
        assert "lightgbm" in page.inner_text("#model-metrics")
        page.wait_for_selector("#learning-curves .main-svg")
        page.screenshot(path=str(ARTIFACTS / "07-model.png"), full_page=True)

        page.go_back()
        page.wait_for_selector("#open-projection")
        page.click("#open-projection")
        page.wait_for_selector("#plot3d .main-svg")
        page.select_option("#colour-by", "prediction")
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "08-projection-by-prediction.png"), full_page=True)
        browser.close()
    assert errors == [], errors


# -- every page for each role, on the shared trained shop -------------------------------------
SHOTS = Path(os.environ.get("RELGRAPH_SCREENSHOTS") or ROOT / "tests" / ".screenshots")


@pytest.fixture(scope="module")
def shop_server(shop_workspace: Path) -> Iterator[tuple[LiveServer, dict[str, str], str]]:
    from relgraph.service import TokenStore, create_app

    store = TokenStore(shop_workspace)
    toks = {r: store.create(r, name=f"browser {r}").token for r in ("viewer", "editor", "admin")}
    app = create_app(shop_workspace)
    (model,) = (p.name for p in (shop_workspace / "models").iterdir())
    with LiveServer(app) as srv:
        yield srv, toks, model
    app.state.relgraph.runner.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _no_null_and_fits(page: Any, width: int) -> None:
    text = page.inner_text("main")
    assert not re.search(r"\bnull\b", text), "a literal null on the page"
    assert "undefined" not in text
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width + 1, f"page {overflow}px wide in a {width}px window"


@pytest.mark.parametrize(("role", "width"), [("viewer", 390), ("editor", 1280), ("admin", 1280)])
def test_every_page_per_role(
    shop_server: tuple[LiveServer, dict[str, str], str], browser: Any, role: str, width: int
) -> None:
    """Log in (after a refused token), then every page; buttons a role cannot use are
    disabled with the reason; nothing reads 'null'; at 390 px nothing scrolls sideways."""
    srv, toks, model = shop_server
    shots = SHOTS / role
    shots.mkdir(parents=True, exist_ok=True)
    # bypass_csp: see test_dashboard_flow.
    page = browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(20_000)

    page.goto(srv.url + "/")
    page.wait_for_selector("#token-input")
    assert not page.is_visible("#nav") and not page.is_visible("#logout-btn")
    page.fill("#token-input", "rg_wrong_token")
    page.click("#login-btn")
    page.wait_for_selector("#toast:not([hidden])")
    page.screenshot(path=str(shots / "00-login.png"))
    page.fill("#token-input", toks[role])
    page.click("#login-btn")
    page.wait_for_selector("#table-list")
    assert page.is_hidden("#toast"), "the failed-login toast outlived the login"
    assert page.is_visible("#logout-btn") and role in page.inner_text("#whoami")
    assert page.is_visible("#nav-tokens") == (role == "admin")

    # Tables: tiles count links both ways; the schema graph; a diff of the two snapshots.
    page.wait_for_selector("#schema-graph .main-svg")
    tile = page.inner_text("[data-table=users]")
    assert "links 0 out, 1 in" in tile, tile
    assert "_rg_" not in page.inner_text("main")
    assert page.is_visible("#ingest-btn") == (role != "viewer")
    page.click("#diff-btn")
    page.wait_for_selector("#diff-box table")
    assert "users" in page.inner_text("#diff-box")
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "01-tables.png"), full_page=True)

    # A table: histogram, search, sort, no internal columns.
    page.click("[data-table=users]")
    page.wait_for_selector("#histogram .main-svg")
    page.wait_for_selector("#preview tbody tr")
    assert "_rg_" not in page.inner_text("#schema-card") + page.inner_text("#preview")
    page.click("#preview th[data-col=user_id]")
    page.click("#preview th[data-col=user_id]")  # descending
    page.wait_for_function(
        "document.querySelector('#preview th[data-col=user_id]').textContent.endsWith('▼')"
    )
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "02-table.png"), full_page=True)

    # Query editor: completion, an error at its position, buttons by role.
    page.click("[data-nav=query]")
    page.wait_for_selector("#query-text")
    page.fill("#query-text", "PREDICT COUNT(ord")
    page.wait_for_selector("#query-hints .chip")
    page.keyboard.press("Tab")
    assert page.input_value("#query-text").startswith("PREDICT COUNT(orders")
    page.fill("#query-text", "PREDICT COUNT(orders.*, 0, 30, days) > 0\nFOR EACH users.no_such")
    page.click("#compile-btn")
    page.wait_for_selector("#query-error-at mark")
    assert "line 2" in page.inner_text("#query-error-at")
    assert page.is_disabled("#train-btn") == (role == "viewer")
    assert page.is_disabled("#stats-btn") == (role == "viewer")
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "03-query.png"), full_page=True)

    # Models and one model's page: candidates, test curves, importance.
    page.click("[data-nav=models]")
    page.wait_for_selector("#models-list a")
    page.click("#models-list a")
    page.wait_for_selector("#candidates tr[data-model=lightgbm]")
    page.wait_for_selector("#roc .main-svg")
    page.wait_for_selector("#importance .main-svg")
    assert "trivial:prior" in page.inner_text("#candidates")
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "04-model.png"), full_page=True)

    # Predictions joined to names, one entity looked up.
    page.goto(f"{srv.url}/#/predictions/{model}.test")
    page.wait_for_selector("#predictions tbody tr")
    first = page.inner_text("#predictions tbody tr td")
    page.fill("#entity-search", first)
    page.wait_for_function(
        "[...document.querySelectorAll('#predictions tbody tr td:first-child')]"
        f".every((td) => td.textContent === '{first}')"
    )
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "05-predictions.png"), full_page=True)

    # Jobs (a label-stats job from the editor's query page) and tokens.
    page.click("[data-nav=jobs]")
    page.wait_for_selector("#jobs-list")
    assert page.is_visible("#job-start") == (role != "viewer")
    _no_null_and_fits(page, width)
    page.screenshot(path=str(shots / "06-jobs.png"), full_page=True)
    page.goto(srv.url + "/#/tokens")
    page.wait_for_selector("#tokens-list tbody tr" if role == "admin" else "#tokens-denied")
    page.screenshot(path=str(shots / "07-tokens.png"), full_page=True)
    page.close()
    assert errors == [], errors


def test_job_page_progress_and_live_log(
    shop_server: tuple[LiveServer, dict[str, str], str], browser: Any
) -> None:
    """An editor counts labels: the job page shows a progress bar, status and its log."""
    srv, toks, _model = shop_server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page.set_default_timeout(60_000)
    page.goto(srv.url + "/")
    page.fill("#token-input", toks["editor"])
    page.click("#login-btn")
    page.wait_for_selector("#table-list")
    page.click("[data-nav=query]")
    page.fill("#query-text", "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id")
    page.click("#stats-btn")
    page.wait_for_selector("#label-stats table")
    assert "cut-offs used" in page.inner_text("#stats-cutoffs")
    page.click("[data-nav=jobs]")
    page.wait_for_selector("#jobs-list tr[data-kind=label-stats][data-status=succeeded]")
    page.click("#jobs-list tr[data-kind=label-stats] a")
    page.wait_for_selector("#job-status")
    assert page.inner_text("#job-status") == "succeeded"
    assert page.get_attribute("#main [role=progressbar]", "aria-valuenow") == "100"
    assert page.inner_text("#job-logs").strip()
    _no_null_and_fits(page, 1280)
    page.screenshot(path=str(SHOTS / "job.png"), full_page=True)
    page.close()
