"""Shared pytest configuration.

Sections:
1. Notebook resource report: every executed notebook records its wall time and peak
   memory; the table is printed at the end of the run (and written to the file named
   by ``EELIB_NOTEBOOK_REPORT`` when that variable is set).
2. ``one_torch_thread``: a module-scoped fixture for test files on small tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# --- 1. Notebook resource report -------------------------------------------------------

NOTEBOOK_RESULTS: list[dict[str, object]] = []


@pytest.fixture(scope="session")
def notebook_results() -> list[dict[str, object]]:
    """Where notebook-execution tests append {"notebook", "seconds", "peak_mb", ...}."""
    return NOTEBOOK_RESULTS


def _report_lines() -> list[str]:
    lines = [
        "| notebook | wall time (s) | budget (s) | peak memory (MB) | status |",
        "|---|---:|---:|---:|---|",
    ]
    for row in NOTEBOOK_RESULTS:
        lines.append(
            f"| {row['notebook']} | {row['seconds']:.1f} | {row['budget_s']:.0f} "
            f"| {row['peak_mb']:.0f} | {row['status']} |"
        )
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not NOTEBOOK_RESULTS:
        return
    terminalreporter.section("notebook wall time and peak memory")
    for line in _report_lines():
        terminalreporter.write_line(line)
    target = os.environ.get("EELIB_NOTEBOOK_REPORT")
    if target:
        Path(target).write_text("\n".join(_report_lines()) + "\n", encoding="utf-8")


# --- 2. One torch thread ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small tensors: one intra-op thread avoids thread contention on the shared CPUs.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
