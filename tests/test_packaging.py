"""One source of truth for dependencies: pyproject, conda, Binder and the lock agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

pytestmark = pytest.mark.unit

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
REQUIREMENTS = {_name(d): Requirement(d) for d in
                PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]}
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _pins() -> dict[str, Version]:
    """Constraint pins by normalised name ("torch" -> Version("2.13.0+cpu"))."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name)] = Version(version.strip())
    return pins


def test_environment_yml_names_runtime_and_test_packages() -> None:
    # The conda environment is for development: runtime and test packages, nothing else.
    assert _conda_packages(ROOT / "environment.yml") == RUNTIME | TEST


def test_binder_names_the_runtime_packages() -> None:
    # Binder serves the course, it does not run the tests: runtime packages only.
    assert _conda_packages(ROOT / "binder" / "environment.yml") == RUNTIME


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_python_is_pinned_and_pytorch_is_cpu(path: str) -> None:
    env = yaml.safe_load((ROOT / path).read_text())
    deps = env["dependencies"]
    assert env["channels"] == ["conda-forge"]
    assert any(re.fullmatch(r"python=3\.\d+", str(d)) for d in deps)
    assert "pytorch=*=cpu*" in deps


def test_postbuild_is_strict_and_installs_eelib() -> None:
    lines = (ROOT / "binder" / "postBuild").read_text().splitlines()
    code = [line for line in lines if line.strip() and not line.startswith("#!") and not line.startswith("#")]
    assert code[0] == "set -euo pipefail"
    assert "pip install --no-deps -e ." in code


@pytest.mark.parametrize("requirement", sorted(RUNTIME | TEST))
def test_constraints_pin_every_dependency(requirement: str) -> None:
    pins = _pins()
    assert requirement in pins, f"{requirement} is not pinned in requirements/constraints.txt: run ./course lock"
    # A pin outside pyproject's range would make `pip install -c constraints.txt` fail.
    assert REQUIREMENTS[requirement].specifier.contains(pins[requirement], prereleases=True), (
        f"{requirement}=={pins[requirement]} does not satisfy pyproject's {REQUIREMENTS[requirement]}")


def test_constraints_do_not_pin_eelib_itself() -> None:
    assert "eelib" not in _pins()


def test_readme_tested_with_matches_the_constraints() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Tested with", 1)[1].split("\n## ", 1)[0]
    mentioned = {name.lower(): version for name, version
                 in re.findall(r"\b([A-Za-z][A-Za-z0-9-]+) (\d+\.\d+(?:\.\d+)?)", section)}
    pins = _pins()
    assert {"torch", "jupyterlab", "ipywidgets", "pytorch-metric-learning"} <= mentioned.keys()
    for name, version in mentioned.items():
        if name == "python":
            continue
        assert name in pins, f"README's 'Tested with' names {name}, which the constraints do not pin"
        assert Version(version) == Version(pins[name].base_version), (
            f"README says {name} {version}, constraints pin {pins[name]}")


def test_torch_pin_is_the_cpu_build() -> None:
    assert "torch==2.13.0" in PYPROJECT["project"]["dependencies"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    code = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert code[0] == "set -euo pipefail"
    assert code[-1] == "exec ./course test", "CI must run exactly the README's test command"
    assert "./course test" in (ROOT / "README.md").read_text()
