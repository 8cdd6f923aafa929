"""Support for the browser tests: a throwaway JupyterLab, headless Chromium, page helpers.

The tests drive the course as a student does: JupyterLab in Chromium, Run All, then the
keyboard on a widget. Everything here is about doing that reliably and repeatably:

- :func:`start_lab` serves a temporary copy of ``notebooks/`` (JupyterLab autosaves outputs
  into the ``.ipynb``) from temporary settings, workspace and runtime folders, with the
  notebook's ``windowingMode`` set to ``"none"`` so that off-screen cells exist in the page
  (:func:`windowing_mode` reads it back);
  :meth:`LabServer.stop` kills the server's whole process group.
- :func:`open_notebook` and :func:`run_all_cells` open a notebook, run all cells through
  JupyterLab's command registry (``LabApp.expose_app_in_browser`` exposes
  ``window.jupyterapp``), and wait until every code cell has an execution count and the
  kernel is idle, or the first error.
- :func:`error_outputs` reads errors from the notebook model and from the page.
- :func:`press_on_slider` moves a slider with the keyboard; :func:`wait_for_new_image`,
  :func:`png_size` and :func:`assert_same_picture` check the figure an Output then shows
  (complete, and pixel for pixel the one the kernel draws: :func:`kernel_stdout`).
- :class:`MemorySampler` records the peak resident memory of everything this test
  process started (JupyterLab, kernels, Playwright's driver, Chromium).

Fixtures: the session-scoped ``lab_server``, ``browser``, ``memory_sampler`` and
``browser_report`` are imported by ``tests/conftest.py`` (one of each per run, shared by
every browser test module); ``page`` by the modules that use it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
#: Where screenshots go: docs/screenshots/ (tracked) only when asked with
#: ``EELIB_SCREENSHOTS=1`` (``./course test --screenshots``); otherwise a temporary folder,
#: so that a test run rewrites no file of the repository.
SCREENSHOT_DIR = (ROOT / "docs" / "screenshots" if os.environ.get("EELIB_SCREENSHOTS") == "1"
                  else Path(tempfile.gettempdir()) / "eelib-screenshots")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
SERVER_START_TIMEOUT_S = 120.0
ACTION_TIMEOUT_MS = 60_000
#: What a notebook's screenshot scrolls to: its first figure or widget.
FIGURE_SELECTOR = ".jp-OutputArea-output img, .jp-OutputArea-output .jupyter-widgets"
POLL_S = 0.25

#: JupyterLab user settings for the test server: every cell rendered (off-screen ones too),
#: and no news, update checks or toasts (offline, and nothing covering the screenshots).
#: Written as user settings files: JupyterLab reads ``overrides.json`` only from its
#: application settings folder, never from ``JUPYTERLAB_SETTINGS_DIR``.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
}


# --- Chromium ------------------------------------------------------------------------------

def require_chromium() -> None:
    """Skip when Debian's Chromium or Playwright is missing; fail instead when ``CI=true``."""
    reasons = []
    if not CHROMIUM.is_file():
        reasons.append(f"{CHROMIUM} is missing (install it with: apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reasons.append("the Python package 'playwright' is not installed")
    if not reasons:
        return
    message = "browser tests need Chromium and Playwright: " + "; ".join(reasons)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the browser tests must run in CI)", pytrace=False)
    pytest.skip(message)


