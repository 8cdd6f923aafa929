"""The course where students and researchers run it (slow tier; reaches the public index).

1. A Colab-like environment: Python 3.12 (where the machine has it), Colab's preinstalled
   ipywidgets 7.7.1, numpy 2.0.2, matplotlib 3.10, scikit-learn 1.6, IPython 7.34,
   ipykernel 6.17 and a torch from the public index. The notebooks' own set-up cell is run
   in a kernel that believes it is on Colab, with the repository address replaced by the
   local checkout; then which preinstalled packages changed is listed (torch, numpy and
   ipywidgets must not), the widget modules' tests run against ipywidgets 7.7.1, and the
   instructors' notebooks run there (the student edition's code up to its first exercise is
   theirs: tests/test_student_versions.py).
2. Every supported Python besides the one running this suite (which ``./course test`` and
   tests/test_install.py execute): where an interpreter is found (PATH, then pyenv), one
   virtual environment gets the course at the lock's versions, the unit tier runs from the
   checkout and the instructors' notebooks from the installed wheel, outside the checkout.
   Where none is found, the test is skipped and says which.

Installs go through uv from the public index only (no pip or uv settings of this machine),
so torch is PyPI's CUDA build on Linux, as a user gets it; uv's cache links one copy into
every environment. Sizes and times are printed; none is asserted. Without the network the
tests are skipped, saying so, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest
from install_support import (
    INSTALL_TIMEOUT_S, LOCK, PUBLIC_INDEX, ROOT, assert_notebooks_run_outside_the_checkout, build_wheel,
    installed_versions, megabytes, run, user_env, uv)  # noqa: F401 (uv is a fixture)
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MINORS = [m for c in PROJECT["project"]["classifiers"]
          for m in re.findall(r"^Programming Language :: Python :: (3\.\d+)$", c)]
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
SLUG, BRANCH = PROJECT["tool"]["eelib"]["repository"], PROJECT["tool"]["eelib"]["branch"]
#: What a Colab runtime brings that matters here (the rest of its environment is not copied).
COLAB_PYTHON = "3.12"
COLAB = ["numpy==2.0.2", "ipywidgets==7.7.1", "matplotlib==3.10.*", "scikit-learn==1.6.*", "ipython==7.34.0",
         "ipykernel==6.17.1", "seaborn==0.13.*", "pandas==2.2.*", "tqdm", "pillow", "nbclient", "nbformat"]
#: The packages the set-up cell must leave in place (with ipywidgets' own front-end parts).
KEPT = ["torch", "numpy", "ipywidgets", "widgetsnbextension", "jupyterlab-widgets"]
WIDGET_TESTS = ["tests/test_playground.py", "tests/test_explorer.py", "tests/test_heatmap_widget.py"]


def find_python(minor: str) -> Path | None:
    """An interpreter for Python ``minor``: ``pythonX.Y`` on PATH, else pyenv's newest."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{minor}")]
    candidates += sorted(glob.glob(str(pyenv / f"{minor}.*" / "bin" / f"python{minor}")), reverse=True)
    for candidate in filter(None, candidates):
        result = subprocess.run([candidate, "-c", "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip() == minor:
            return Path(candidate)
    return None


def _torch_pin(minor: str) -> str:
    """The lock's torch requirement for Linux and Python ``minor``."""
    environment = {"python_version": minor, "python_full_version": f"{minor}.0", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("torch=="):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                return f"torch{requirement.specifier}"
    raise AssertionError(f"the lock pins no torch for Python {minor}")


def _venv(python: Path, folder: Path, uv: str, *requirements: str, lock: bool) -> Path:
    """A virtual environment of ``python`` (with pip) and ``requirements`` installed by uv."""
    run([str(python), "-m", "venv", str(folder)], timeout=300)
    command = [uv, "pip", "install", "--no-config", "--python", str(folder / "bin" / "python"),
               "--index-url", PUBLIC_INDEX, "--quiet", *requirements]
    run(command + (["-c", str(LOCK)] if lock else []), env=user_env(machine_pip=False), timeout=INSTALL_TIMEOUT_S)
    return folder / "bin" / "python"


def _describe(python: Path, label: str) -> None:
    site = next(python.parent.parent.glob("lib/python3*/site-packages"))
    print(f"{label}: {len(installed_versions(python))} packages, {megabytes(site):.0f} MB in site-packages")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source"))


# --- 1. Colab ---------------------------------------------------------------------------

def _execute_in_kernel(python: Path, sources: list[str], scratch: Path) -> list[str]:
    """Run ``sources`` as cells of one notebook in ``python``'s kernel; each cell's printed text."""
    notebook = scratch / "cells.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), notebook)
    script = ("import json, sys, nbformat\nfrom nbclient import NotebookClient\n"
              "nb = nbformat.read(sys.argv[1], as_version=4)\n"
              "NotebookClient(nb, timeout=1500, kernel_name='python3').execute()\n"
              "print(json.dumps([''.join(o.get('text', '') for o in c.outputs) for c in nb.cells]))\n")
    env = user_env(machine_pip=False, JUPYTER_DATA_DIR=str(scratch / "jupyter-data"))
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    result = run([str(python), "-c", script, str(notebook)], env=env, cwd=scratch, timeout=INSTALL_TIMEOUT_S)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def colab(uv: str, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Colab-like environment after the notebooks' set-up cell ran there; its python."""
    interpreter = find_python(COLAB_PYTHON)
    if interpreter is None:
        interpreter = Path(sys.executable)
        print(f"no Python {COLAB_PYTHON} here: the Colab-like environment uses {RUNNING}")
    scratch = tmp_path_factory.mktemp("colab")
    started = time.perf_counter()
    python = _venv(interpreter, scratch / "venv", uv, _torch_pin(COLAB_PYTHON), *COLAB, lock=False)
    print(f"Colab-like environment (Python {interpreter}) built in {time.perf_counter() - started:.0f} s")
    _describe(python, "before the set-up cell")
    before = installed_versions(python)

    # The set-up cell of the student edition's first notebook, as it is, but installing from a
    # copy of this checkout instead of the repository on GitHub.
    setup = nbformat.read(ROOT / "student/notebooks/00_course_tour.ipynb", as_version=4).cells[1].source
    address = f"git+https://github.com/{SLUG}@{BRANCH}"
    assert setup.count(address) == 1
    source = scratch / "checkout"
    shutil.copytree(ROOT / "eelib", source / "eelib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    fake_colab = 'import sys, types\nsys.modules["google.colab"] = types.ModuleType("google.colab")'
    started = time.perf_counter()
    _, printed = _execute_in_kernel(python, [fake_colab, setup.replace(address, source.as_uri())], scratch)
    print(f"set-up cell ran in {time.perf_counter() - started:.0f} s; it printed (last 1500 characters):\n"
          f"{printed[-1500:]}")
    after = installed_versions(python)
    _describe(python, "after the set-up cell")
    added = sorted(set(after) - set(before))
    replaced = {name: (before[name], after[name]) for name in before if after.get(name) != before[name]}
    print(f"the set-up cell added {len(added)} packages: {', '.join(f'{n}=={after[n]}' for n in added)}")
    print(f"and replaced {len(replaced)}: {replaced}")
    # pip's own output reaches the student, and the cell's verdict is the plain one.
    assert "Successfully installed" in printed and "eelib" in added
    kept = " ".join(f"{name}=={before[name]}" for name in ("torch", "numpy", "ipywidgets"))
    assert f"Ready, no restart needed. Kept: {kept}" in printed
    assert not set(KEPT) & set(replaced), f"the set-up cell replaced Colab's {replaced}"
    return python


def test_colab_setup_cell_keeps_colabs_torch_numpy_and_widgets(colab: Path) -> None:
    versions = installed_versions(colab)
    assert versions["ipywidgets"] == "7.7.1" and versions["numpy"] == "2.0.2"
    assert versions["eelib"] == PROJECT["project"]["version"]


def test_widget_modules_build_and_answer_their_callbacks_under_ipywidgets_7(colab: Path, uv: str,
                                                                             tmp_path: Path) -> None:
    # The widget tests construct every widget and fire its callbacks; here with Colab's
    # ipywidgets (pytest added after the set-up cell's check, as Colab has it too).
    run([uv, "pip", "install", "--no-config", "--python", str(colab), "--index-url", PUBLIC_INDEX, "--quiet",
         "pytest", "ipywidgets==7.7.1"], env=user_env(machine_pip=False), timeout=INSTALL_TIMEOUT_S)
    result = subprocess.run([str(colab), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                             str(tmp_path / "basetemp"), *WIDGET_TESTS], cwd=ROOT, capture_output=True, text=True,
                            env=user_env(machine_pip=False), timeout=1800)
    print(result.stdout[-1500:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert installed_versions(colab)["ipywidgets"] == "7.7.1"
    assert re.search(r"\b\d+ passed\b", result.stdout) and " failed" not in result.stdout


def test_notebooks_run_in_the_colab_like_environment(colab: Path, tmp_path: Path) -> None:
    assert_notebooks_run_outside_the_checkout(colab, tmp_path, "in the Colab-like environment")


# --- 2. every supported Python ---------------------------------------------------------------

OTHER_MINORS = [m for m in MINORS if m != RUNNING]
ENVIRONMENTS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def course_python(uv: str, wheel: Path, tmp_path_factory: pytest.TempPathFactory):
    """The environment of one Python minor with the course at the lock's versions, made once
    and shared by that Python's unit-tier and notebook tests; skips where none is found."""
    def make(minor: str) -> Path:
        if minor not in ENVIRONMENTS:
            interpreter = find_python(minor)
            if interpreter is None:
                pytest.skip(f"no Python {minor} interpreter on this machine (looked for python{minor} on PATH "
                            f"and in pyenv's versions); it is only resolved, by tests/test_install.py")
            started = time.perf_counter()
            extras = re.search(r'^TEST_EXTRAS="([a-z,]+)"', (ROOT / "course").read_text(), re.MULTILINE)[1]
            ENVIRONMENTS[minor] = _venv(interpreter, tmp_path_factory.mktemp(f"py{minor}") / "venv", uv,
                                        _torch_pin(minor), f"{wheel}[{extras}]", lock=True)
            print(f"Python {minor} ({interpreter}): environment built in {time.perf_counter() - started:.0f} s")
            _describe(ENVIRONMENTS[minor], f"Python {minor}")
        return ENVIRONMENTS[minor]
    return make


@pytest.mark.parametrize("minor", OTHER_MINORS)
def test_unit_tier_runs_on_every_supported_python(course_python, minor: str, tmp_path: Path) -> None:
    python = course_python(minor)
    started = time.perf_counter()
    result = subprocess.run([str(python), "-m", "pytest", "-m", "unit", "-q", "-p", "no:cacheprovider",
                             "--basetemp", str(tmp_path / "basetemp")],
                            cwd=ROOT, capture_output=True, text=True, env=user_env(machine_pip=False), timeout=3000)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"Python {minor}: unit tier {summary} ({time.perf_counter() - started:.0f} s)")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", summary) and "failed" not in summary


@pytest.mark.parametrize("minor", OTHER_MINORS)
def test_notebooks_run_on_every_supported_python(course_python, minor: str, tmp_path: Path) -> None:
    python = course_python(minor)
    assert_notebooks_run_outside_the_checkout(python, tmp_path, f"on Python {minor}")
