"""nbgrader's side of ``tools/coursework.py``: what a course folder's ``nbgrader_config.py`` loads.

``tools/coursework.py init`` writes a ``nbgrader_config.py`` that puts this folder on
``sys.path`` and calls :func:`configure`, so that ``nbgrader autograde`` and
``nbgrader generate_feedback`` (run by ``coursework.py`` or by hand in the course
folder, or from the Formgrader) use:

- :class:`LimitedExecute` instead of nbgrader's ``Execute``: every cell has a time limit
  (nbgrader's, interrupting the kernel), the kernel a memory limit (``RLIMIT_DATA``, Linux),
  and a kernel that ignores the interrupt or dies is restarted: the cell is scored zero
  with an error saying why, the cells above it are run again, and grading goes on with
  the next cell. nbgrader itself gives up on the whole submission in that case. Python
  warnings go to stdout: nbgrader scores a check cell that writes to stderr zero.
- :class:`AddModelAnswers` after autograding: under each manually graded answer, the
  model answer from the source notebook, for the grader in the Formgrader.
- :class:`HideGraderMaterial` and nbgrader's ``ClearHiddenTests`` before feedback: the
  student's feedback holds neither the model answers nor the code of the hidden tests
  (their results stay).

Only importable where nbgrader is installed (``pip install -e ".[instructor]"``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from traitlets import Bool, Integer

try:
    import resource
except ImportError:  # Windows
    resource = None

#: Cell metadata key (value: the answer's grade_id) of the cells that AddModelAnswers inserts
#: and HideGraderMaterial removes.
MODEL_ANSWER_FOR = "eelib_model_answer_for"
MODEL_ANSWER_TITLE = "Model answer, for the grader only (removed from the student's feedback)"
#: Run in every grading kernel when ``warnings_to_stdout``: Python warnings go to stdout.
WARNINGS_TO_STDOUT = """import sys, warnings
warnings.showwarning = (lambda message, category, filename, lineno, file=None, line=None, _out=sys.stdout,
                        _format=warnings.formatwarning: _out.write(_format(message, category, filename, lineno, line)))
del sys, warnings"""
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


class LimitedExecute(Execute):
    """nbgrader's Execute with a memory limit, surviving a kernel that hangs or dies.

    nbgrader's per-cell ``timeout`` interrupts a cell that runs too long; Python code then
    stops with KeyboardInterrupt and the cell scores zero. Code that does not answer the
    interrupt (a loop inside C, or one that catches KeyboardInterrupt) and a kernel that
    dies (out of memory, a crash) make nbgrader drop the whole submission instead. Here
    the kernel is restarted, the cell gets an error output saying what happened (so it
    scores zero), the code cells above it are run again to restore the state, and the
    notebook goes on.
    """

    memory_limit_mb = Integer(
        3072, allow_none=True,
        help="Limit of the kernel's data segment (RLIMIT_DATA: heap and private memory maps) in MB; "
             "an allocation beyond it fails with MemoryError. None: no limit. Linux only.",
    ).tag(config=True)

    warnings_to_stdout = Bool(
        True,
        help="Print Python warnings to stdout instead of stderr: nbgrader scores a check cell that writes "
             "to stderr zero, so a warning raised by a correct solution would cost the point.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km: Any = None) -> tuple[NotebookNode, dict]:
        self._stopped: set[int] = set()
        return super().preprocess(nb, resources, km)

    def start_new_kernel_client(self) -> Any:
        client = super().start_new_kernel_client()
        self._limit_memory()
        if self.warnings_to_stdout:
            self.wait_for_reply(client.execute(WARNINGS_TO_STDOUT, silent=True, store_history=False))
        return client

    def _limit_memory(self) -> None:
        if self.memory_limit_mb is None:
            return
        pid = getattr(self.km.provisioner, "pid", None)  # a local kernel's process
        if resource is None or not hasattr(resource, "prlimit") or pid is None:
            self.log.warning("The kernel's memory cannot be limited here (no resource.prlimit or no local "
                             "kernel process); grade in a container or a virtual machine with a memory limit.")
            return
        limit = self.memory_limit_mb * 2**20
        resource.prlimit(pid, resource.RLIMIT_DATA, (limit, limit))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        try:
            return super().preprocess_cell(cell, resources, index)
        except (CellTimeoutError, DeadKernelError) as error:
            self.log.warning("Cell %d: %s; restarting the kernel and running the cells above again",
                             index, type(error).__name__)
            cell.outputs.append(self._stopped_output(error))
            self._stopped.add(index)
            self._fresh_kernel()
            self._run_again(until=index)
            return cell, self.resources

    def _stopped_output(self, error: Exception) -> NotebookNode:
        if isinstance(error, CellTimeoutError):
            ename = "CellTimeoutError"
            reason = (f"the cell ran longer than the grader's limit of {self.timeout} s and did not stop "
                      "when interrupted")
        else:
            ename = "KernelDied"
            limit = f" (memory limit {self.memory_limit_mb} MB)" if self.memory_limit_mb else ""
            reason = f"the Python kernel died while running this cell{limit}"
        message = (f"The grader stopped this cell: {reason}. It scores zero; the grader restarted the "
                   "kernel, ran the cells above again and went on with the next cell.")
        return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])

    def _fresh_kernel(self) -> None:
        """Kill the kernel and start a new one, memory-limited like the first."""
        self.shutdown_kernel = "immediate"
        self._cleanup_kernel()
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()

    def _run_again(self, until: int) -> None:
        """Run the code cells before ``until`` again (except stopped ones), discarding their outputs."""
        for index, cell in enumerate(self.nb.cells[:until]):
            if cell.cell_type != "code" or index in self._stopped:
                continue
            try:
                self.execute_cell(copy.deepcopy(cell), index, store_history=False)
            except (CellTimeoutError, DeadKernelError) as error:
                self.log.error("Running cell %d again failed (%s); the cells below run without its state",
                               index, type(error).__name__)
                self._fresh_kernel()


def model_answer(source: str) -> str:
    """The text of a solution cell without nbgrader's ``### BEGIN/END SOLUTION`` marker lines."""
    return SOLUTION_MARKERS.sub("", source).strip()