# --- JupyterLab server ---------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab serving ``root`` at ``url`` (no token)."""

    url: str
    root: Path
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def stop(self) -> None:
        """Terminate the server's process group (server and kernels); kill it if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def _lab_environment(state_dir: Path) -> dict[str, str]:
    settings = state_dir / "settings"
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.split(":")
        path = settings / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)  # also creates state_dir, for the log
        path.write_text(json.dumps(values, indent=2), encoding="utf-8")
    env = dict(os.environ)
    env.update({
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"),
        "JUPYTER_CONFIG_DIR": str(state_dir / "config"),
        "EELIB_CI": "1",
    })
    env.pop("MPLBACKEND", None)  # the kernel picks its inline backend, as for a student
    return env


def start_lab(root: Path, state_dir: Path, timeout_s: float = SERVER_START_TIMEOUT_S) -> LabServer:
    """Start JupyterLab on a free loopback port serving ``root``, in its own process group.

    Parameters
    ----------
    root : Path
        The folder served (a temporary copy of ``notebooks/``).
    state_dir : Path
        A temporary folder for user settings (:data:`LAB_SETTINGS`), workspaces, runtime
        files and the server log.
    timeout_s : float
        How long to wait for ``/api/status`` to answer.
    """
    port = free_port()
    env = _lab_environment(state_dir)
    log_path = state_dir / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}", root, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/status", timeout=5) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout_s:.0f} s:\n{server.log_tail()}")


# --- Resource measurements -----------------------------------------------------------------

class MemorySampler:
    """Peak resident memory (MB) of all descendants of this process, sampled in a thread.

    RSS counts pages shared between Chromium's processes more than once, so the figure
    is an upper bound.
    """

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def current_mb(self) -> float:
        """Total RSS of the descendants right now."""
        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total / 2**20

    def reset(self) -> float:
        """Return the peak since the last reset and start a new one."""
        peak, self.peak_mb = self.peak_mb, self.current_mb()
        return max(peak, self.peak_mb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, self.current_mb())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(eq=False)
class BrowserReport:
    """Wall time and peak memory per browser test, printed in pytest's terminal summary.

    Registered as a pytest plugin, so it must hash by identity (``eq=False``): pluggy puts
    plugins in sets when a hook is called for a file outside ``tests/`` (the doctests).
    """

    started: float = field(default_factory=time.perf_counter)
    rows: list[tuple[str, float, float, str]] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    total_s: float = float("nan")

    def add(self, test: str, seconds: float, peak_mb: float, outcome: str) -> None:
        self.rows.append((test, seconds, peak_mb, outcome))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[report.nodeid] = report.outcome

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.rows:
            return
        terminalreporter.section("browser tests: wall time and peak memory (JupyterLab + kernel + Chromium)")
        terminalreporter.write_line("| test | wall time (s) | peak RSS (MB) | outcome |")
        terminalreporter.write_line("|---|---:|---:|---|")
        for test, seconds, peak_mb, outcome in self.rows:
            terminalreporter.write_line(f"| {test} | {seconds:.1f} | {peak_mb:.0f} | {outcome} |")
        terminalreporter.write_line(f"whole browser session (server start to stop): {self.total_s:.1f} s")


# --- Fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_report(request: pytest.FixtureRequest) -> Iterator[BrowserReport]:
    """The session's timing table, registered as a plugin so that it prints at the end."""
    report = BrowserReport()
    request.config.pluginmanager.register(report, "eelib-browser-report")
    yield report
    report.total_s = time.perf_counter() - report.started


@pytest.fixture(scope="session")
def memory_sampler() -> Iterator[MemorySampler]:
    sampler = MemorySampler()
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory, browser_report: BrowserReport) -> Iterator[LabServer]:
    """JupyterLab serving a temporary copy of ``notebooks/``; always stopped at the end."""
    require_chromium()
    base = tmp_path_factory.mktemp("browser")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root)
    server = start_lab(root, base / "state")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright: one for the whole test session.

    Playwright's sync API can run only once at a time in a thread, so the JupyterLab tests and
    the site's tests share this one instead of each starting their own.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def browser(lab_server: LabServer, chromium: Any) -> Any:
    """:func:`chromium` for the tests that drive JupyterLab (its server started first)."""
    return chromium


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path, browser_report: BrowserReport,
         memory_sampler: MemorySampler) -> Iterator[Any]:
    """A fresh browser context and page; records the test's wall time and peak memory.

    When the test fails, a screenshot of the page is left in the test's ``tmp_path``.
    """
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    new_page = context.new_page()
    memory_sampler.reset()
    start = time.perf_counter()
    try:
        yield new_page
    finally:
        outcome = browser_report.outcomes.get(request.node.nodeid, "error")
        try:
            if outcome == "failed":
                new_page.screenshot(path=str(tmp_path / "failure.png"))
            shutdown_kernel(new_page)
        except PlaywrightError:
            pass  # the page is gone; the server's process group is killed at the end anyway
        context.close()
        browser_report.add(request.node.name, time.perf_counter() - start, memory_sampler.reset(), outcome)


# --- Page helpers --------------------------------------------------------------------------

