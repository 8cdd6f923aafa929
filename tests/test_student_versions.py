"""Student versions: generated from the solutions, current, solution-free, runnable."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student_versions", ROOT / "tools" / "make_student_versions.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
WITH_EXERCISES = [p for p in SOURCES if tool.has_exercises(nbformat.read(p, as_version=4))]
STUB = re.compile(r"raise NotImplementedError\(\)|YOUR ANSWER HERE")


def test_student_versions_are_current() -> None:
    assert tool.main(["--check"]) == 0, "run: python tools/make_student_versions.py"


def test_exercises_exist_in_notebooks_02_to_09() -> None:
    numbers = {p.name[:2] for p in WITH_EXERCISES}
    assert {"02", "03", "04", "05", "06", "07", "08"} <= numbers


def _solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    lines = set()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.DOTALL):
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
    return lines


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_student_version_holds_no_solution(path: Path) -> None:
    source = nbformat.read(path, as_version=4)
    student_text = (tool.TARGET / path.name).read_text()
    assert "BEGIN SOLUTION" not in student_text and "BEGIN HIDDEN TESTS" not in student_text
    student = nbformat.read(tool.TARGET / path.name, as_version=4)
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    leaked = _solution_lines(source) & student_lines
    assert not leaked, f"solution lines left in the student version: {sorted(leaked)[:3]}"
    assert sum(bool(STUB.search(c.source)) for c in student.cells) == sum(
        bool(c.metadata.get("nbgrader", {}).get("solution")) for c in source.cells)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_student_version_runs_up_to_its_first_exercise(path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EELIB_CI", "1")
    nb = nbformat.read(tool.TARGET / path.name, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if STUB.search(c.source))
    nb.cells = nb.cells[:first]
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tool.TARGET)}})
    client.execute()  # raises CellExecutionError on any error


def test_transformation_keeps_indentation_and_surroundings() -> None:
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n# after"
    assert tool.student_source(source, "code") == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n# after")
    answer = "Intro.\n### BEGIN SOLUTION\nThe answer.\n### END SOLUTION"
    assert tool.student_source(answer, "markdown") == "Intro.\nYOUR ANSWER HERE"


def test_hidden_tests_are_removed_from_check_cells() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "check(fn)\n### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "locked": True,
                               "points": 1, "schema_version": 3, "task": False}})])
    assert tool.student_notebook(nb).cells[0].source == "check(fn)"
