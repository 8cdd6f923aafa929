"""The coursework round trip's fixtures and its course folder, without nbgrader (fast tier).

- Every autograded exercise of notebooks/ has a typical mistake in
  tests/coursework/mistakes.py (a missing entry fails, naming the exercise's grade_id),
  and each mistake fails its self-check with the hint that names it, while the reference
  solution passes the self-check and the hidden tests.
- The synthetic students change what they should, and only that.
- ``tools/coursework.py init`` writes a course folder whose check cells carry hidden tests,
  which both release routes remove (tools/make_student_versions.py here; nbgrader's
  release in tests/test_coursework.py).
"""

from __future__ import annotations

import ast
import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from coursework.mistakes import MISTAKES, mistake_for
from coursework.students import (
    EDITED_CHECK,
    STUDENTS,
    check_cells,
    nbgrader_meta,
    reference_solution,
    run_solutions,
    solution_cells,
)
from eelib.course import checks
from eelib.course.grading import hidden_check

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


students_tool = _load("make_student_versions", ROOT / "tools" / "make_student_versions.py")
coursework_tool = _load("coursework_tool", ROOT / "tools" / "coursework.py")

SOURCES = {path.stem: nbformat.read(path, as_version=4) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))}
#: Notebooks with autograded exercises: the round trip's notebooks.
AUTOGRADED = {name: nb for name, nb in SOURCES.items() if solution_cells(nb, "code")}
EXERCISES = [(name, nbgrader_meta(cell)["grade_id"]) for name, nb in AUTOGRADED.items()
             for cell in solution_cells(nb, "code")]


def _checks_of(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(name of the check function, the call's source) for every visible check of a notebook."""
    return [(call.func.id, ast.unparse(call)) for cell in check_cells(nb) for call in coursework_tool.check_calls(cell.source)]


def _run_checks(nb: nbformat.NotebookNode, namespace: dict, hidden: bool) -> dict[str, str]:
    """Each visible check's call -> "" when it passes, else the AssertionError's message."""
    results = {}
    for name, call in _checks_of(nb):
        scope = {**namespace, name: getattr(checks, name), "hidden_check": hidden_check}
        try:
            with redirect_stdout(io.StringIO()):
                eval(call, scope)
                if hidden:
                    eval(call.replace(f"{name}(", f"hidden_check({name}, ", 1), scope)
            results[call] = ""
        except AssertionError as error:
            results[call] = str(error)
    return results


def test_the_round_trip_has_autograded_notebooks() -> None:
    assert len(AUTOGRADED) >= 5 and all(_checks_of(nb) for nb in AUTOGRADED.values())


def test_every_autograded_exercise_has_a_typical_mistake() -> None:
    missing = [grade_id for _, grade_id in EXERCISES if grade_id not in MISTAKES]
    assert not missing, (f"no typical mistake in tests/coursework/mistakes.py for {missing}: add an entry per "
                         "exercise (wrong code for its solution block, the fragment of the hint that names it)")
    stale = sorted(set(MISTAKES) - {grade_id for _, grade_id in EXERCISES})
    assert not stale, f"tests/coursework/mistakes.py has entries for exercises that no longer exist: {stale}"


def test_a_missing_mistake_is_reported_by_grade_id() -> None:
    with pytest.raises(KeyError, match="'99-ex1-solution'.*tests/coursework/mistakes.py"):
        mistake_for("99-ex1-solution")


@pytest.mark.parametrize("name", sorted(AUTOGRADED))
def test_the_reference_solutions_pass_the_checks_and_the_hidden_tests(name: str) -> None:
    results = _run_checks(AUTOGRADED[name], run_solutions(AUTOGRADED[name]), hidden=True)
    assert results and not any(results.values()), results


@pytest.mark.parametrize(("name", "grade_id"), EXERCISES, ids=[grade_id for _, grade_id in EXERCISES])
def test_each_mistake_fails_its_check_with_its_hint(name: str, grade_id: str) -> None:
    mistake = mistake_for(grade_id)
    results = _run_checks(AUTOGRADED[name], run_solutions(AUTOGRADED[name], {grade_id: mistake.code}), hidden=False)
    failures = [message for message in results.values() if message]
    assert failures, f"{grade_id}: the mistake passes every check of the notebook"
    assert any(mistake.hint in message and "case '" in message for message in failures), failures


@pytest.mark.parametrize("name", sorted(AUTOGRADED))
def test_the_synthetic_students_change_only_their_cells(name: str) -> None:
    source = AUTOGRADED[name]
    released = students_tool.student_notebook(source)
    for student, write in STUDENTS.items():
        submission = write(released, source)
        assert len(submission.cells) == len(released.cells), student
        for before, after, original in zip(released.cells, submission.cells, source.cells):
            meta = nbgrader_meta(before)
            if meta.get("solution") and student == "correct":
                assert after.source == reference_solution(original)
            elif meta.get("solution") and before.cell_type == "code" and student in ("mistakes", "raising"):
                assert "raise NotImplementedError" not in after.source and after.source != before.source
            elif meta.get("grade") and before.cell_type == "code" and student == "editor":
                assert after.source == EDITED_CHECK
            elif not (meta.get("solution") and student == "mistakes"):
                assert after.source == before.source, (student, meta.get("grade_id"))


def test_init_writes_a_course_folder_with_hidden_tests(tmp_path: Path) -> None:
    course = tmp_path / "course"
    assert coursework_tool.main(["init", str(course), "--notebooks", "02", "03",
                                 "--assignment", "pairs=02,03", "--cell-timeout", "20"]) == 0
    config = (course / "nbgrader_config.py").read_text()
    assert "cell_timeout_s=20" in config and "coursework_nbgrader" in config
    written = sorted(path.relative_to(course).as_posix() for path in (course / "source").rglob("*.ipynb"))
    assert written == ["source/pairs/02_contrastive_loss.ipynb", "source/pairs/03_triplet_loss_and_mining.ipynb"]
    for path in (course / "source" / "pairs").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell, original in zip(check_cells(nb), check_cells(SOURCES[path.stem])):
            hidden_calls = [call for call in cell.source.splitlines() if call.startswith("assert hidden_check(")]
            assert cell.source.startswith(original.source)
            assert len(hidden_calls) == len(coursework_tool.check_calls(original.source)) > 0
        # Both release routes remove the hidden tests: make_student_versions here, nbgrader in test_coursework.
        released = students_tool.student_notebook(nb)
        assert "hidden_check" not in nbformat.writes(released)
        edition = nbformat.read(students_tool.TARGET / path.name, as_version=4)  # the student edition, header included
        assert [c.source for c in released.cells] == [c.source for c in edition.cells]
    assert coursework_tool.main(["init", str(course), "--notebooks", "04"]) == 2  # a course exists: needs --force
    assert coursework_tool.main(["init", str(course), "--notebooks", "04", "--force"]) == 0
    assert (course / "source" / "04_npair_loss").is_dir() and (course / "source" / "pairs").is_dir()


def test_init_refuses_a_check_without_hidden_tests() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "check_something_new(my_function)",
        metadata={"nbgrader": {"grade": True, "grade_id": "10-ex1-check", "locked": True, "points": 1,
                               "solution": False, "schema_version": 3}})])
    with pytest.raises(coursework_tool.UsageError, match="'10-ex1-check'.*--no-hidden-tests"):
        coursework_tool.with_hidden_tests(nb)


def test_the_other_steps_refuse_a_folder_that_is_not_a_course(tmp_path: Path) -> None:
    with pytest.raises(coursework_tool.UsageError, match="not a course folder"):
        coursework_tool.course_folder(str(tmp_path))
