"""The live views in a real JupyterLab, driven in headless Chromium by Playwright.

The test runs the first part of ``notebooks/live_monitoring.ipynb``, up to and
including its two live views, in JupyterLab with the bufferkit extension, then checks
that both views render and keep updating with real values. It saves a screenshot to
``artifacts/browser/live_monitoring.png``.

Chromium is Debian's ``chromium`` package at ``/usr/bin/chromium``; Playwright
drives it and downloads no browser of its own. The flags keep Chromium from making
any connection beyond the loopback JupyterLab server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.servers import ServerProcess, start_jupyter

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "live_monitoring.ipynb"
SCREENSHOT = REPO / "artifacts" / "browser" / "live_monitoring.png"
# Milliseconds to wait for the kernel to start and the views to render and update.
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium "
        "(apt-get install chromium)",
    ),
    pytest.mark.timeout(240),
]


def _views_notebook(target: Path) -> None:
    """Write the live-monitoring notebook's cells up to its views, without outputs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    end = next(
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" and cell.source.startswith("## A z-score")
    )
    notebook.cells = notebook.cells[:end]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, target)


@pytest.fixture
def jupyterlab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    """JupyterLab with the bufferkit extension; its kernels find it by themselves."""
    monkeypatch.delenv("BUFFERKIT_URL", raising=False)
    home = tmp_path / "jupyter"
    (home / "root").mkdir(parents=True)
    _views_notebook(home / "root" / "live_monitoring.ipynb")
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(home / "lab-settings"))
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", str(home / "lab-workspaces"))
    monkeypatch.setenv("IPYTHONDIR", str(home / "ipython"))
    # Config files merge the extension dicts: the command line enables bufferkit.
    # The LabApp settings stop JupyterLab from fetching news and update notices.
    (home / "config").mkdir()
    config = {
        "ServerApp": {"jpserver_extensions": {"jupyterlab": True}},
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        },
    }
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    server = start_jupyter(home, base_url="/")
    yield server
    server.stop()


def _row_count(text: str) -> int:
    match = re.search(r"([\d,]+) / 600 rows \(", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def test_live_views_update_in_jupyterlab(jupyterlab: ServerProcess) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = (
        f"{jupyterlab.base_url}lab/tree/live_monitoring.ipynb?token={jupyterlab.token}"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.goto(url)
            expect(page.locator(".jp-Notebook")).to_be_visible()
            # Commands given before the kernel connects are lost.
            expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            buffer_view = page.locator(".bufferkit-view").filter(has_text="rows/s")
            memory_view = page.locator(".bufferkit-view").filter(
                has_text="bytes in total"
            )
            expect(buffer_view).to_contain_text("machine_metrics · 4 columns")
            expect(buffer_view.locator("polyline")).to_have_count(4)
            expect(memory_view).to_contain_text("machine_metrics")
            first = _row_count(buffer_view.inner_text())
            expect(buffer_view).not_to_contain_text(f"{first:,} / 600 rows")
            second = _row_count(buffer_view.inner_text())
            headers = buffer_view.locator("th").all_inner_texts()
            newest = buffer_view.locator("tbody tr").last.locator("td")
            newest_cells = newest.all_inner_texts()
            memory_text = memory_view.inner_text()

            news_prompt = page.get_by_role("alert").filter(has_text="Jupyter news")
            if news_prompt.count():
                news_prompt.get_by_role("button", name="No").click()
            buffer_view.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()

    assert second > first
    assert headers == ["row", "cpu", "memory", "disk_io", "network"]
    assert len(newest_cells) == 5
    assert int(newest_cells[0].replace(",", "")) == second - 1 or second == 600
    assert 0.0 <= float(newest_cells[1]) <= 100.0  # cpu percent
    assert 0.0 < float(newest_cells[2]) <= 100.0  # memory percent
    assert "1 buffer" in memory_text
    assert re.search(r"[\d,]+ bytes in total", memory_text)
