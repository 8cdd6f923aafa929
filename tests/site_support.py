"""Support for the course-site tests: one build per test run, and a loopback server for it.

``built_site`` (session-scoped, imported by ``tests/conftest.py``) runs the command the
Pages workflow runs, ``./course site``, with ``EELIB_CI=1`` into a temporary folder: it
reuses the notebooks the notebook tier executed in this run (``_build/executed/ci/``) and
executes only those missing. The build's own report (page weights, build time) is printed
at the end of the test run: a benchmark, never asserted.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_build_site():
    """tools/build_site.py as the module ``build_site`` (loaded once per process)."""
    if "build_site" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
        sys.modules["build_site"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["build_site"])
    return sys.modules["build_site"]


#: The site tool (tools/build_site.py), for the tests.
build_site = _load_build_site()
#: The command that builds the site: the one .github/workflows/pages.yml runs (test_site.py checks).
BUILD_COMMAND = [str(ROOT / "course"), "site"]
BUILD_TIMEOUT_S = 3600


@dataclass
class BuiltSite:
    """The built folder and what the build printed."""

    out: Path
    report: str
    seconds: float


class _Report:
    """Prints the build's report in pytest's terminal summary (registered as a plugin)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lines:
            terminalreporter.section("course site: page weights and build time (./course site, EELIB_CI=1)")
            for line in self.lines:
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> BuiltSite:
    """The site built by ``./course site --out TMP`` with ``EELIB_CI=1``; fails with the build's output."""
    out = tmp_path_factory.mktemp("site") / "_site"
    env = dict(os.environ, EELIB_CI="1")
    env.pop("MPLBACKEND", None)
    started = time.perf_counter()
    result = subprocess.run([*BUILD_COMMAND, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"./course site failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    report = _Report()
    report.lines = [line for line in result.stdout.splitlines() if line.strip()]
    report.lines.append(f"wall time of ./course site in the test run: {seconds:.0f} s")
    request.config.pluginmanager.register(report, "eelib-site-report")
    return BuiltSite(out, result.stdout, seconds)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="session")
def site_server(built_site: BuiltSite) -> Iterator[str]:
    """The built folder served on 127.0.0.1 (a free port); yields the base URL ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(built_site.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
