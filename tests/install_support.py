"""What the install tests share: a user's environment, eelib's wheel, the notebook driver,
and what an environment holds (``tests/test_install.py``, ``tests/test_reach.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "constraints.txt"
PUBLIC_INDEX = "https://pypi.org/simple"
INSTALL_TIMEOUT_S = 1500
RUN_TIMEOUT_S = 3000

#: Runs notebooks (paths in argv) in this environment's kernel; prints one JSON line each.
#: The student edition runs up to its first exercise. The last cell reports where eelib
#: was imported from.
DRIVER = r'''
import json, re, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

STUB = re.compile(r"raise NotImplementedError\(\)|YOUR ANSWER HERE")
for name in sys.argv[1:]:
    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    if path.parent.parent.name == "student":
        stub = next((i for i, c in enumerate(nb.cells) if STUB.search(c.source)), len(nb.cells))
        nb.cells = nb.cells[:stub]
    nb.cells.append(nbformat.v4.new_code_cell("import eelib\nprint('EELIB', eelib.__file__)"))
    started = time.perf_counter()
    row = {"notebook": f"{path.parent.parent.name}/{path.parent.name}/{path.name}", "cells": len(nb.cells)}
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        row["eelib"] = nb.cells[-1].outputs[0]["text"].split(" ", 1)[1].strip()
        row["status"] = "ok"
    except Exception as error:  # report every notebook, then fail
        row["status"] = f"{type(error).__name__}: {str(error)[-600:]}"
    row["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(row), flush=True)
'''


def user_env(*, machine_pip: bool = True, **extra: str) -> dict[str, str]:
    """This process's environment without what points Python at the checkout (a user has none).

    With ``machine_pip=False`` also without this machine's pip and uv settings (its local
    wheels, its cap on torch): pip and uv then see the public index only, as a user does.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV")}
    if not machine_pip:
        env = {k: v for k, v in env.items() if not k.startswith(("PIP_", "UV_"))}
        env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` (in the user's environment unless ``env``); fail with its output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, env=env or user_env(), **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def build_wheel(out: Path, work: Path) -> Path:
    """eelib's wheel, built from a copy of the sources in ``work`` (the checkout gets no build files)."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "eelib", work / "eelib", ignore=shutil.ignore_patterns("__pycache__"))
    started = time.perf_counter()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(work)],
        env=os.environ.copy(), timeout=INSTALL_TIMEOUT_S)
    print(f"wheel built in {time.perf_counter() - started:.0f} s")
    (built,) = out.glob("eelib-*.whl")
    return built


def installed_versions(python: Path | str) -> dict[str, str]:
    """Every distribution in ``python``'s environment: normalised name -> version."""
    code = ("import json, re; from importlib import metadata; print(json.dumps({re.sub(r'[-_.]+', '-', "
            "d.metadata['Name']).lower(): d.version for d in metadata.distributions()}))")
    return json.loads(run([str(python), "-I", "-c", code]).stdout)  # -I: not the checkout's egg-info


def megabytes(folder: Path) -> float:
    """Disk use of ``folder``'s files (hard links counted once) in MB."""
    seen, total = set(), 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total / 1e6


def run_notebooks(python: Path, notebooks: list[str], cwd: Path, scratch: Path) -> list[dict]:
    """Run ``notebooks`` with the DRIVER in ``python``'s environment; print and return one row each."""
    env = user_env(EELIB_CI="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
                   JUPYTER_DATA_DIR=str(scratch / "jupyter-data"))
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    (scratch / "driver.py").write_text(DRIVER)
    started = time.perf_counter()
    result = subprocess.run([str(python), str(scratch / "driver.py"), *notebooks],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    print(f"\n{len(rows)} notebooks in {time.perf_counter() - started:.0f} s with {python}:")
    for row in rows:
        print(f"  {row['notebook']:<55} {row['seconds']:>6.1f} s  {row['status'][:120]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return rows


def copy_notebooks(outside: Path) -> list[str]:
    """The instructors' notebooks copied to ``outside`` (not in the checkout); their paths.

    The student edition runs the same code cells up to its first exercise
    (tests/test_student_versions.py checks that), so running it as well would test nothing more.
    """
    shutil.copytree(ROOT / "notebooks", outside / "notebooks")
    assert not outside.is_relative_to(ROOT)
    return sorted(str(p) for p in outside.rglob("*.ipynb"))


def assert_notebooks_run_outside_the_checkout(python: Path, tmp_path: Path, where: str) -> list[dict]:
    """Copy the notebooks out of the checkout, run them with ``python`` and check every row.

    All must run, each ``ok``, importing eelib from ``python``'s own site-packages (not the
    checkout); ``where`` names the environment in the failure message. Returns the rows.
    """
    notebooks = copy_notebooks(tmp_path / "class")
    rows = run_notebooks(python, notebooks, tmp_path / "class", tmp_path)
    assert len(rows) == len(notebooks) == len(list((ROOT / "notebooks").glob("*.ipynb")))
    failed = {row["notebook"]: row["status"] for row in rows if row["status"] != "ok"}
    assert not failed, f"notebooks failed {where}: {failed}"
    site_packages = {str(Path(row["eelib"]).parent.parent) for row in rows}
    assert site_packages == {str(next(python.parent.parent.glob("lib/python3*/site-packages")))}, site_packages
    return rows


def missing(reason: str) -> None:
    """Skip for ``reason``; fail instead under ``CI=true``, where these tests must run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: install tests must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def uv() -> str:
    """uv from the test environment, once the public index answers (else :func:`missing`)."""
    found = Path(sys.executable).with_name("uv")
    executable = str(found) if found.is_file() else shutil.which("uv")
    if executable is None:
        missing("uv is not installed (it comes with the test extra)")
    try:
        urllib.request.urlopen(f"{PUBLIC_INDEX}/torch/", timeout=15).close()
    except (urllib.error.URLError, OSError) as error:
        missing(f"the public package index {PUBLIC_INDEX} cannot be reached: {error}")
    return executable
