"""Dependencies, the lock, the Python floor, conda/Binder environments and licences agree.

- pyproject.toml: the core (``dependencies``) holds ranges of torch, numpy, scipy and
  scikit-learn only; the extras hold what each layer and the notebooks import.
- requirements/constraints.txt (the lock): exact versions, no local labels (``+cpu``),
  every requirement pinned inside its range.
- The Python floor is ``requires-python``; the classifiers, README, the course script and
  the conda files follow it.
- Binder and conda install through the lock; a student's conda environment installs the
  course only, the development one what ./course test installs; the kernel-shutdown
  override is shipped and applied on every route.
- A layer checks for its extra's packages before importing them, and a missing one raises
  an ImportError naming the extra; the core imports without any extra.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
LOCK = ROOT / "requirements" / "constraints.txt"
COURSE_SCRIPT = (ROOT / "course").read_text()
OVERRIDES = ROOT / "jupyter" / "lab" / "settings" / "overrides.json"
PML_REFERENCE = ROOT / "eelib" / "pml_reference.py"
CORE = {"torch", "numpy", "scipy", "scikit-learn"}
#: Import name -> distribution, where they differ.
DISTRIBUTION = {"sklearn": "scikit-learn", "PIL": "pillow", "umap": "umap-learn",
                "pytorch_metric_learning": "pytorch-metric-learning", "yaml": "pyyaml"}
#: Present in every Jupyter kernel (ipykernel's own dependencies).
KERNEL = {"IPython", "matplotlib_inline"}
#: Imported lazily and documented as optional: torchvision (eelib.experiments.models), faiss
#: (eelib.metrics: k-means for large problems when it is installed, a torch fallback otherwise).
OPTIONAL = {"torchvision", "faiss"}


def requirements(group: str | None) -> list[Requirement]:
    """The requirements of the core (``None``) or of one extra, as written."""
    return [Requirement(r) for r in (PROJECT["dependencies"] if group is None else EXTRAS[group])]


def closure(*groups: str) -> set[str]:
    """Distributions installed by the core plus ``groups``, following ``eelib[...]`` references."""
    names, todo, seen = {canonicalize_name(r.name) for r in requirements(None)}, list(groups), set()
    while todo:
        group = todo.pop()
        if group in seen:
            continue
        seen.add(group)
        for req in requirements(group):
            if canonicalize_name(req.name) == "eelib":
                todo.extend(req.extras)
            else:
                names.add(canonicalize_name(req.name))
    return names


def lock_pins() -> dict[str, list[tuple[Version, Marker | None]]]:
    """The lock's pins by normalised name: (version, environment marker) for each line."""
    pins: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"the lock pins exactly: {line}"
        pins.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(specifier.version), requirement.marker))
    return pins


def python_floor() -> Version:
    (specifier,) = SpecifierSet(PROJECT["requires-python"])
    assert specifier.operator == ">=", "requires-python is a floor: '>=3.X'"
    return Version(specifier.version)


def supported_minors() -> list[str]:
    """Every supported Python minor version, from the classifiers ("3.11", "3.12", ...)."""
    return sorted((m for c in PROJECT["classifiers"]
                   for m in re.findall(r"^Programming Language :: Python :: (3\.\d+)$", c)),
                  key=lambda v: Version(v))


def imported_modules(source: str) -> set[str]:
    """Top-level module names imported anywhere in ``source`` (a module or a notebook cell)."""
    tree = ast.parse(TransformerManager().transform_cell(source))  # magics become calls
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(modules: set[str]) -> set[str]:
    """Distributions behind ``modules``, without the standard library, eelib and the kernel's own."""
    return {canonicalize_name(DISTRIBUTION.get(m, m)) for m in modules
            if m not in sys.stdlib_module_names and m != "eelib" and m not in KERNEL | OPTIONAL}


# --- the core and the extras ----------------------------------------------------------------

def test_core_is_ranges_of_torch_numpy_scipy_scikit_learn() -> None:
    core = requirements(None)
    assert {canonicalize_name(r.name) for r in core} == CORE
    for requirement in core:
        assert requirement.specifier and all(s.operator == ">=" for s in requirement.specifier), (
            f"the core requires ranges from a floor upwards, not {requirement}")


def test_extras_are_the_agreed_ones() -> None:
    assert set(EXTRAS) == {"experiments", "notebooks", "course", "test", "instructor", "site"}
    assert {"jupyterlab", "ipykernel"} <= closure("course")
    assert not {"jupyterlab", "ipykernel", "notebook"} & closure("notebooks"), (
        "the notebooks extra is for Colab and hubs, which bring their own Jupyter")
    assert "nbgrader" in closure("instructor") and "uv" in closure("test")


