"""Generate the student versions of the notebooks from the solution notebooks.

In ``notebooks/`` the exercises carry their solutions between nbgrader's markers. This
script writes ``student/notebooks/``: in solution cells the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` (code) or ``YOUR ANSWER HERE`` (markdown), keeping the
indentation and everything outside the markers (a solution cell without markers is
replaced as a whole, as nbgrader does); ``### BEGIN HIDDEN TESTS`` …
``### END HIDDEN TESTS`` blocks are removed; outputs are stripped. Notebooks without
exercises are copied unchanged, so the folder is a complete course; only the Colab and
Binder links of a notebook's header (``tools/notebook_header.py``) point at the student
edition.

Integrity: before a notebook's last exercise, no code cell of the student edition may show
or import a solution — eelib's source (``inspect.getsource``), its loop oracles
(``eelib.oracles``), the checks' references (``reference_*``) or another library's losses
(pytorch-metric-learning). Such cells belong after the exercises (the notebooks put them
under "After the exercises" and in an appendix). The self-checks refuse a solution that
runs eelib or pytorch-metric-learning anyway (``eelib.course.checks``).

Usage: ``python tools/make_student_versions.py [--check]``. ``--check`` writes nothing and
exits 1 when ``student/notebooks/`` differs from what would be generated now. Both exit 2
when a solution cell has unbalanced markers or a notebook breaks the integrity rule.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_header  # noqa: E402  (the sibling tool that writes the notebooks' header)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks"
TARGET = ROOT / "student" / "notebooks"
BLOCK = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*(\n|$)", re.MULTILINE | re.DOTALL)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*(\n|$)", re.MULTILINE | re.DOTALL)
CODE_STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n"
#: Code that reveals a solution when it runs before an exercise (see the module docstring).
REVEALING = re.compile(r"getsource\(|eelib\.oracles|from eelib import oracles|\boracles\.|\breference_\w+"
                       r"|pytorch_metric_learning")
ANSWER_STUB = "YOUR ANSWER HERE\n"


def nbgrader_metadata(cell: nbformat.NotebookNode) -> dict:
    """A cell's nbgrader metadata (empty when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def student_source(source: str, cell_type: str) -> str:
    """Replace every solution block of one cell's source by the stub for its cell type.

    A solution cell without markers is replaced as a whole, as nbgrader does.

    Raises
    ------
    ValueError
        If the markers are unbalanced (a BEGIN without its END, or the reverse).
    """
    def stub(indent: str) -> str:
        return CODE_STUB.format(indent=indent) if cell_type == "code" else ANSWER_STUB

    begins, ends = source.count("### BEGIN SOLUTION"), source.count("### END SOLUTION")
    if begins != ends:
        raise ValueError(f"unbalanced solution markers ({begins} BEGIN, {ends} END) in:\n{source}")
    if begins == 0:
        return stub("").rstrip("\n")
    return BLOCK.sub(lambda match: stub(match["indent"]), source).rstrip("\n")


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a notebook (a new object; ``nb`` is not modified).

    Raises
    ------
    ValueError
        If a solution cell has unbalanced markers (see :func:`student_source`).
    """
    out = copy.deepcopy(nb)
    for cell in out.cells:
        meta = nbgrader_metadata(cell)
        if meta.get("solution"):
            cell.source = student_source(cell.source, cell.cell_type)
        if "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = HIDDEN.sub("", cell.source).rstrip("\n")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def integrity_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Code cells before the last exercise that reveal a solution, as messages (empty: none)."""
    solutions = [i for i, cell in enumerate(nb.cells) if nbgrader_metadata(cell).get("solution")]
    if not solutions:
        return []
    return [f"cell {i} shows {match[0]!r} before the last exercise (cell {solutions[-1]}); "
            "move it after the exercises"
            for i, cell in enumerate(nb.cells[:solutions[-1]])
            if cell.cell_type == "code" and (match := REVEALING.search(cell.source))]


def has_exercises(nb: nbformat.NotebookNode) -> bool:
    """Whether any cell is an nbgrader solution cell."""
    return any(nbgrader_metadata(cell).get("solution") for cell in nb.cells)


#: The notebook as stored (one definition, shared with the header tool).
render = notebook_header.render


def with_student_header(nb: nbformat.NotebookNode, target: Path) -> nbformat.NotebookNode:
    """The notebook with its header's Colab and Binder links pointing at ``target`` (a path in
    the student edition), when it has a header: a student never lands in the solutions."""
    if not notebook_header.has_header(nb):
        return nb
    slug, branch = notebook_header.repository(ROOT / "pyproject.toml")
    return notebook_header.with_header(nb, target.relative_to(ROOT).as_posix(), slug, branch)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if student/notebooks/ is out of date")
    args = parser.parse_args(argv)
    expected = {}
    for path in sorted(SOURCE.glob("*.ipynb")):
        try:
            student = with_student_header(student_notebook(nbformat.read(path, as_version=4)), TARGET / path.name)
        except ValueError as error:
            print(f"{_shown(path)}: {error}", file=sys.stderr)
            return 2
        problems = integrity_problems(student)
        for problem in problems:
            print(f"{_shown(path)}: {problem}", file=sys.stderr)
        if problems:
            return 2
        expected[path.name] = render(student)
    present = {path.name for path in TARGET.glob("*.ipynb")} if TARGET.exists() else set()
    stale = sorted(name for name, text in expected.items()
                   if not (TARGET / name).exists() or (TARGET / name).read_text(encoding="utf-8") != text)
    extra = sorted(present - set(expected))
    if args.check:
        for name in stale:
            print(f"out of date: {_shown(TARGET / name)}")
        for name in extra:
            print(f"no source notebook: {_shown(TARGET / name)}")
        return 1 if stale or extra else 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (TARGET / name).write_text(expected[name], encoding="utf-8")
        print(f"wrote {_shown(TARGET / name)}")
    for name in extra:
        (TARGET / name).unlink()
        print(f"removed {_shown(TARGET / name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
