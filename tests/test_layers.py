"""The package's layers, read off its imports.

``eelib`` has three layers, each importing only from the ones below it:

1. **core** (``eelib/*.py``, ``eelib/losses/``): losses, EE, mining, distances, metrics,
   data, analyses, oracles; needs torch, numpy, scipy and scikit-learn only;
2. **course** (``eelib/course/``): style, figures, widgets, exercise checks; adds
   matplotlib, seaborn, IPython and ipywidgets;
3. **experiments** (``eelib/experiments/``): training loop, models, image data sets, the
   generator baseline, the runner; may draw with the course's figures (never its widgets).

Every ``import`` statement is read with :mod:`ast` (also those inside functions), so a
lazy import that runs up a layer is caught too. Which third-party packages each layer may
import follows from the extras in pyproject.toml (tests/test_packaging.py checks that).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "eelib"
LAYERS = {"core": 0, "course": 1, "experiments": 2}
#: The course's widget modules, which the experiments layer must not import.
WIDGETS = ("eelib.course.display", "eelib.course.playground", "eelib.course.explorer",
           "eelib.course.heatmap_widget", "eelib.course.checks")

#: What ``import eelib.losses`` and the rest of the core must never load. (tqdm and pandas
#: are left out: torch and scikit-learn load them by themselves when they are installed.)
NOT_IN_CORE = ("IPython", "ipywidgets", "ipykernel", "jupyter_client", "matplotlib", "seaborn", "umap", "numba", "PIL")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("course", "experiments") else "core"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from eelib import course`` imports a subpackage by its attribute name
            if target == "eelib":
                found += [(node.lineno, f"eelib.{alias.name}") for alias in node.names]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layers_exist() -> None:
    assert {layer_of(module_name(p)) for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_down_the_layers_only(path: Path) -> None:
    source = module_name(path)
    own = layer_of(source)
    problems = []
    for line, target in imports_of(path):
        if target.split(".")[0] != "eelib":
            continue
        if target in ("eelib", "eelib.course", "eelib.experiments") and target != source:
            continue  # package namespaces themselves import nothing from the layers above
        if LAYERS[layer_of(target)] > LAYERS[own]:
            problems.append(f"line {line}: {target} is in the {layer_of(target)} layer, above {own}")
        if own == "experiments" and target in WIDGETS:
            problems.append(f"line {line}: the experiments layer must not import a widget module ({target})")
    assert not problems, f"{source}:\n" + "\n".join(problems)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_core_loads_no_jupyter_widget_plotting_or_umap_module() -> None:
    loaded = _loaded_after("import eelib, eelib.losses, eelib.pairs, eelib.metrics, eelib.data, eelib.diagnostics, "
                           "eelib.oracles, eelib.expansion, eelib.distances")
    assert not loaded & set(NOT_IN_CORE), sorted(loaded & set(NOT_IN_CORE))


def test_the_experiments_runner_loads_no_widget() -> None:
    loaded = _loaded_after("import eelib.experiments.runner")
    assert not loaded & {"IPython", "ipywidgets", "ipykernel"}, sorted(loaded & {"IPython", "ipywidgets", "ipykernel"})