def _ipywidgets(extra: str) -> SpecifierSet:
    (requirement,) = [r for r in requirements(extra) if canonicalize_name(r.name) == "ipywidgets"]
    return requirement.specifier


def test_notebooks_extra_admits_colabs_widgets_and_the_course_extra_jupyterlabs() -> None:
    # Colab ships ipywidgets 7.7.1 and renders 8 badly; JupyterLab 4 needs ipywidgets 8.
    assert _ipywidgets("notebooks").contains("7.7.1") and _ipywidgets("notebooks").contains("8.1.9")
    assert not _ipywidgets("course").contains("7.7.1") and _ipywidgets("course").contains("8.1.9")


@pytest.mark.parametrize("layer, extra", [("eelib", None), ("eelib/course", "notebooks"),
                                          ("eelib/experiments", "experiments")])
def test_each_layer_imports_only_what_its_extra_installs(layer: str, extra: str | None) -> None:
    folder = ROOT / layer
    files = folder.glob("*.py") if layer == "eelib" else folder.rglob("*.py")
    files = list(files) + (list((ROOT / "eelib" / "losses").glob("*.py")) if layer == "eelib" else [])
    files = [f for f in files if f != PML_REFERENCE]
    needed = set().union(*(third_party(imported_modules(f.read_text())) for f in files))
    installed = closure(extra) if extra else CORE
    assert needed <= installed, f"{layer} imports {sorted(needed - installed)}, which its extra does not install"


def test_the_pml_reference_needs_only_the_test_extra() -> None:
    """eelib.pml_reference, the tests' and benchmarks' PML oracle, is the one core module
    with an optional dependency (documented in its docstring): the test extra installs it."""
    needed = third_party(imported_modules(PML_REFERENCE.read_text()))
    assert needed <= closure("test"), sorted(needed - closure("test"))


def test_the_notebooks_extra_installs_everything_the_notebooks_import() -> None:
    needed = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                needed |= third_party(imported_modules(cell.source))
    assert needed, "no imports found: the parser is broken"
    assert needed <= closure("notebooks"), f"notebooks import {sorted(needed - closure('notebooks'))}"


# --- the lock ------------------------------------------------------------------------------

def test_lock_has_no_local_version_labels() -> None:
    local = [f"{name}=={version}" for name, pins in lock_pins().items() for version, _ in pins if version.local]
    assert not local, f"local versions exist on one index only: {local}"


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_lock_pins_every_requirement_inside_its_range(extra: str) -> None:
    pins = lock_pins()
    for requirement in requirements(None) + requirements(extra):
        name = canonicalize_name(requirement.name)
        if name == "eelib":
            continue
        assert name in pins, f"{name} is not pinned in requirements/constraints.txt: run ./course lock"
        for version, _ in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"the lock's {name}=={version} is outside pyproject's {requirement}")


def test_lock_pins_each_package_once_per_environment() -> None:
    # On the tested interpreter, exactly one pin of each package applies.
    for name, pins in lock_pins().items():
        applying = [v for v, marker in pins if marker is None or marker.evaluate()]
        assert len(applying) <= 1, f"{name}: several pins apply here: {applying}"
    assert "eelib" not in lock_pins()


def test_lock_is_written_by_the_lock_command() -> None:
    assert "./course lock" in LOCK.read_text().splitlines()[1], "edit the lock only with ./course lock"


def test_readme_tested_with_matches_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Tested with", 1)[1].split("Every version is in the lock", 1)[0]
    mentioned = {canonicalize_name(name): version for name, version
                 in re.findall(r"\b([A-Za-z][A-Za-z0-9-]+) (\d+\.\d+(?:\.\d+)?)\b", section)}
    pins = {name: [v for v, m in entries if m is None or m.evaluate()] for name, entries in lock_pins().items()}
    assert {"torch", "jupyterlab", "ipywidgets", "pytorch-metric-learning", "nbgrader"} <= mentioned.keys()
    for name, version in mentioned.items():
        if name == "python":
            assert Version(version) >= python_floor()
            continue
        assert name in pins, f"README's 'Tested with' names {name}, which the lock does not pin"
        assert [Version(version)] == pins[name], f"README says {name} {version}, the lock pins {pins[name]}"


# --- the Python floor ----------------------------------------------------------------------

def test_python_floor_is_the_lowest_supported_minor() -> None:
    minors = supported_minors()
    assert minors[0] == f"{python_floor().major}.{python_floor().minor}"
    assert [Version(m).minor for m in minors] == list(range(Version(minors[0]).minor, Version(minors[-1]).minor + 1))
    assert sys.version_info >= python_floor().release


def test_readme_states_the_floor_of_pyproject() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    stated = set(re.findall(r"Python ≥ (3\.\d+)", readme))
    assert stated == {str(python_floor())}, f"README states Python ≥ {stated}; pyproject says {python_floor()}"
    assert f"Python ≥ {python_floor()}" in quick_start


