"""Run the course as graded coursework with nbgrader: one command per step of the instructor's path.

    python tools/coursework.py init COURSE [--notebooks 02 03 ...] [--assignment hw1=02,03 ...]
    python tools/coursework.py release COURSE [ASSIGNMENT ...]
    python tools/coursework.py collect COURSE SUBMISSIONS
    python tools/coursework.py autograde COURSE [ASSIGNMENT ...] [--student ID] [--force]
    python tools/coursework.py formgrader COURSE [-- JUPYTER_ARGS ...]
    python tools/coursework.py feedback COURSE [ASSIGNMENT ...]
    python tools/coursework.py grades COURSE [--to FILE]

Each step wraps nbgrader's command line, run in the course folder COURSE (see
INSTRUCTORS.md for the whole path). ``init`` writes the course folder: ``source/<assignment>/``
with the chosen notebooks, every check cell given hidden tests
(:func:`eelib.course.grading.hidden_check`), and an ``nbgrader_config.py`` that loads
``tools/coursework_nbgrader.py`` (per-cell time limit, kernel memory limit, recovery from a
hung or dead kernel, model answers for the grader, nothing of them in the feedback).
SUBMISSIONS is a folder with one folder per student (the folder's name is the student's
id) holding the student's notebooks under their released names.

nbgrader is an optional dependency: ``pip install -e ".[instructor]"``. Exit status: 0 on
success, 1 when nbgrader reports a failure, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import datetime
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_student_versions import SOURCE, has_exercises, nbgrader_metadata, with_student_header  # noqa: E402
from make_student_versions import TARGET as STUDENT_EDITION  # noqa: E402  (sibling tool)

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(__file__).resolve().parent
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
HIDDEN_BLOCK = """### BEGIN HIDDEN TESTS
from eelib.course.grading import hidden_check
{calls}
### END HIDDEN TESTS"""
CONFIG = '''"""nbgrader configuration of this course folder, written by tools/coursework.py init; edit freely."""
import sys

sys.path.insert(0, {tools!r})  # tools/coursework_nbgrader.py

from coursework_nbgrader import configure

c = get_config()  # noqa: F821 (nbgrader provides get_config)
c.CourseDirectory.course_id = {course_id!r}
# Per-cell time limit (s) and kernel memory limit (MB, Linux) while autograding.
configure(c, cell_timeout_s={timeout}, memory_limit_mb={memory})
'''


class UsageError(Exception):
    """A mistake in the command line or the folders it names (exit status 2)."""


# --- init ---------------------------------------------------------------------------------------


def check_calls(source: str) -> list[ast.Call]:
    """The top-level calls ``check_…(…)`` of a check cell, in order."""
    calls = []
    for statement in ast.parse(source).body:
        if (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                and isinstance(statement.value.func, ast.Name) and statement.value.func.id.startswith("check_")):
            calls.append(statement.value)
    return calls