_NOTEBOOK_STATE_JS = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session ? panel.sessionContext.session.kernel : null;
  const cells = panel.content.model.cells;
  let code = 0, executed = 0, running = 0;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    code += 1;
    if (cell.executionCount !== null && cell.executionCount !== undefined) executed += 1;
    if (cell.executionState === 'running') running += 1;
    for (let j = 0; j < cell.outputs.length; j++) {
      const output = cell.outputs.get(j).toJSON();
      if (output.output_type === 'error') {
        errors.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
      }
    }
  }
  return {kernel: kernel ? kernel.status : 'none', code, executed, running, errors};
}
"""


@dataclass(frozen=True)
class RunResult:
    """How a Run All ended: seconds from the command to the end, and the final state."""

    seconds: float
    state: dict[str, Any]


def open_notebook(page: Any, server: LabServer, name: str) -> None:
    """Open ``name`` in a fresh JupyterLab workspace and wait for its kernel to be ready."""
    page.goto(f"{server.url}/lab/tree/{name}?reset")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    wait_for_notebook(page, name)


def wait_for_notebook(page: Any, name: str) -> None:
    """Wait until ``name`` is the current tab, revealed, with its kernel idle."""
    page.wait_for_function(
        """(name) => {
          const panel = window.jupyterapp.shell.currentWidget;
          return !!(panel && panel.context && panel.context.path.endsWith(name) && panel.sessionContext);
        }""",
        arg=name,
    )
    page.evaluate(
        """async () => {
          const panel = window.jupyterapp.shell.currentWidget;
          await panel.context.ready;
          await panel.sessionContext.ready;
          await panel.revealed;
        }"""
    )
    page.wait_for_function(
        "() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;"
        " return !!k && k.status === 'idle'; }"
    )
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook gets the width


def windowing_mode(page: Any) -> str:
    """The ``windowingMode`` of the open notebook, as JupyterLab applies it."""
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.notebookConfig.windowingMode")


def run_all_cells(page: Any, timeout_s: float) -> RunResult:
    """Run all cells and wait until every code cell ran and the kernel is idle.

    Returns early, with the errors in ``state["errors"]``, when a cell fails (JupyterLab
    then leaves the later cells unexecuted). Raises ``TimeoutError`` after ``timeout_s``.
    """
    start = time.perf_counter()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = start + timeout_s
    state: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        state = page.evaluate(_NOTEBOOK_STATE_JS) or {}
        idle = state.get("kernel") == "idle" and state.get("running") == 0
        if idle and (state.get("errors") or state.get("executed") == state.get("code")):
            return RunResult(time.perf_counter() - start, state)
        time.sleep(POLL_S)
    raise TimeoutError(f"Run All did not finish within {timeout_s:.0f} s; last state: {state}")


def error_outputs(page: Any) -> list[str]:
    """Every error shown in the notebook: error outputs of the model, and tracebacks on the page.

    JupyterLab 4 renders an ``error`` output (also one captured by an ipywidgets Output)
    as an output area child with ``data-mime-type="application/vnd.jupyter.stderr"``
    whose text holds the traceback; plain stderr text (warnings, progress bars) has the same
    mime type, so only texts with a traceback count. A widget whose view cannot be built
    shows "Error displaying widget" instead.
    """
    state = page.evaluate(_NOTEBOOK_STATE_JS) or {}
    shown = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    tracebacks = [text[:800] for text in shown.all_inner_texts() if "Traceback" in text]
    broken_widgets = page.get_by_text("Error displaying widget").all_inner_texts()
    return list(state.get("errors", [])) + tracebacks + broken_widgets


def shutdown_kernel(page: Any) -> None:
    """Shut down the current notebook's kernel (frees its memory before the next test)."""
    if page.is_closed():
        return
    page.evaluate(
        """async () => {
          const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
          if (panel && panel.sessionContext) await panel.sessionContext.shutdown();
        }"""
    )


def scroll_into_view(page: Any, selector: str) -> bool:
    """Scroll the output holding the first match of ``selector`` to the top; False if none."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          if (!el) return false;
          (el.closest('.jp-Cell-outputWrapper') || el).scrollIntoView({block: 'start'});
          return true;
        }""",
        selector,
    )


def image_src(page: Any, output_class: str) -> str:
    """The ``src`` (a PNG data URL, checked complete) of the image in the Output with this CSS class."""
    image = page.locator(f".{output_class} img").first
    image.wait_for(state="attached")
    src = image.get_attribute("src") or ""
    png_size(src)
    return src


def png_size(src: str) -> tuple[int, int]:
    """Width and height of the PNG in a data URL; fails if the PNG is not complete.

    A browser draws a truncated PNG as far as its data goes (and calls it loaded), so a
    figure cut off in transit would otherwise pass for a new image.
    """
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"not a PNG data URL: {src[:40]!r}"
    try:
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix):]))) as image:
            image.load()
            return image.size
    except (OSError, ValueError) as error:
        raise AssertionError(f"the figure's PNG is broken ({len(src)} characters): {error}") from error


def png_pixels(src: str) -> tuple[tuple[int, int], bytes]:
    """Size and RGBA pixels of the PNG in a data URL (to compare images, not encodings)."""
    png_size(src)
    prefix_length = src.index(",") + 1
    with Image.open(io.BytesIO(base64.b64decode(src[prefix_length:]))) as image:
        return image.size, image.convert("RGBA").tobytes()


