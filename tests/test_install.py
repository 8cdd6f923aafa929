"""Installs as users make them (slow tier; the only tests that reach a package index).

1. The lock resolves on every platform and Python we cannot run: uv's resolver, public
   index only, binary wheels only, for Linux x86_64, macOS arm64 (macOS 14) and Windows
   x86_64 on every supported Python minor (pyproject's classifiers); every package it
   picks must be the one the lock pins for that platform. Without the network the test
   is skipped, saying so, and fails instead when ``CI=true``.
2. The wheel: built from the sources, installed non-editable with the ``course`` extra at
   the lock's versions into a fresh virtual environment; the notebooks are copied to a
   folder outside the checkout and run there, importing eelib from that environment's
   site-packages. The instructors' edition runs whole; the student edition runs the same
   code cells up to its first exercise (tests/test_student_versions.py checks that), so
   running it too would test nothing more.

Each prints its wall time; none is asserted. tests/test_reach.py runs the course on the
other supported Pythons and in a Colab-like environment; both share tests/install_support.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from install_support import (  # noqa: F401 (uv is a fixture)
    INSTALL_TIMEOUT_S, LOCK, PUBLIC_INDEX, assert_notebooks_run_outside_the_checkout, build_wheel, run, uv)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
MINORS = [m for c in PROJECT["classifiers"] for m in re.findall(r"^Programming Language :: Python :: (3\.\d+)$", c)]
#: uv's target triples, with the marker values pip would see there.
PLATFORMS = {
    "x86_64-unknown-linux-gnu": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                                 "platform_machine": "x86_64"},
    "aarch64-apple-darwin": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
                             "platform_machine": "arm64"},
    "x86_64-pc-windows-msvc": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                               "platform_machine": "AMD64"},
}
MACOS = "14.0"


def _pins_for(environment: dict[str, str]) -> dict[str, str]:
    """The lock's pins that apply in ``environment`` (marker values)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pins[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return pins


# --- 1. the lock on every platform and Python ---------------------------------------------

@pytest.mark.parametrize("python", MINORS)
@pytest.mark.parametrize("target", sorted(PLATFORMS))
def test_lock_resolves_for_every_platform_and_python(uv: str, target: str, python: str, tmp_path: Path) -> None:
    # Only the public index: no uv or pip settings of this machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env["MACOSX_DEPLOYMENT_TARGET"] = MACOS
    output = tmp_path / "resolved.txt"
    started = time.perf_counter()
    result = subprocess.run(
        [uv, "pip", "compile", "pyproject.toml", "--all-extras", "-c", str(LOCK), "--no-config",
         "--index-url", PUBLIC_INDEX, "--python-platform", target, "--python-version", python,
         "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet", "-o", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    seconds = time.perf_counter() - started
    print(f"{target} Python {python}: resolved in {seconds:.1f} s")
    assert result.returncode == 0, f"the lock does not resolve for {target}, Python {python}:\n{result.stderr}"
    environment = {**PLATFORMS[target], "python_version": python, "python_full_version": f"{python}.0",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    pins = _pins_for(environment)
    resolved = {}
    for line in output.read_text().splitlines():
        if "==" in line:
            name, version = line.split(";", 1)[0].strip().split("==")
            resolved[canonicalize_name(name)] = version
    assert "torch" in resolved and len(resolved) > 100
    unpinned = sorted(set(resolved) - set(pins))
    assert not unpinned, f"{target}, Python {python} needs packages the lock does not pin: {unpinned}"
    differing = {n: (v, pins[n]) for n, v in resolved.items() if v != pins[n]}
    assert not differing, f"resolved versions differ from the lock's: {differing}"


# --- 2. the wheel, installed outside the checkout -------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """eelib's wheel, built from a copy of the sources (the checkout gets no build files)."""
    return build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source"))


def test_wheel_ships_the_library_results_and_licence_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    results = sorted(p.name for p in (ROOT / "eelib" / "experiments" / "results").iterdir())
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("eelib/experiments/results/")) == results
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "student/", "docs/", "tools/"))]
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and any(n.endswith("licenses/LICENSE") for n in names)
    core = [line.removeprefix("Requires-Dist: ") for line in text.splitlines()
            if line.startswith("Requires-Dist: ") and "extra ==" not in line]
    assert sorted(Requirement(r).name for r in core) == ["numpy", "scikit-learn", "scipy", "torch"]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its course extra, at the lock's versions."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    started = time.perf_counter()
    run([base_python, "-m", "venv", str(venv)], timeout=300)
    python = str(venv / "bin" / "python")
    # torch first, alone, at the lock's version (on this machine pip takes a local CPU wheel).
    torch = _pins_for({})["torch"]
    run([python, "-m", "pip", "install", "--quiet", "-c", str(LOCK), f"torch=={torch}"], timeout=INSTALL_TIMEOUT_S)
    run([python, "-m", "pip", "install", "--quiet", "-c", str(LOCK), f"{wheel}[course]"], timeout=INSTALL_TIMEOUT_S)
    print(f"fresh environment with eelib[course] in {time.perf_counter() - started:.0f} s")
    return venv


def test_every_notebook_runs_from_the_installed_wheel_outside_the_checkout(
        installed: Path, tmp_path: Path) -> None:
    assert_notebooks_run_outside_the_checkout(installed / "bin" / "python", tmp_path, "outside the checkout")