def with_hidden_tests(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose autograded check cells end with a hidden-tests block.

    Under each visible call ``check_x(fn, **kwargs)`` the block asserts
    ``hidden_check(check_x, fn, **kwargs)`` (an ``assert``, so that the cell's last line
    leaves no value that nbgrader would read as partial credit). A cell that already has a
    hidden-tests block is left as it is.

    Raises
    ------
    UsageError
        If a check cell calls no check that has hidden tests (naming its grade_id), so
        that a new exercise is not graded without them unnoticed.
    """
    from eelib.course.grading import EXERCISES

    out = copy.deepcopy(nb)
    for cell in out.cells:
        meta = nbgrader_metadata(cell)
        if cell.cell_type != "code" or not meta.get("grade") or "### BEGIN HIDDEN TESTS" in cell.source:
            continue
        calls = [call for call in check_calls(cell.source) if call.func.id in EXERCISES]
        if not calls:
            raise UsageError(f"check cell {meta.get('grade_id')!r} calls no check with hidden tests "
                             f"(eelib.course.grading.EXERCISES: {', '.join(EXERCISES)}); add its hidden tests "
                             "there, or pass --no-hidden-tests")
        hidden = ["assert " + ast.unparse(ast.Call(ast.Name("hidden_check"), [ast.Name(call.func.id), *call.args],
                                                   call.keywords)) for call in calls]
        cell.source = cell.source.rstrip("\n") + "\n" + HIDDEN_BLOCK.format(calls="\n".join(hidden))
    return out


def select_notebooks(selectors: list[str] | None) -> list[Path]:
    """Notebooks of ``notebooks/`` that have exercises, chosen by number or name prefix (all when None)."""
    candidates = [path for path in sorted(SOURCE.glob("*.ipynb")) if has_exercises(nbformat.read(path, as_version=4))]
    if not selectors:
        return candidates
    chosen = []
    for selector in selectors:
        matches = [path for path in candidates if path.stem.startswith(selector)]
        if len(matches) != 1:
            names = ", ".join(path.stem for path in candidates)
            raise UsageError(f"notebook {selector!r} matches {len(matches)} notebooks with exercises ({names})")
        chosen.append(matches[0])
    return chosen


def plan_assignments(notebooks: list[Path], groups: list[str] | None) -> dict[str, list[Path]]:
    """Assignment id -> notebooks: one assignment per notebook (named by its stem), or the ``NAME=02,03`` groups."""
    if not groups:
        return {path.stem: [path] for path in notebooks}
    plan = {}
    for group in groups:
        name, _, members = group.partition("=")
        if not STUDENT_ID.match(name) or not members:
            raise UsageError(f"--assignment must look like NAME=02,03 (letters, digits, _ . @ -), got {group!r}")
        plan[name] = select_notebooks(members.split(","))
    return plan


def cmd_init(args: argparse.Namespace) -> int:
    course = Path(args.course)
    plan = plan_assignments(select_notebooks(args.notebooks), args.assignment)
    existing = [path for path in [course / "nbgrader_config.py", *(course / "source" / name for name in plan)]
                if path.exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists; pass --force to overwrite it (and the source notebooks)")
    for name, paths in plan.items():
        target = course / "source" / name
        target.mkdir(parents=True, exist_ok=True)
        for path in paths:
            # the release's Colab and Binder links open the student edition, never the solutions
            nb = with_student_header(nbformat.read(path, as_version=4), STUDENT_EDITION / path.name)
            if not args.no_hidden_tests:
                nb = with_hidden_tests(nb)
            nbformat.write(nb, target / path.name)
        print(f"source/{name}/: {', '.join(path.name for path in paths)}")
    (course / "nbgrader_config.py").write_text(CONFIG.format(
        tools=str(TOOLS), course_id=args.course_id, timeout=args.cell_timeout, memory=args.memory_limit_mb))
    print(f"wrote {course / 'nbgrader_config.py'}; next: python tools/coursework.py release {course}")
    return 0


# --- steps that run nbgrader ----------------------------------------------------------------------


def run_nbgrader(course: Path, *arguments: str) -> int:
    """``python -m nbgrader ARGUMENTS`` in the course folder; its exit status.

    The environment's scripts folder goes first on PATH: nbgrader runs its ``alembic``
    script to create the gradebook, also when the environment is not activated.
    """
    command = [sys.executable, "-m", "nbgrader", *arguments]
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    print("$ nbgrader " + " ".join(arguments), flush=True)
    return subprocess.run(command, cwd=course, env=env).returncode


def course_folder(path: str) -> Path:
    """The course folder, once its ``nbgrader_config.py`` loads (nbgrader would go on without it)."""
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(path).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise UsageError(f"{course} is not a course folder (no nbgrader_config.py); run `coursework.py init` first")
    try:
        PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception as error:
        raise UsageError(f"{course / 'nbgrader_config.py'} does not load: {type(error).__name__}: {error}") from error
    return course


def assignments_of(course: Path, chosen: list[str] | None) -> list[str]:
    """The assignments of ``source/``: all, or the chosen ones, which must exist."""
    present = sorted(path.name for path in (course / "source").iterdir() if path.is_dir())
    unknown = sorted(set(chosen or []) - set(present))
    if unknown:
        raise UsageError(f"no assignment {unknown[0]!r} in {course / 'source'} (there are: {', '.join(present)})")
    return chosen or present


def nbgrader_targets(course: Path, chosen: list[str] | None) -> list[str]:
    """What to pass nbgrader as assignment ids: the chosen ones, or ``*`` for all in one run."""
    return assignments_of(course, chosen) if chosen else ["*"]


def cmd_release(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    status = 0
    for target in nbgrader_targets(course, args.assignments):
        status |= run_nbgrader(course, "generate_assignment", target, "--force")
    if not status:
        for name in assignments_of(course, args.assignments):
            print(f"release: {course / 'release' / name} (hand this folder to the students)")
    return 1 if status else 0


def cmd_collect(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    folder = Path(args.submissions)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of submissions")
    owner = {path.name: path.parent.name for path in (course / "source").glob("*/*.ipynb")}
    for student in sorted(path for path in folder.iterdir() if path.is_dir()):
        if not STUDENT_ID.match(student.name):
            raise UsageError(f"student folder {student.name!r}: use letters, digits and _ . @ - only")
        for notebook in sorted(student.glob("*.ipynb")):
            if notebook.name not in owner:
                print(f"skipped {notebook}: no assignment has a notebook of that name")
                continue
            target = course / "submitted" / student.name / owner[notebook.name]
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target / notebook.name)
            stamp = datetime.datetime.fromtimestamp(notebook.stat().st_mtime, datetime.timezone.utc)
            (target / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
            print(f"collected {student.name}/{notebook.name} into submitted/{student.name}/{owner[notebook.name]}/")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    submitted = {path.name for path in (course / "submitted").glob("*/*") if path.is_dir()}
    options = (["--student", args.student] if args.student else []) + (["--force"] if args.force else [])
    status = 0
    for target in nbgrader_targets(course, args.assignments):
        if target == "*" or target in submitted:
            status |= run_nbgrader(course, "autograde", target, *options)
    print_scores(course)
    return 1 if status else 0


def cmd_formgrader(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    print("Open the Formgrader from JupyterLab's Nbgrader menu to grade the answers by hand.")
    return subprocess.run([sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={course}", *args.jupyter_args],
                          cwd=course).returncode


def cmd_feedback(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    status = 0
    for target in nbgrader_targets(course, args.assignments):
        status |= run_nbgrader(course, "generate_feedback", target, "--force")
    print(f"feedback: {course / 'feedback'}/<student>/<assignment>/<notebook>.html")
    return 1 if status else 0


# --- grades ---------------------------------------------------------------------------------------

BY_EXERCISE_COLUMNS = ("student_id", "assignment", "notebook", "grade_id", "max_score", "auto_score",
                       "manual_score", "score", "needs_manual_grade")


def grade_rows(course: Path) -> list[dict[str, object]]:
    """One row per student and graded cell (autograded check or manual answer), from the gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in gradebook.assignments:
            for submission in sorted(assignment.submissions, key=lambda s: s.student_id):
                for notebook in submission.notebooks:
                    for grade in sorted(notebook.grades, key=lambda g: g.name):
                        rows.append({
                            "student_id": submission.student_id, "assignment": assignment.name,
                            "notebook": notebook.name, "grade_id": grade.name, "max_score": grade.max_score,
                            "auto_score": grade.auto_score, "manual_score": grade.manual_score,
                            "score": grade.score, "needs_manual_grade": grade.needs_manual_grade,
                        })
    return rows


def print_scores(course: Path) -> None:
    """Each student's score per assignment, and how many answers still need grading by hand."""
    totals: dict[tuple[str, str], list[float]] = {}
    for row in grade_rows(course):
        total = totals.setdefault((row["student_id"], row["assignment"]), [0.0, 0.0, 0])
        total[0] += row["score"]
        total[1] += row["max_score"]
        total[2] += bool(row["needs_manual_grade"])
    print("| student | assignment | score | to grade by hand |\n|---|---|---:|---:|")
    for (student, assignment), (score, maximum, manual) in sorted(totals.items()):
        print(f"| {student} | {assignment} | {score:g} / {maximum:g} | {manual} |")


def cmd_grades(args: argparse.Namespace) -> int:
    course = course_folder(args.course)
    target = Path(args.to).resolve() if args.to else course / "grades.csv"
    status = run_nbgrader(course, "export", "--to", str(target))
    by_exercise = target.with_name(target.stem + "_by_exercise.csv")
    with by_exercise.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=BY_EXERCISE_COLUMNS)
        writer.writeheader()
        writer.writerows(grade_rows(course))
    print(f"grades: {target} (one row per student and assignment), {by_exercise} (per graded cell)")
    return 1 if status else 0


