"""Student versions: generated from the solutions, current, solution-free, runnable."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student_versions", ROOT / "tools" / "make_student_versions.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
WITH_EXERCISES = [p for p in SOURCES if tool.has_exercises(nbformat.read(p, as_version=4))]
STUB = re.compile(r"raise NotImplementedError\(\)|YOUR ANSWER HERE")


@pytest.mark.unit
def test_student_versions_are_current() -> None:
    assert tool.main(["--check"]) == 0, "run: python tools/make_student_versions.py"


@pytest.mark.unit
def test_exercises_exist_in_notebooks_02_to_09() -> None:
    numbers = {p.name[:2] for p in WITH_EXERCISES}
    assert {"02", "03", "04", "05", "06", "07", "08"} <= numbers


def _solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Every line of every solution block, except short generic ones (``else:``, ``)``)."""
    lines = set()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.DOTALL):
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
    return lines


@pytest.mark.unit
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


@pytest.mark.unit
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_student_version_runs_up_to_its_first_exercise(path: Path) -> None:
    """Up to its first exercise the student edition runs the instructors' code cells, the same ones in the same order.

    The notebook tier runs every instructors' notebook to its end in a fresh kernel, so
    this prefix of the student edition runs there, once per test run (the notebooks read
    no file relative to their folder). Executing it again here would check nothing more.
    """
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(tool.TARGET / path.name, as_version=4)
    first = next(i for i, c in enumerate(student.cells) if STUB.search(c.source))
    assert first == next(i for i, c in enumerate(source.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    for index in range(first):
        theirs, ours = source.cells[index], student.cells[index]
        assert ours.cell_type == theirs.cell_type, f"cell {index} changed type"
        if ours.cell_type == "code":
            assert ours.source == theirs.source, f"code cell {index} differs from the instructors' edition"


@pytest.mark.unit
def test_transformation_keeps_indentation_and_surroundings() -> None:
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n# after"
    assert tool.student_source(source, "code") == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n# after")
    answer = "Intro.\n### BEGIN SOLUTION\nThe answer.\n### END SOLUTION"
    assert tool.student_source(answer, "markdown") == "Intro.\nYOUR ANSWER HERE"


@pytest.mark.unit
def test_a_solution_cell_without_markers_is_replaced_whole_and_unbalanced_markers_fail() -> None:
    assert tool.student_source("x = 42", "code") == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert tool.student_source("The answer is 42.", "markdown") == "YOUR ANSWER HERE"
    with pytest.raises(ValueError, match="unbalanced"):
        tool.student_source("### BEGIN SOLUTION\nx = 42", "code")


def _meta(**fields) -> dict:
    return {"nbgrader": {"schema_version": 3, "locked": False, "points": 0, "task": False, **fields}}


def _course(folder: Path) -> tuple[Path, Path]:
    """A small solution course: one notebook with exercises, one without."""
    source, target = folder / "notebooks", folder / "student" / "notebooks"
    source.mkdir(parents=True)
    exercise = nbformat.v4.new_code_cell(
        "import math\n\ndef area(r):\n    ### BEGIN SOLUTION\n    return math.pi * r**2\n    ### END SOLUTION\n\nprint('ok')",
        metadata=_meta(grade_id="ex1-solution", solution=True, grade=False))
    check = nbformat.v4.new_code_cell(
        "assert area(1) > 3\n### BEGIN HIDDEN TESTS\nassert abs(area(2) - 12.566) < 1e-3\n### END HIDDEN TESTS",
        metadata=_meta(grade_id="ex1-check", solution=False, grade=True, locked=True, points=1))
    answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause the area grows with r².\n### END SOLUTION",
                                           metadata=_meta(grade_id="ex2-answer", solution=True, grade=True, points=1))
    intro = nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1\n")], execution_count=3)
    with_exercises = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"), intro, exercise, check, answer])
    without = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Tour"), nbformat.v4.new_code_cell("y = 2")])
    (source / "01_exercises.ipynb").write_text(tool.render(with_exercises), encoding="utf-8")
    (source / "00_tour.ipynb").write_text(tool.render(without), encoding="utf-8")
    return source, target


@pytest.mark.unit
def test_the_script_on_a_small_course(tmp_path: Path, monkeypatch, capsys) -> None:
    source, target = _course(tmp_path)
    monkeypatch.setattr(tool, "SOURCE", source)
    monkeypatch.setattr(tool, "TARGET", target)
    assert tool.main(["--check"]) == 1  # nothing generated yet
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0

    assert (target / "00_tour.ipynb").read_bytes() == (source / "00_tour.ipynb").read_bytes()
    cells = nbformat.read(target / "01_exercises.ipynb", as_version=4).cells
    assert cells[1].outputs == [] and cells[1].execution_count is None
    assert cells[2].source == ("import math\n\ndef area(r):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
                               "\n\nprint('ok')")
    assert cells[3].source == "assert area(1) > 3"
    assert cells[4].source == "YOUR ANSWER HERE"
    assert [c.metadata for c in cells] == [c.metadata for c in nbformat.read(source / "01_exercises.ipynb", as_version=4).cells]

    edited = nbformat.read(source / "00_tour.ipynb", as_version=4)
    edited.cells[1].source = "y = 3"
    (source / "00_tour.ipynb").write_text(tool.render(edited), encoding="utf-8")
    (target / "99_orphan.ipynb").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert tool.main(["--check"]) == 1
    report = capsys.readouterr().out
    assert "out of date" in report and "00_tour" in report and "99_orphan" in report
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0
    assert not (target / "99_orphan.ipynb").exists()


@pytest.mark.unit
def test_the_script_refuses_unbalanced_markers(tmp_path: Path, monkeypatch) -> None:
    source, target = _course(tmp_path)
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "### BEGIN SOLUTION\nx = 1", metadata=_meta(grade_id="b", solution=True, grade=False))])
    (source / "02_broken.ipynb").write_text(tool.render(broken), encoding="utf-8")
    monkeypatch.setattr(tool, "SOURCE", source)
    monkeypatch.setattr(tool, "TARGET", target)
    assert tool.main([]) == 2 and not target.exists()


