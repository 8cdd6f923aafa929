"""nbgrader, tried as a new user would, releases our source notebooks without solutions.

nbgrader comes from the ``instructor`` extra (``./course test`` installs it with the
other extras); the test installs nothing. Without nbgrader it is skipped, saying so, and
fails instead when ``CI=true``; ``tools/make_student_versions.py``
(tests/test_student_versions.py) still covers the release. The released notebooks must
hold no solution, keep every check cell, and match the student edition that
``make_student_versions.py`` writes, cell for cell.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student_versions", ROOT / "tools" / "make_student_versions.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

SOURCES = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if tool.has_exercises(nbformat.read(p, as_version=4))]


@pytest.fixture(scope="session")
def nbgrader_env() -> dict[str, str]:
    """Environment variables under which ``python -m nbgrader`` runs (from the instructor extra)."""
    if importlib.util.find_spec("nbgrader") is None:
        message = ("nbgrader is not installed: it comes with the instructor extra "
                   "(pip install -e '.[instructor]'; ./course test installs it)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: this test must run in CI)", pytrace=False)
        pytest.skip(message)
    env = dict(os.environ)
    # nbgrader runs its `alembic` script, which lies next to this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture(scope="session")
def released(nbgrader_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course directory with every notebook that has exercises, after generate_assignment."""
    course = tmp_path_factory.mktemp("course")
    (course / "source" / "ps1").mkdir(parents=True)
    for path in SOURCES:
        shutil.copy(path, course / "source" / "ps1")
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "eelib"\n')
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force"],
                            cwd=course, env=nbgrader_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return course / "release" / "ps1"


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_there_are_notebooks_to_release() -> None:
    assert SOURCES, "no notebook in notebooks/ has an nbgrader solution cell"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_release_has_no_solution_and_keeps_the_checks(released: Path, path: Path) -> None:
    text = (released / path.name).read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    release = nbformat.reads(text, as_version=4)
    source = nbformat.read(path, as_version=4)
    solutions = sum(bool(_nbgrader(c).get("solution")) for c in source.cells)
    stubs = sum(("YOUR CODE HERE" in c.source) or ("YOUR ANSWER HERE" in c.source) for c in release.cells)
    assert stubs == solutions > 0
    checks = [c.source for c in source.cells if _nbgrader(c).get("grade") and c.cell_type == "code"]
    released_checks = [c.source for c in release.cells if _nbgrader(c).get("grade") and c.cell_type == "code"]
    assert released_checks == [tool.HIDDEN.sub("", c).rstrip("\n") for c in checks]
    assert all("check_" in c for c in released_checks)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_release_matches_the_student_edition(released: Path, path: Path) -> None:
    release = nbformat.read(released / path.name, as_version=4)
    ours = tool.student_notebook(nbformat.read(path, as_version=4))
    assert [c.source for c in release.cells] == [c.source for c in ours.cells]