def test_course_script_reads_the_floor_from_pyproject() -> None:
    assert not re.search(r"3\.1\d", COURSE_SCRIPT), "the course script must not hard-code a Python version"
    result = subprocess.run(["bash", "-c", f'source <(sed -n "/^python_floor()/,/^}}/p" course); ROOT={ROOT}; python_floor'],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(python_floor())


# --- conda, Binder, the JupyterLab override -----------------------------------------------

def _conda(path: str) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip lines) of a conda environment file."""
    deps = yaml.safe_load((ROOT / path).read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [line for d in deps if isinstance(d, dict) for line in d["pip"]]
    return conda, pip


@pytest.mark.parametrize("path, lock", [("environment.yml", "requirements/constraints.txt"),
                                        ("environment-dev.yml", "requirements/constraints.txt"),
                                        ("binder/environment.yml", "../requirements/constraints.txt")])
def test_conda_files_take_python_from_conda_and_install_through_the_lock(path: str, lock: str) -> None:
    conda, pip = _conda(path)
    assert yaml.safe_load((ROOT / path).read_text())["channels"] == ["conda-forge"]
    (python,) = [d for d in conda if d.startswith("python")]
    assert python.removeprefix("python=") in supported_minors()
    assert sorted(conda) == sorted([python, "pip"]), "every package comes from pip, at the lock's versions"
    assert f"-c {lock}" in pip and (ROOT / Path(path).parent / lock).resolve() == LOCK
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip


def _script_extras(variable: str) -> str:
    return re.search(rf'^{variable}="([a-z,]+)"', COURSE_SCRIPT, re.MULTILINE)[1]


def test_students_conda_environment_installs_the_course_only() -> None:
    _, pip = _conda("environment.yml")
    eelib = [line for line in pip if not line.startswith("-")]
    assert eelib == [f".[{_script_extras('OPEN_EXTRAS')}]"], "a student gets what ./course open installs"
    assert not {"pytest", "playwright", "uv", "nbgrader"} & closure(*_script_extras("OPEN_EXTRAS").split(","))
    # Its start command applies the kernel-shutdown setting, as ./course open does.
    start = [line for line in (ROOT / "environment.yml").read_text().splitlines() if "jupyter lab" in line]
    assert start and all("--LabApp.app_settings_dir=jupyter/lab/settings" in line for line in start)
    assert (ROOT / "jupyter" / "lab" / "settings" / "overrides.json") == OVERRIDES
    assert yaml.safe_load((ROOT / "environment.yml").read_text())["name"] == "eelib-course"


def test_development_environment_installs_what_the_course_test_command_installs() -> None:
    _, pip = _conda("environment-dev.yml")
    assert f"-e .[{_script_extras('TEST_EXTRAS')}]" in pip
    assert yaml.safe_load((ROOT / "environment-dev.yml").read_text())["name"] == "eelib-course-dev"


def test_readme_conda_route_names_both_environments_and_the_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    conda = next(line for line in readme.split("\n- ") if line.startswith("**Conda:**"))
    assert "conda env create -f environment.yml" in conda and "environment-dev.yml" in conda
    assert "jupyter lab --LabApp.app_settings_dir=jupyter/lab/settings" in conda


def test_binder_pins_the_core_and_course_packages_at_the_lock_versions() -> None:
    _, pip = _conda("binder/environment.yml")
    pinned = [Requirement(line) for line in pip if not line.startswith("-")]
    assert {canonicalize_name(r.name) for r in pinned} == {
        canonicalize_name(r.name) for group in (None, "course", "notebooks", "experiments")
        for r in requirements(group) if canonicalize_name(r.name) != "eelib"}
    pins = lock_pins()
    for requirement in pinned:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"Binder pins exactly: {requirement}"
        (locked,) = [v for v, m in pins[canonicalize_name(requirement.name)]
                     if m is None or m.evaluate({"python_version": "3.11"})]
        assert Version(specifier.version) == locked, f"binder pins {requirement}, the lock {locked}"


def test_postbuild_installs_eelib_and_the_override(tmp_path: Path) -> None:
    # Run postBuild with stand-ins for pip and jupyter: it must install eelib without its
    # dependencies and put the shipped override where JupyterLab reads it.
    bin_dir, app_dir = tmp_path / "bin", tmp_path / "app"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/pip.log\n')
    (bin_dir / "jupyter").write_text(f'#!/bin/sh\n[ "$1 $2" = "lab path" ] && echo "Application directory: {app_dir}"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT, env=env, check=True)
    assert (tmp_path / "pip.log").read_text().split("\n")[0] == "install --no-deps -e ."
    assert (app_dir / "settings" / "overrides.json").read_bytes() == OVERRIDES.read_bytes()


def test_override_shuts_kernels_down_with_their_tab() -> None:
    overrides = json.loads(OVERRIDES.read_text())
    assert overrides == {"@jupyterlab/notebook-extension:tracker": {"kernelShutdown": True}}
    import jupyterlab  # the setting must exist in the installed JupyterLab's schema

    schema = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas" / "@jupyterlab" / "notebook-extension" / "tracker.json"
    if not schema.is_file():
        schema = Path(jupyterlab.__file__).parent / "schemas" / "@jupyterlab" / "notebook-extension" / "tracker.json"
    assert json.loads(schema.read_text())["properties"]["kernelShutdown"]["type"] == "boolean"
    assert '--LabApp.app_settings_dir="$LAB_SETTINGS"' in COURSE_SCRIPT
    assert 'LAB_SETTINGS="$ROOT/jupyter/lab/settings"' in COURSE_SCRIPT


# --- licences, citation, CI ----------------------------------------------------------------

def test_licences_exist_and_the_license_field_fits_the_setuptools_floor() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "CC BY 4.0" in (ROOT / "LICENSE-text").read_text()
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    (setuptools,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    # An SPDX string in `license` and `license-files` (PEP 639) need setuptools 77.
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")
    readme = (ROOT / "README.md").read_text()
    assert "[LICENSE](LICENSE)" in readme and "[LICENSE-text](LICENSE-text)" in readme


def test_citation_names_the_course_and_the_paper() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["version"] == PROJECT["version"] and citation["license"] == PROJECT["license"]
    (paper,) = citation["references"]
    assert paper["title"].startswith("Embedding Expansion")
    assert [a["family-names"] for a in paper["authors"]] == ["Ko", "Gu"]
    assert paper["year"] == 2020 and "2003.02546" in paper["url"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    code = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert code[0] == "set -euo pipefail"
    assert code[-1] == "exec ./course test", "CI must run exactly the README's test command"
    assert "./course test" in (ROOT / "README.md").read_text()


# --- a missing extra names itself ---------------------------------------------------------

def _required_by(path: Path) -> set[str]:
    """Distributions that ``path`` checks for with ``eelib._extras.require`` before importing."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require":
            names |= {canonicalize_name(DISTRIBUTION.get(arg.value, arg.value)) for arg in node.args[1:]}
    return names