@pytest.mark.unit
def test_hidden_tests_are_removed_from_check_cells() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "check(fn)\n### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "locked": True,
                               "points": 1, "schema_version": 3, "task": False}})])
    assert tool.student_notebook(nb).cells[0].source == "check(fn)"


@pytest.mark.unit
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_nothing_reveals_a_solution_before_the_last_exercise(path: Path) -> None:
    student = nbformat.read(tool.TARGET / path.name, as_version=4)
    assert tool.integrity_problems(student) == []
    last = max((i for i, c in enumerate(student.cells) if STUB.search(c.source)), default=-1)
    before = "\n".join(c.source for c in student.cells[:last] if c.cell_type == "code")
    for revealing in ("getsource", "oracles", "reference_", "pytorch_metric_learning"):
        assert revealing not in before, f"{path.name}: {revealing!r} before the last exercise"


@pytest.mark.unit
def test_a_revealing_cell_before_an_exercise_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    source, target = _course(tmp_path)
    nb = nbformat.read(source / "01_exercises.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import inspect\nprint(inspect.getsource(area))"))
    nb.cells.append(nbformat.v4.new_code_cell("from eelib import oracles  # after the exercises: allowed"))
    (source / "01_exercises.ipynb").write_text(tool.render(nb), encoding="utf-8")
    monkeypatch.setattr(tool, "SOURCE", source)
    monkeypatch.setattr(tool, "TARGET", target)
    assert tool.main([]) == 2 and not target.exists()
    assert "shows 'getsource(' before the last exercise" in capsys.readouterr().err
    nb.cells.pop(1)
    (source / "01_exercises.ipynb").write_text(tool.render(nb), encoding="utf-8")
    assert tool.main([]) == 0
