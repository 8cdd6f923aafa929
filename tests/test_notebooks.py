"""Notebook hygiene and headless execution within each notebook's CPU-time and memory budget.

The budget is CPU time of the kernel and its child processes, not wall time: a busy
machine slows a notebook down without making it do more work, and CI must not fail for
that. Wall time is measured and printed next to it.

Each notebook is executed once per test run, here: after its last cell (outside the
budget) the kernel writes its widgets' frames, and the executed notebook goes into the
site's cache (``tools/build_site.py``: ``_build/executed/ci/``), from which the site test
builds the course site without executing anything again.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from site_support import build_site

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
DEFAULT_BUDGET_S = 60.0
MEMORY_BUDGET_MB = 1536.0
NAME_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")

pytestmark = pytest.mark.notebooks



def test_the_course_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"
    assert NOTEBOOKS[0].name.startswith("00_"), "the course starts with notebook 00"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path: Path) -> None:
    assert NAME_PATTERN.match(path.name), f"{path.name} does not follow NN_topic.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {index} has outputs: run ./course strip"
            assert cell.execution_count is None, f"cell {index} has an execution count: run ./course strip"
    first = nb.cells[0]
    assert first.cell_type == "markdown", "the first cell must be the markdown header"
    for heading in ("Learning goals", "Prerequisites", "Estimated time"):
        assert heading in first.source, f"the first cell lacks '{heading}'"


def _peak_rss_mb(pid: int) -> float:
    """High-water mark of the resident set of a process (Linux VmHWM), in MB; 0 elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def _cpu_seconds(times: psutil._common.pcputimes) -> float:
    """User + system CPU time of a process, with that of its children it has waited for."""
    return times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)


class _TreeSampler(threading.Thread):
    """Peak summed RSS and total CPU time of a process and its descendants, sampled every 50 ms.

    Catches memory and CPU in child processes (data loader workers, ``subprocess`` runs)
    that the kernel's own counters do not see; a child that ends keeps its last sample.
    """

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.cpu_by_pid: dict[int, float] = {}
        self._stop_event = threading.Event()

    def _sample(self) -> None:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                with proc.oneshot():
                    total += proc.memory_info().rss
                    self.cpu_by_pid[proc.pid] = _cpu_seconds(proc.cpu_times())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        self.peak_mb = max(self.peak_mb, total / 2**20)

    def cpu_seconds(self) -> float:
        """CPU time of the whole tree so far (call after :meth:`stop`)."""
        return sum(self.cpu_by_pid.values())

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._sample()
            except psutil.NoSuchProcess:
                return
            self._stop_event.wait(self.interval_s)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        self._sample()  # the final CPU time, while the kernel is still alive
        return self.peak_mb


def _error_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """'cell N: ename: evalue' for every error output (cells tagged raises-exception too)."""
    return [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "error"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_within_budget(path: Path, tmp_path: Path, notebook_results: list, monkeypatch) -> None:
    nb = nbformat.read(path, as_version=4)
    budget_s = float(nb.metadata.get("eelib", {}).get("cpu_budget_s", DEFAULT_BUDGET_S))
    # Run on a copy of the whole notebooks/ folder: files next to a notebook are there too,
    # and nothing the kernel writes (outputs, autosaves) lands in the repository.
    workdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, workdir)
    monkeypatch.setenv("EELIB_CI", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb, timeout=int(3 * budget_s), kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    cached = build_site.cache_dir("ci") / path.name
    key = build_site.source_key(path, build_site.library_hash())
    row = {"notebook": path.name, "cpu_s": float("nan"), "seconds": float("nan"), "budget_s": budget_s,
           "peak_mb": float("nan"), "status": "error"}
    notebook_results.append(row)
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        sampler = _TreeSampler(pid)
        sampler.start()
        start = time.perf_counter()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        finally:
            row["seconds"] = time.perf_counter() - start
            row["peak_mb"] = max(sampler.stop(), _peak_rss_mb(pid))
            row["cpu_s"] = sampler.cpu_seconds()
        errors = _error_outputs(nb)
        if not errors:  # the site's frames, after the measurement
            shutil.rmtree(build_site.frames_dir(cached), ignore_errors=True)
            build_site.run_export_cell(client, nb, build_site.frames_dir(cached))
    assert not errors, f"{path.name} produced error outputs: {errors}"
    build_site.store_executed(nb, key, cached)
    ok_time = row["cpu_s"] <= budget_s
    ok_memory = row["peak_mb"] <= MEMORY_BUDGET_MB
    row["status"] = "ok" if ok_time and ok_memory else "over budget"
    assert ok_time, (f"{path.name} used {row['cpu_s']:.1f} s of CPU time (wall {row['seconds']:.1f} s), "
                     f"budget {budget_s:.0f} s")
    assert ok_memory, f"{path.name} peaked at {row['peak_mb']:.0f} MB, budget {MEMORY_BUDGET_MB:.0f} MB"
