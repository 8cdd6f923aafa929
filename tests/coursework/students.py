"""Synthetic students: submissions written from a released notebook, as a student would edit it.

Each function takes the released notebook (nbgrader's student version: solution blocks
replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` or ``YOUR ANSWER HERE``)
and returns a filled-in copy:

- :func:`correct`: the reference solutions and model answers of the source notebook typed
  into the stubs;
- :func:`with_mistakes`: each exercise's typical mistake (:mod:`coursework.mistakes`) and a
  wrong answer to each question;
- :func:`raising`: code that raises an IndexError in every exercise, no answers;
- :func:`editing_checks`: no solutions, and every locked check cell replaced by a line that
  prints the self-check's success message.

:func:`fill` is the general form, for other submissions (the grader's limits are tested
with it).
"""

from __future__ import annotations

import copy
import re
import textwrap
from collections.abc import Callable

import nbformat

from coursework.mistakes import WRONG_ANSWER, mistake_for

CODE_STUB = re.compile(r"^(?P<indent>[ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*$", re.MULTILINE)
ANSWER_STUB = "YOUR ANSWER HERE"
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
#: What the student who edits the locked check cells writes into each of them.
EDITED_CHECK = 'print("✓ all cases agree with the reference.")  # edited by the student'
#: The body of every solution of the student whose code raises.
RAISING_CODE = "scores = []\nreturn scores[0]  # IndexError: the list is empty\n"


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_cells(nb: nbformat.NotebookNode, cell_type: str | None = None) -> list[nbformat.NotebookNode]:
    """The solution cells of a notebook (of one cell type, when given), in order."""
    return [cell for cell in nb.cells if nbgrader_meta(cell).get("solution")
            and (cell_type is None or cell.cell_type == cell_type)]


def check_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The autograded (locked, graded) code cells of a notebook."""
    return [cell for cell in nb.cells if cell.cell_type == "code" and nbgrader_meta(cell).get("grade")]


def reference_solution(source_cell: nbformat.NotebookNode) -> str:
    """A source notebook's solution cell without nbgrader's marker lines: what a correct student types."""
    return SOLUTION_MARKERS.sub("", source_cell.source).rstrip("\n")


def fill(released: nbformat.NotebookNode, code: Callable[[str], str | None], answer: Callable[[str], str | None],
         check: Callable[[str, str], str] = lambda grade_id, source: source) -> nbformat.NotebookNode:
    """A submission: ``released`` with its stubs and check cells rewritten.

    Parameters
    ----------
    released : NotebookNode
        nbgrader's release of a notebook (not modified).
    code : callable
        grade_id of a code solution cell -> the code that replaces its stub (unindented;
        it is indented like the stub), or None to leave the stub.
    answer : callable
        grade_id of a manually graded answer -> its text, or None to leave it unanswered.
    check : callable, optional
        (grade_id, source) of a check cell -> its new source; unchanged by default.
    """
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            new = (code if cell.cell_type == "code" else answer)(meta["grade_id"])
            if new is None:
                continue
            if cell.cell_type == "code":
                cell.source = CODE_STUB.sub(lambda match: textwrap.indent(new, match["indent"]).rstrip("\n"), cell.source)
            else:
                cell.source = cell.source.replace(ANSWER_STUB, new)
        elif meta.get("grade") and cell.cell_type == "code":
            cell.source = check(meta["grade_id"], cell.source)
    return nb


def correct(released: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The source notebook's solutions and model answers, typed into the released notebook."""
    typed = {nbgrader_meta(cell)["grade_id"]: reference_solution(cell) for cell in solution_cells(source)}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution"):
            cell.source = typed[grade_id]
    return nb


def with_mistakes(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Each exercise's typical mistake, and a wrong answer to each question."""
    return fill(released, lambda grade_id: mistake_for(grade_id).code, lambda grade_id: WRONG_ANSWER)


def raising(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Code that raises IndexError in every exercise; questions unanswered."""
    return fill(released, lambda grade_id: RAISING_CODE, lambda grade_id: None)


def editing_checks(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """No solution at all, and every locked check cell replaced by a fake success message."""
    return fill(released, lambda grade_id: None, lambda grade_id: None, check=lambda grade_id, source: EDITED_CHECK)


#: The four students of the round trip: id -> how the submission is written from (released, source).
STUDENTS: dict[str, Callable[[nbformat.NotebookNode, nbformat.NotebookNode], nbformat.NotebookNode]] = {
    "correct": lambda released, source: correct(released, source),
    "mistakes": lambda released, source: with_mistakes(released),
    "raising": lambda released, source: raising(released),
    "editor": lambda released, source: editing_checks(released),
}


def run_solutions(source: nbformat.NotebookNode, replace: dict[str, str] | None = None) -> dict:
    """Execute a notebook's code solution cells in order, outside Jupyter; their namespace.

    The notebooks import ``torch`` and ``torch.nn.functional as F`` before the exercises;
    the namespace starts with both. ``replace`` maps a solution cell's grade_id to code that
    replaces its solution block (as :func:`fill` does for a released notebook).
    """
    import torch
    import torch.nn.functional as F

    namespace = {"torch": torch, "F": F}
    for cell in solution_cells(source, "code"):
        grade_id = nbgrader_meta(cell)["grade_id"]
        text = cell.source
        if replace and grade_id in replace:
            block = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                               re.MULTILINE | re.DOTALL)
            text = block.sub(lambda match: textwrap.indent(replace[grade_id], match["indent"]).rstrip("\n"), text)
        exec(compile(SOLUTION_MARKERS.sub("", text), f"<{grade_id}>", "exec"), namespace)
    return namespace
