"""Shared pytest configuration.

Sections:
1. Tiers: every test carries exactly one of the markers registered in pyproject.toml
   (doctests are unit tests); a test without one fails collection.
2. Notebook resource report: every executed notebook records its CPU time, wall time and
   peak memory; the table is printed at the end of the run (and written to the file named
   by ``EELIB_NOTEBOOK_REPORT`` when that variable is set).
3. ``one_torch_thread``: a module-scoped fixture for test files on small tensors.
4. The browser tests' session fixtures (tests/browser_support.py), defined here once so that
   every browser test module shares one JupyterLab server, one Chromium and one report;
   and the course site's (tests/site_support.py): one build per run and its server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from _pytest.doctest import DoctestItem

# --- 1. Tiers ---------------------------------------------------------------------------

TIERS = ("unit", "notebooks", "browser", "slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    untiered = []
    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.unit)
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            untiered.append(f"{item.nodeid}: {sorted(tiers) or 'no tier'}")
    if untiered:
        raise pytest.UsageError("every test needs exactly one tier marker " + str(TIERS) + ":\n  "
                                + "\n  ".join(untiered))


# --- 2. Notebook resource report ---------------------------------------------------------

NOTEBOOK_RESULTS: list[dict[str, object]] = []


@pytest.fixture(scope="session")
def notebook_results() -> list[dict[str, object]]:
    """Where notebook-execution tests append {"notebook", "cpu_s", "seconds", "peak_mb", ...}."""
    return NOTEBOOK_RESULTS


def _report_lines() -> list[str]:
    lines = [
        "| notebook | CPU time (s) | CPU budget (s) | wall time (s) | peak memory (MB) | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in NOTEBOOK_RESULTS:
        lines.append(
            f"| {row['notebook']} | {row['cpu_s']:.1f} | {row['budget_s']:.0f} | {row['seconds']:.1f} "
            f"| {row['peak_mb']:.0f} | {row['status']} |"
        )
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not NOTEBOOK_RESULTS:
        return
    terminalreporter.section("notebook CPU time, wall time and peak memory")
    for line in _report_lines():
        terminalreporter.write_line(line)
    target = os.environ.get("EELIB_NOTEBOOK_REPORT")
    if target:
        Path(target).write_text("\n".join(_report_lines()) + "\n", encoding="utf-8")


# --- 3. One torch thread ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small tensors: one intra-op thread avoids thread contention on the shared CPUs.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- 4. Browser session fixtures -----------------------------------------------------------

from browser_support import browser, browser_report, chromium, lab_server, memory_sampler  # noqa: E402, F401
from site_support import built_site, site_server  # noqa: E402, F401
