"""The dashboard in a real browser: Debian's Chromium driven headless by Playwright.

CI installs the browser with ``apt-get install -y chromium`` (never ``playwright install``).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from relgraph import api
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


def test_dashboard_flow(live_server: LiveServer, tokens: dict[str, str], workspace: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    has_train = hasattr(api, "train")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
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
        if hasattr(api, "compile_query"):
            assert page.inner_text("#task-kv [data-field=task_type]") == "binary"
        else:
            assert "no query compiler" in page.inner_text("#query-error")
        page.screenshot(path=str(ARTIFACTS / "03-query.png"), full_page=True)

        # 4. Start a job and watch it finish: training when this build has it, else a projection.
        if has_train:
            page.click("#train-btn")
            page.wait_for_selector("#job-status")
            page.wait_for_function(
                "['succeeded','failed','cancelled'].includes(document.querySelector('#job-status')?.textContent)",
                timeout=300_000,
            )
            assert page.inner_text("#job-status") == "succeeded", page.inner_text("#job-error")
        page.click("[data-nav=jobs]")
        page.wait_for_selector("#job-kind")
        page.select_option("#job-kind", "project")
        page.fill("#job-params", '{"table": "drivers", "k": 4}')
        page.click("#job-start")
        page.wait_for_selector("#jobs-list tr[data-status=succeeded]", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "04-jobs.png"), full_page=True)

        # 5. Open the 3-D projection from the finished job.
        page.click("#jobs-list tr[data-status=succeeded] a")
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
