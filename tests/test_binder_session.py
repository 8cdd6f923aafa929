"""A Binder-sized session: notebooks 00–09 one after another in ONE JupyterLab, as a student works.

JupyterLab runs with the course's settings override (``jupyter/lab/settings``, the folder
``./course open`` and Binder's postBuild use), so a notebook's kernel shuts down when its
tab closes. In one browser page, each notebook of the solutions edition (every cell runs:
the most a student's session holds) is opened from the file manager's command, run with
Run All (no error output may appear; a screenshot of each lands in ``SCREENSHOT_DIR``: this
is the browser tier's only run of the notebooks without a widget test), saved and closed;
then no kernel may be left. The peak resident memory of the
server and its kernels (the browser does not run on Binder) is printed per notebook and
for the session, and must stay under Binder's 2 GB. Wall time is printed, not asserted.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from browser_support import (
    FIGURE_SELECTOR,
    NOTEBOOK_DIR,
    ROOT,
    SCREENSHOT_DIR,
    LabServer,
    MemorySampler,
    error_outputs,
    open_notebook,
    require_chromium,
    run_all_cells,
    save_screenshot,
    scroll_into_view,
    start_lab,
    wait_for_notebook,
)

pytestmark = pytest.mark.browser

LAB_SETTINGS = ROOT / "jupyter" / "lab" / "settings"
BINDER_MEMORY_MB = 2048.0
DEFAULT_BUDGET_S = 60.0
KERNEL_SHUTDOWN_TIMEOUT_S = 30.0


class ServerMemory(MemorySampler):
    """Peak resident memory (MB) of one process and its descendants: the server and its kernels."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        super().__init__(interval_s)
        self.process = psutil.Process(pid)

    def current_mb(self) -> float:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total / 2**20


def _kernels(server: LabServer) -> list[dict]:
    with urllib.request.urlopen(f"{server.url}/api/kernels", timeout=10) as response:
        return json.loads(response.read())


def _run_timeout_s(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    return 3 * float(nb.metadata.get("eelib", {}).get("cpu_budget_s", DEFAULT_BUDGET_S))


@pytest.fixture(scope="module")
def binder_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a copy of notebooks/, with the course's settings override."""
    require_chromium()
    base = tmp_path_factory.mktemp("binder")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root)
    config = base / "state" / "config"  # start_lab points JUPYTER_CONFIG_DIR here
    config.mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"LabApp": {"app_settings_dir": str(LAB_SETTINGS)}}), encoding="utf-8")
    server = start_lab(root, base / "state")
    try:
        yield server
    finally:
        server.stop()


def test_notebooks_00_to_09_in_one_session_fit_binder(browser: Any, binder_server: LabServer) -> None:
    names = sorted(p.name for p in binder_server.root.glob("*.ipynb"))
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(10)]
    sampler = ServerMemory(binder_server.process.pid)
    sampler.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(120_000)
    page = context.new_page()
    rows = []
    session_start = time.perf_counter()
    try:
        for index, name in enumerate(names):
            start = time.perf_counter()
            if index == 0:
                open_notebook(page, binder_server, name)
            else:
                page.evaluate("async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }",
                              name)
                wait_for_notebook(page, name)
            result = run_all_cells(page, _run_timeout_s(binder_server.root / name))
            errors = error_outputs(page)
            assert not errors, f"{name} shows errors:\n" + "\n\n".join(errors)
            assert result.state["executed"] == result.state["code"], f"{name}: not every cell ran"
            scroll_into_view(page, FIGURE_SELECTOR)
            save_screenshot(page, SCREENSHOT_DIR / name.replace(".ipynb", ".png"))
            page.evaluate("""async () => {
                const app = window.jupyterapp;
                await app.commands.execute('docmanager:save');
                await app.commands.execute('application:close');
            }""")
            deadline = time.monotonic() + KERNEL_SHUTDOWN_TIMEOUT_S
            while _kernels(binder_server) and time.monotonic() < deadline:
                time.sleep(0.25)
            left = _kernels(binder_server)
            rows.append((name, time.perf_counter() - start, sampler.reset(), len(left)))
            assert not left, f"closing {name} left its kernel running: the kernel-shutdown override is not in force"
    finally:
        context.close()
        sampler.stop()
        peak = max([row[2] for row in rows] + [sampler.peak_mb])
        print(f"\nBinder-style session: {len(rows)} notebooks in {time.perf_counter() - session_start:.0f} s; "
              f"peak memory of JupyterLab + kernels {peak:.0f} MB (Binder: {BINDER_MEMORY_MB:.0f} MB)")
        print("| notebook | wall time (s) | peak RSS, server + kernels (MB) | kernels left after closing |")
        print("|---|---:|---:|---:|")
        for name, seconds, peak_mb, left in rows:
            print(f"| {name} | {seconds:.1f} | {peak_mb:.0f} | {left} |")
    assert peak < BINDER_MEMORY_MB, f"the session peaked at {peak:.0f} MB, more than Binder's {BINDER_MEMORY_MB:.0f} MB"