@pytest.mark.parametrize("layer", ["course", "experiments"])
def test_every_package_a_layer_imports_from_an_extra_is_checked_first(layer: str) -> None:
    # A module is covered by its own check and by the package __init__ files that run first
    # (the experiments import the course's figures, so eelib.course's check runs for them too).
    checked_by_packages = _required_by(ROOT / "eelib" / "course" / "__init__.py")
    checked_by_packages |= _required_by(ROOT / "eelib" / layer / "__init__.py")
    for path in sorted((ROOT / "eelib" / layer).rglob("*.py")):
        needed = third_party(imported_modules(path.read_text())) - CORE
        unchecked = needed - checked_by_packages - _required_by(path)
        assert not unchecked, f"{path.relative_to(ROOT)} imports {sorted(unchecked)} without eelib._extras.require"


@pytest.mark.parametrize("module, missing, extra", [
    ("eelib.course.playground", "ipywidgets", "notebooks"),
    ("eelib.course.explorer", "ipywidgets", "notebooks"),
    ("eelib.course.heatmap_widget", "ipywidgets", "notebooks"),
    ("eelib.course.display", "IPython", "notebooks"),
    ("eelib.course.figures", "matplotlib", "notebooks"),
    ("eelib.experiments.train", "tqdm", "experiments"),
    ("eelib.experiments.runner", "umap", "experiments"),
    ("eelib.experiments.glyphs", "PIL", "experiments"),
])
def test_a_missing_extra_is_named_in_the_import_error(module: str, missing: str, extra: str) -> None:
    # A fresh interpreter in which the package cannot be imported (None in sys.modules).
    code = (f"import sys\nsys.modules[{missing!r}] = None\n"
            f"try:\n    import {module}\nexcept ImportError as error:\n    print(error.name, '|', error)\n"
            f"else:\n    print('imported')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    name, _, message = result.stdout.strip().partition(" | ")
    assert name == missing, result.stdout + result.stderr
    assert message.endswith(f'pip install "eelib[{extra}]"') and f" needs {missing}" in message, message


def test_the_core_imports_without_any_extra() -> None:
    absent = ["ipywidgets", "IPython", "matplotlib", "seaborn", "tqdm", "PIL", "umap"]
    code = (f"import sys\nfor name in {absent!r}:\n    sys.modules[name] = None\n"
            "import eelib, eelib.losses, eelib.metrics, eelib.data, eelib.diagnostics, eelib.expansion\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
