"""One source of truth for dependencies: pyproject, conda, Binder and the lock agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_A_PACKAGE = {"python", "pip"}


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement string ("torch==2.13.0" -> "torch")."""
    name = re.split(r"[\s=<>!~\[;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return CONDA_TO_PYPI.get(name, name)


def _conda_packages(path: Path) -> set[str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    names = set()
    for dep in deps:
        if isinstance(dep, dict):  # the pip: section
            names |= {_name(d) for d in dep.get("pip", []) if not d.startswith("-e")}
        else:
            names.add(_name(dep))
    return names - NOT_A_PACKAGE


RUNTIME = {_name(d) for d in PYPROJECT["project"]["dependencies"]}
TEST = {_name(d) for d in PYPROJECT["project"]["optional-dependencies"]["test"]}


def test_environment_yml_names_runtime_and_test_packages() -> None:
    assert _conda_packages(ROOT / "environment.yml") == RUNTIME | TEST


def test_binder_names_the_runtime_packages() -> None:
    # Binder serves the course, it does not run the tests: runtime packages only.
    assert _conda_packages(ROOT / "binder" / "environment.yml") == RUNTIME


def test_binder_python_is_pinned_and_pytorch_is_cpu() -> None:
    deps = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())["dependencies"]
    assert any(re.fullmatch(r"python=3\.\d+", str(d)) for d in deps)
    assert "pytorch=*=cpu*" in deps


def test_postbuild_is_strict_and_installs_eelib() -> None:
    lines = (ROOT / "binder" / "postBuild").read_text().splitlines()
    code = [line for line in lines if line.strip() and not line.startswith("#!") and not line.startswith("#")]
    assert code[0] == "set -euo pipefail"
    assert "pip install --no-deps -e ." in code


@pytest.mark.parametrize("requirement", sorted(RUNTIME | TEST))
def test_constraints_pin_every_dependency(requirement: str) -> None:
    pins = {_name(line) for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
            if "==" in line}
    assert requirement in pins, f"{requirement} is not pinned in requirements/constraints.txt: run ./course lock"


def test_torch_pin_is_the_cpu_build() -> None:
    assert "torch==2.13.0" in PYPROJECT["project"]["dependencies"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./course test" in ci
    assert "./course test" in (ROOT / "README.md").read_text()