def assert_same_picture(shown: str, expected: str, what: str, save_dir: Path) -> None:
    """Assert two PNG data URLs show the same pixels; on failure save both into ``save_dir``."""
    (size, pixels), (expected_size, expected_pixels) = png_pixels(shown), png_pixels(expected)
    if size == expected_size and pixels == expected_pixels:
        return
    save_dir.mkdir(parents=True, exist_ok=True)
    for tag, src in (("shown", shown), ("expected", expected)):
        (save_dir / f"{what}-{tag}.png").write_bytes(base64.b64decode(src[src.index(",") + 1:]))
    differing = sum(a != b for a, b in zip(pixels[::4], expected_pixels[::4])) if size == expected_size else -1
    raise AssertionError(
        f"{what}: the picture shown ({size[0]}x{size[1]} px) differs from the expected one "
        f"({expected_size[0]}x{expected_size[1]} px; {differing} red values differ); both saved in {save_dir}"
    )


def kernel_stdout(page: Any, code: str) -> str:
    """Run ``code`` in the open notebook's kernel (no new cell) and return what it printed.

    Raises ``AssertionError`` with the traceback when the code fails.
    """
    reply = page.evaluate(
        """async (code) => {
          const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
          const future = kernel.requestExecute({code, silent: false, store_history: false});
          let text = '', error = '';
          future.onIOPub = (msg) => {
            if (msg.header.msg_type === 'stream') text += msg.content.text;
            if (msg.header.msg_type === 'error') error = msg.content.traceback.join('\\n');
          };
          await future.done;
          return {text, error};
        }""",
        code,
    )
    assert not reply["error"], f"code run in the kernel failed:\n{reply['error']}"
    return reply["text"]


def wait_for_new_image(page: Any, output_class: str, old_src: str, timeout_s: float = 30.0) -> str:
    """Wait until the Output shows a new image, decoded, other than ``old_src``; return its ``src``."""
    page.wait_for_function(
        """([cls, old]) => {
          const img = document.querySelector(`.${cls} img`);
          return !!img && img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0;
        }""",
        arg=[output_class, old_src],
        timeout=timeout_s * 1000,
    )
    return image_src(page, output_class)


def press_on_slider(page: Any, slider_class: str, key: str) -> None:
    """Focus the handle of the slider with this CSS class and press ``key``, keyboard only.

    Asserts that the handle is in the Tab order (``tabindex="0"``) and took the focus.
    """
    handle = page.locator(f".{slider_class} .noUi-handle").first
    assert handle.get_attribute("tabindex") == "0", f"the .{slider_class} handle is not reachable with Tab"
    handle.focus()
    focused = page.evaluate("() => document.activeElement.classList.contains('noUi-handle')")
    assert focused, f"the .{slider_class} handle did not take the keyboard focus"
    page.keyboard.press(key)


def text_of(page: Any, selector: str) -> str:
    """The visible text of the first element matching ``selector``, stripped."""
    return page.locator(selector).first.inner_text().strip()


def save_region_screenshot(page: Any, selectors: list[str], path: Path, pad: int = 8) -> int:
    """Save a PNG of the smallest box around the first match of each selector (plus ``pad``).

    Waits until every image inside those elements is decoded, so no figure is half drawn.
    """
    boxes = []
    for selector in selectors:
        element = page.locator(selector).first
        element.wait_for(state="visible")
        element.evaluate("el => Promise.all(Array.from(el.querySelectorAll('img')).map(i => i.decode()))")
        boxes.append(element.bounding_box())
    left = max(0.0, min(b["x"] for b in boxes) - pad)
    top = max(0.0, min(b["y"] for b in boxes) - pad)
    right = max(b["x"] + b["width"] for b in boxes) + pad
    bottom = max(b["y"] + b["height"] for b in boxes) + pad
    clip = {"x": left, "y": top, "width": right - left, "height": bottom - top}
    return save_screenshot(page, path, clip=clip)


def save_screenshot(page: Any, path: Path, max_bytes: int = 2 * 2**20, **options: Any) -> int:
    """Save a PNG of the page; return its size, failing if it exceeds ``max_bytes``.

    ``options`` go to Playwright's ``page.screenshot`` (e.g. ``clip``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), **options)
    size = path.stat().st_size
    assert size <= max_bytes, f"{path.name} is {size / 2**20:.1f} MB, more than {max_bytes / 2**20:.0f} MB"
    return size
