"""Coursework end to end with nbgrader, run as INSTRUCTORS.md tells an instructor to (slow tier).

**Round trip.** ``tools/coursework.py`` creates a course from every notebook with
autograded exercises, releases it, collects the notebooks of four synthetic students
(tests/coursework/students.py: correct, a typical mistake per exercise, code that raises,
edited check cells), autogrades them, the test grades the manual answers as a grader
would in the Formgrader (full marks to the correct student's, zero to the wrong ones),
then generates feedback and exports the grades. It checks the score of every exercise,
the restored check cells, the hidden tests, the feedback (names the case and the hint;
holds no model answer and no hidden test), the manual answers in the Formgrader with
their model answers, and both CSV files.

**Protections.** On notebook 08 (two autograded exercises), students whose first exercise
loops in C (deaf to the interrupt), loops in Python, allocates beyond the memory limit,
kills its kernel, or calls eelib, each with a correct second exercise, then an honest
student whose code raises a warning: every hostile exercise scores zero, every second
exercise full marks, and grading goes on to the end.

nbgrader is needed (``pip install -e ".[instructor]"``); without it these tests are
skipped, and they fail instead when ``CI=true``. Nothing is installed at test time.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from browser_support import free_port
from coursework.mistakes import WRONG_ANSWER, mistake_for
from coursework.students import (
    EDITED_CHECK,
    STUDENTS,
    check_cells,
    fill,
    nbgrader_meta,
    reference_solution,
    solution_cells,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "coursework.py"
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
SOURCES = {path.stem: nbformat.read(path, as_version=4) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))}
AUTOGRADED = {name: nb for name, nb in SOURCES.items() if solution_cells(nb, "code")}
MODEL_ANSWER_TITLE = "Model answer, for the grader only"

# Loading the tool needs no nbgrader (it imports nbgrader only where a step runs).
_spec = importlib.util.spec_from_file_location("coursework_tool", TOOL)
coursework_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coursework_tool)


def _require_nbgrader() -> None:
    if importlib.util.find_spec("nbgrader") is None:
        message = 'nbgrader is not installed (pip install -e ".[instructor]"); the coursework tests need it'
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def coursework(*arguments: str, timeout: int = 1800) -> str:
    """Run ``python tools/coursework.py ARGUMENTS`` as an instructor would; its output (must succeed)."""
    result = subprocess.run([sys.executable, str(TOOL), *arguments], env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"coursework {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _children_cpu_s() -> float:
    """CPU time of this process's finished children (the tool, nbgrader and the kernels they waited for)."""
    if sys.platform == "win32":
        return float("nan")
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _text(path: Path) -> str:
    """An HTML file's text, tags removed and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def _scores(rows: list[dict]) -> dict[tuple[str, str], float]:
    return {(row["student_id"], row["grade_id"]): row["score"] for row in rows}


def _grade(course: Path, scores: dict[tuple[str, str, str, str], float]) -> None:
    """Enter manual scores as the Formgrader does: (student, assignment, notebook, grade_id) -> score."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for (student, assignment, notebook, grade_id), score in scores.items():
            grade = gradebook.find_grade(grade_id, notebook, assignment, student)
            grade.manual_score = score
            grade.needs_manual_grade = False
        gradebook.db.commit()


def _table(rows: list[dict], students: list[str]) -> str:
    """Markdown table: one row per graded cell, one column per student (score / max)."""
    cells = sorted({(row["notebook"], row["grade_id"], row["max_score"]) for row in rows})
    scores = _scores(rows)
    lines = ["| exercise | " + " | ".join(students) + " |", "|---|" + "---:|" * len(students)]
    lines += [f"| {grade_id} | " + " | ".join(f"{scores[(s, grade_id)]:g}/{maximum:g}" for s in students) + " |"
              for _, grade_id, maximum in cells]
    totals = {s: sum(row["score"] for row in rows if row["student_id"] == s) for s in students}
    maximum = sum(m for _, _, m in cells)
    return "\n".join(lines + ["| **total** | " + " | ".join(f"{totals[s]:g}/{maximum:g}" for s in students) + " |"])