def is_manually_graded(cell: NotebookNode) -> bool:
    """A cell the grader scores by hand: nbgrader's "manually graded answer" (solution and grade)."""
    return utils.is_solution(cell) and utils.is_grade(cell)


class AddModelAnswers(NbGraderPreprocessor):
    """Insert the source notebook's model answer below each manually graded answer.

    The cell is marked (metadata :data:`MODEL_ANSWER_FOR`) so that :class:`HideGraderMaterial`
    removes it from the feedback; it carries no nbgrader metadata and earns no points.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        source_path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"])) / (
            info["notebook"] + ".ipynb")
        source = nbformat.read(source_path, as_version=4)
        answers = {cell.metadata.nbgrader.grade_id: model_answer(cell.source)
                   for cell in source.cells if is_manually_graded(cell)}
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if is_manually_graded(cell) and grade_id in answers:
                note = nbformat.v4.new_markdown_cell(f"**{MODEL_ANSWER_TITLE}, `{grade_id}`:**\n\n{answers[grade_id]}")
                note.metadata[MODEL_ANSWER_FOR] = grade_id
                cells.append(note)
        nb.cells = cells
        return nb, resources


class HideGraderMaterial(NbGraderPreprocessor):
    """Before feedback: remove the model answers; cut tracebacks that would show hidden tests.

    The cells that :class:`AddModelAnswers` inserted go. In a cell with hidden tests, an
    error's traceback quotes the lines around the failing call, hidden tests included; it is
    cut to its last line (the check's message: case, expected and obtained, hint). nbgrader's
    ``ClearHiddenTests``, which runs next, removes the hidden code itself.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        nb.cells = [cell for cell in nb.cells if MODEL_ANSWER_FOR not in cell.metadata]
        for cell in nb.cells:
            if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in cell.source:
                for output in cell.outputs:
                    if output.output_type == "error":
                        output.traceback = [f"{output.ename}: {output.evalue}"]
        return nb, resources


def configure(c: Any, *, cell_timeout_s: int = 60, memory_limit_mb: int | None = 3072) -> None:
    """Set up a course folder's nbgrader configuration ``c`` (see the module's docstring).

    Parameters
    ----------
    c : traitlets.config.Config
        The ``c = get_config()`` of ``nbgrader_config.py``.
    cell_timeout_s : int, default 60
        Seconds a cell may run during autograding before it is interrupted.
    memory_limit_mb : int or None, default 3072
        The kernel's data-segment limit; None for none.
    """
    autograde = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [LimitedExecute if p is Execute else p for p in autograde] + [AddModelAnswers]
    feedback = GenerateFeedback.class_traits()["preprocessors"].default()
    c.GenerateFeedback.preprocessors = [HideGraderMaterial, ClearHiddenTests, *feedback]
    c.LimitedExecute.timeout = cell_timeout_s
    c.LimitedExecute.memory_limit_mb = memory_limit_mb