# --- command line ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="coursework", description=__doc__.splitlines()[0])
    steps = main.add_subparsers(dest="step", required=True, metavar="STEP")

    init = steps.add_parser("init", help="create an nbgrader course folder from the notebooks")
    init.add_argument("course", help="the course folder to create (or to add assignments to, with --force)")
    init.add_argument("--notebooks", nargs="+", metavar="NB",
                      help="notebooks by number or name prefix (default: every notebook with exercises)")
    init.add_argument("--assignment", action="append", metavar="NAME=02,03",
                      help="group notebooks into one assignment (repeatable; default: one assignment per notebook)")
    init.add_argument("--course-id", default="eelib")
    init.add_argument("--cell-timeout", type=int, default=60, metavar="S",
                      help="seconds a cell may run while autograding (default 60)")
    init.add_argument("--memory-limit-mb", type=int, default=3072, metavar="MB",
                      help="the grading kernel's memory limit (default 3072; Linux)")
    init.add_argument("--no-hidden-tests", action="store_true", help="do not add hidden tests to the check cells")
    init.add_argument("--force", action="store_true",
                      help="overwrite an existing nbgrader_config.py and the chosen assignments' source notebooks")
    init.set_defaults(run=cmd_init)

    for name, run, text in (("release", cmd_release, "write the students' version of assignments to release/"),
                            ("feedback", cmd_feedback, "write HTML feedback for autograded submissions to feedback/")):
        step = steps.add_parser(name, help=text)
        step.add_argument("course")
        step.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
        step.set_defaults(run=run)

    collect = steps.add_parser("collect", help="copy a folder of student notebooks into submitted/")
    collect.add_argument("course")
    collect.add_argument("submissions", help="a folder with one folder of notebooks per student")
    collect.set_defaults(run=cmd_collect)

    autograde = steps.add_parser("autograde", help="run and score the submissions (executes student code!)")
    autograde.add_argument("course")
    autograde.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all with submissions")
    autograde.add_argument("--student", help="only this student")
    autograde.add_argument("--force", action="store_true", help="grade again submissions already graded")
    autograde.set_defaults(run=cmd_autograde)

    formgrader = steps.add_parser("formgrader", help="open JupyterLab on the course to grade answers by hand")
    formgrader.add_argument("course")
    formgrader.add_argument("jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER_ARGS",
                            help="passed on to JupyterLab, e.g. -- --port 8890")
    formgrader.set_defaults(run=cmd_formgrader)

    grades = steps.add_parser("grades", help="export the grades as CSV")
    grades.add_argument("course")
    grades.add_argument("--to", metavar="FILE", help="default: COURSE/grades.csv (and grades_by_exercise.csv)")
    grades.set_defaults(run=cmd_grades)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.step != "init" and importlib.util.find_spec("nbgrader") is None:
        print("coursework: nbgrader is not installed in this environment; install the instructor extra: "
              'pip install -e ".[instructor]"', file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except UsageError as error:
        print(f"coursework: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