# --- the round trip ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The whole path, step by step; what each test needs of it."""
    _require_nbgrader()
    course = tmp_path_factory.mktemp("coursework") / "course"
    submissions = course.parent / "submissions"
    seconds = {}

    def step(name: str, *arguments: str) -> str:
        started, cpu = time.perf_counter(), _children_cpu_s()
        output = coursework(*arguments)
        seconds[name] = (time.perf_counter() - started, _children_cpu_s() - cpu)
        return output

    step("init", "init", str(course), "--notebooks", *AUTOGRADED)
    step("release", "release", str(course))
    for name, source in AUTOGRADED.items():
        released = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        for student, write in STUDENTS.items():
            (submissions / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(write(released, source), submissions / student / f"{name}.ipynb")
    step("collect", "collect", str(course), str(submissions))
    step("autograde", "autograde", str(course))
    autograded = coursework_tool.grade_rows(course)
    manual = {(row["student_id"], row["assignment"], row["notebook"], row["grade_id"]):
              row["max_score"] if row["student_id"] == "correct" else 0.0
              for row in autograded if row["needs_manual_grade"]}
    _grade(course, manual)
    step("feedback", "feedback", str(course))
    step("grades", "grades", str(course))
    final = coursework_tool.grade_rows(course)
    print(f"\ncoursework round trip, {len(AUTOGRADED)} notebooks × {len(STUDENTS)} students (wall / CPU time): "
          + ", ".join(f"{name} {wall:.0f} / {cpu:.0f} s" for name, (wall, cpu) in seconds.items())
          + f"; total {sum(wall for wall, _ in seconds.values()):.0f} / {sum(cpu for _, cpu in seconds.values()):.0f} s")
    print(_table(final, list(STUDENTS)))
    return {"course": course, "autograded": autograded, "final": final, "seconds": seconds}


def _expected_score(student: str, cell: nbformat.NotebookNode) -> float:
    """Full marks for the correct student (the grader gives them for its answers), zero for the others."""
    return float(nbgrader_meta(cell)["points"]) if student == "correct" else 0.0


def test_every_exercise_is_scored_as_the_student_deserves(round_trip: dict) -> None:
    expected = {(student, nbgrader_meta(cell)["grade_id"]): _expected_score(student, cell)
                for student in STUDENTS for nb in AUTOGRADED.values()
                for cell in nb.cells if nbgrader_meta(cell).get("grade")}
    scores = _scores(round_trip["final"])
    wrong = {key: (score, scores.get(key)) for key, score in expected.items() if scores.get(key) != score}
    assert not wrong, f"(student, grade_id): (expected, got): {wrong}"


def test_the_release_holds_no_solution_no_hidden_test_and_is_the_student_edition(round_trip: dict) -> None:
    for name in AUTOGRADED:
        text = (round_trip["course"] / "release" / name / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden_check" not in text
        # The student edition holds no solution (tests/test_student_versions.py); the release is that edition.
        edition = nbformat.read(ROOT / "student" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert [c.source for c in nbformat.reads(text, as_version=4).cells] == [c.source for c in edition.cells]


def test_edited_check_cells_are_restored_and_hidden_tests_run(round_trip: dict) -> None:
    for name in AUTOGRADED:
        source = nbformat.read(round_trip["course"] / "source" / name / f"{name}.ipynb", as_version=4)
        for student in STUDENTS:
            graded = nbformat.read(round_trip["course"] / "autograded" / student / name / f"{name}.ipynb", as_version=4)
            assert [c.source for c in check_cells(graded)] == [c.source for c in check_cells(source)], (student, name)
            assert EDITED_CHECK not in nbformat.writes(graded)
            if student == "correct":
                for cell in check_cells(graded):
                    printed = "".join(o.get("text", "") for o in cell.outputs)
                    assert "✓ hidden tests of" in printed, (name, nbgrader_meta(cell)["grade_id"], printed)


def test_feedback_names_the_failing_case_and_the_hint(round_trip: dict) -> None:
    feedback = round_trip["course"] / "feedback"
    for name, source in AUTOGRADED.items():
        texts = {student: _text(feedback / student / name / f"{name}.html") for student in STUDENTS}
        for cell in solution_cells(source, "code"):
            hint = mistake_for(nbgrader_meta(cell)["grade_id"]).hint
            assert hint in texts["mistakes"], (name, hint)
        checks = len(check_cells(source))
        assert texts["mistakes"].count("Hint:") >= checks and texts["mistakes"].count("case '") >= checks
        assert texts["raising"].count("raised IndexError") >= checks
        assert texts["editor"].count("raised NotImplementedError") >= checks
        assert texts["correct"].count("✓") >= 2 * checks
        for student, text in texts.items():
            assert MODEL_ANSWER_TITLE not in text and "hidden_check" not in text and "HIDDEN TESTS" not in text, student


def test_manual_answers_reach_the_grader_with_model_answers(round_trip: dict) -> None:
    course = round_trip["course"]
    waiting = {(row["student_id"], row["grade_id"]) for row in round_trip["autograded"] if row["needs_manual_grade"]}
    for name, source in AUTOGRADED.items():
        answers = {nbgrader_meta(cell)["grade_id"]: reference_solution(cell)
                   for cell in solution_cells(source, "markdown")}
        for grade_id, answer in answers.items():
            assert {("correct", grade_id), ("mistakes", grade_id)} <= waiting  # answered: to grade by hand
            assert ("raising", grade_id) not in waiting  # unanswered: nbgrader gives 0, "No response."
        graded = nbformat.read(course / "autograded" / "mistakes" / name / f"{name}.ipynb", as_version=4)
        for cell, following in zip(graded.cells, graded.cells[1:]):
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in answers:
                assert cell.source == WRONG_ANSWER and MODEL_ANSWER_TITLE in following.source
                assert answers[grade_id] in following.source
        feedback = (course / "feedback" / "mistakes" / name / f"{name}.html").read_text(encoding="utf-8")
        assert all(answer.splitlines()[0] not in html.unescape(feedback) for answer in answers.values())


def test_the_formgrader_shows_the_model_answer_under_the_students_answer(round_trip: dict) -> None:
    from nbgrader.api import Gradebook

    course = round_trip["course"]
    name = next(name for name, nb in AUTOGRADED.items() if solution_cells(nb, "markdown"))
    answer = reference_solution(solution_cells(AUTOGRADED[name], "markdown")[0])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(name, name, "mistakes").id
    port, token = free_port(), "coursework-test"
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, cwd=course, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = None
        deadline = time.monotonic() + 120
        while page is None and time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{port}/formgrader/submissions/{submission}/?token={token}"
                page = urllib.request.urlopen(url, timeout=60).read().decode("utf-8")
            except OSError:
                assert server.poll() is None, "the Jupyter server stopped"
                time.sleep(1)
        assert page is not None, "the Formgrader did not answer within 120 s"
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert WRONG_ANSWER in text and MODEL_ANSWER_TITLE in text
    assert answer.splitlines()[0] in text and text.index(WRONG_ANSWER) < text.index(MODEL_ANSWER_TITLE)


def test_the_grades_csv_holds_the_scores(round_trip: dict) -> None:
    course = round_trip["course"]
    totals: dict[tuple[str, str], list[float]] = {}
    for row in round_trip["final"]:
        total = totals.setdefault((row["student_id"], row["assignment"]), [0.0, 0.0])
        total[0] += row["score"]
        total[1] += row["max_score"]
    with (course / "grades.csv").open(encoding="utf-8") as handle:
        exported = {(row["student_id"], row["assignment"]): [float(row["score"]), float(row["max_score"])]
                    for row in csv.DictReader(handle)}
    assert exported == totals
    assert {key: score for key, (score, _) in exported.items() if key[0] != "correct"} == {
        key: 0.0 for key in exported if key[0] != "correct"}
    assert all(score == maximum > 0 for (student, _), (score, maximum) in exported.items() if student == "correct")
    with (course / "grades_by_exercise.csv").open(encoding="utf-8") as handle:
        by_exercise = {(row["student_id"], row["grade_id"]): float(row["score"]) for row in csv.DictReader(handle)}
    assert by_exercise == _scores(round_trip["final"])


# --- a grader that cannot be held hostage ----------------------------------------------------------

PROTECTED = "08_embedding_expansion"
CELL_TIMEOUT_S = 30
MEMORY_LIMIT_MB = 2048
#: The first exercise of each hostile student. The allocation is bounded (3 GB, beyond the
#: 2 GB limit) so that a broken limit fails the test instead of exhausting the machine.
HOSTILE = {
    "s1-loops": "import itertools\nreturn sum(itertools.repeat(0))  # a loop in C: the interrupt never arrives",
    "s2-interrupted": "while True:\n    pass",
    "s3-hog": "blocks = []\nfor _ in range(24):\n    blocks.append(torch.ones(2**24, dtype=torch.float64))  # 128 MB each\n"
              "return blocks[0][:1]",
    "s4-crashes": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    # Specific to 08's first exercise, my_expand(x_i, x_j, n, normalize): it calls eelib's own function.
    "s5-copier": "from eelib.expansion import expand\n"
                 "return expand(torch.stack([x_i, x_j]), torch.zeros(2, dtype=torch.long), n_synthetic=n, normalize_synthetic=normalize)"
                 ".embeddings[2:]",
    "s6-honest": None,
}
#: What the first check cell's error must say, per hostile student.
STOPPED_BECAUSE = {
    "s1-loops": "did not stop when interrupted",
    "s2-interrupted": "CellTimeoutError",
    "s3-hog": "can't allocate memory",
    "s4-crashes": "kernel died",
    "s5-copier": "eelib",
}
#: The honest student writes a line that warns (to stderr, if nothing redirected it) in every solution.
WARNING_LINE = "torch.tensor(torch.zeros(1))  # UserWarning: copy construct from a tensor\n"


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if sys.platform != "linux":
        pytest.skip("the grading kernel's memory limit (RLIMIT_DATA) exists on Linux only")
    _require_nbgrader()
    course = tmp_path_factory.mktemp("protected") / "course"
    submissions = course.parent / "submissions"
    coursework("init", str(course), "--notebooks", PROTECTED, "--cell-timeout", str(CELL_TIMEOUT_S),
               "--memory-limit-mb", str(MEMORY_LIMIT_MB))
    coursework("release", str(course))
    source = SOURCES[PROTECTED]
    first, *others = [nbgrader_meta(cell)["grade_id"] for cell in solution_cells(source, "code")]
    bodies = {nbgrader_meta(cell)["grade_id"]: textwrap.dedent(re.sub(r"^def .*\n", "", reference_solution(cell)))
              for cell in solution_cells(source, "code")}
    released = nbformat.read(course / "release" / PROTECTED / f"{PROTECTED}.ipynb", as_version=4)
    for student, hostile in HOSTILE.items():
        def code(grade_id: str, hostile: str | None = hostile) -> str:
            return hostile if grade_id == first and hostile else WARNING_LINE + bodies[grade_id]
        (submissions / student).mkdir(parents=True)
        nbformat.write(fill(released, code, lambda grade_id: None), submissions / student / f"{PROTECTED}.ipynb")
    coursework("collect", str(course), str(submissions))
    started, cpu = time.perf_counter(), _children_cpu_s()
    coursework("autograde", str(course))
    print(f"\nautograding {len(HOSTILE)} submissions of {PROTECTED} with hostile code: "
          f"{time.perf_counter() - started:.0f} s wall, {_children_cpu_s() - cpu:.0f} s CPU")
    return {"course": course, "rows": coursework_tool.grade_rows(course), "checks": check_cells(source)}


def test_hostile_code_scores_zero_and_grading_goes_on(protected: dict) -> None:
    scores = _scores(protected["rows"])
    first, *others = [nbgrader_meta(cell)["grade_id"] for cell in protected["checks"]]
    assert others, f"{PROTECTED} needs two autograded exercises for this test"
    for student in HOSTILE:
        assert scores[(student, first)] == (1.0 if student == "s6-honest" else 0.0), student
        assert all(scores[(student, grade_id)] == 1.0 for grade_id in others), (student, scores)


@pytest.mark.parametrize("student", sorted(STOPPED_BECAUSE))
def test_the_stopped_cell_says_why(protected: dict, student: str) -> None:
    graded = nbformat.read(protected["course"] / "autograded" / student / PROTECTED / f"{PROTECTED}.ipynb",
                           as_version=4)
    first = check_cells(graded)[0]
    errors = " ".join(f"{o.ename}: {o.evalue}" for o in first.outputs if o.output_type == "error")
    assert STOPPED_BECAUSE[student].lower() in errors.lower(), errors


def test_a_warning_does_not_cost_the_point(protected: dict) -> None:
    graded = nbformat.read(protected["course"] / "autograded" / "s6-honest" / PROTECTED / f"{PROTECTED}.ipynb",
                           as_version=4)
    printed = [o.get("text", "") for cell in check_cells(graded) for o in cell.outputs if o.output_type == "stream"]
    assert any("UserWarning" in text for text in printed) and not any(
        o.get("name") == "stderr" for cell in check_cells(graded) for o in cell.outputs)
