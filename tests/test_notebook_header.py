"""Colab and Binder: every notebook's badges open itself in the repository of [tool.eelib],
and its set-up cell installs the course on Colab only, keeping Colab's torch, numpy and
ipywidgets and saying whether the runtime must restart (tests/test_reach.py runs the cell's
install for real in a Colab-like environment)."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("notebook_header", ROOT / "tools" / "notebook_header.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

SLUG, BRANCH = tool.repository()
NOTEBOOKS = [p for edition in tool.EDITIONS for p in sorted((ROOT / edition).glob("*.ipynb"))]
#: Files outside the notebooks that link to the repository.
DOCUMENTS = ["README.md", "INSTRUCTORS.md", "CONTRIBUTING.md", "CITATION.cff"]
REPOSITORY_LINK = re.compile(
    r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh|github\.com)/([^/\s)]+/[^/\s)?@\"]+)"
    r"(?:/(?:blob/)?([^/\s)?\"]+))?")


def _links(text: str) -> list[tuple[str, str | None]]:
    """(owner/name, branch or None) of every Colab, Binder and GitHub link in ``text``."""
    return [(m[1].removesuffix(".git"), m[2]) for m in REPOSITORY_LINK.finditer(text)]


def test_the_repository_is_configured_once() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    settings = pyproject["tool"]["eelib"]
    assert (settings["repository"], settings["branch"]) == (SLUG, BRANCH)
    assert tool.EXTRA in pyproject["project"]["optional-dependencies"]  # the extra the set-up cells install
    assert NOTEBOOKS and len(NOTEBOOKS) == 2 * len(list((ROOT / "notebooks").glob("*.ipynb")))


def test_every_notebook_has_the_current_header() -> None:
    assert tool.main(["--check"]) == 0, "run: python tools/notebook_header.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_badges_open_this_notebook_in_the_configured_repository(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source.splitlines()[0]
    here = path.relative_to(ROOT).as_posix()
    targets = re.findall(r"\]\((https://[^)]+)\)", first)
    badge_images = [t for t in targets if t.endswith(".svg")]
    links = [t for t in targets if not t.endswith(".svg")]
    assert len(badge_images) == 2 and len(links) == 2, f"expected a Colab and a Binder badge: {first}"
    assert links[0] == f"https://colab.research.google.com/github/{SLUG}/blob/{BRANCH}/{here}"
    assert links[1] == f"https://mybinder.org/v2/gh/{SLUG}/{BRANCH}?urlpath=lab/tree/{here}"
    assert (ROOT / here).is_file()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_repository_link_in_the_documents_names_the_configured_one(document: str) -> None:
    for slug, branch in _links((ROOT / document).read_text()):
        if slug.startswith("clovaai/"):
            continue  # the official EE code, cited by name
        assert slug == SLUG, f"{document} links to {slug}; [tool.eelib] says {SLUG}"
        assert branch in (None, BRANCH), f"{document} links to branch {branch}; [tool.eelib] says {BRANCH}"


def test_readme_badges_open_the_student_edition() -> None:
    first = (ROOT / "README.md").read_text().split("\n\n")[1]
    assert f"blob/{BRANCH}/student/notebooks/00_course_tour.ipynb" in first
    assert "urlpath=lab/tree/student/notebooks/00_course_tour.ipynb" in first


class _Distribution:
    def __init__(self, name: str, version: str) -> None:
        self.metadata, self.version = {"Name": name}, version


def _run_setup_cell(source: str, on_colab: bool, monkeypatch: pytest.MonkeyPatch, *,
                    installed: dict[str, str] | None = None, pip_installs: dict[str, str] | None = None,
                    loaded: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], str]:
    """Run the set-up cell as IPython would, with a stand-in for pip.

    ``installed`` is what is there before (name -> version), ``pip_installs`` what the
    stand-in pip installs or replaces, ``loaded`` the modules already imported (import name
    -> distribution). Returns the line magics called, ``{name}`` expanded as IPython does,
    and what the cell printed.
    """
    from importlib import metadata

    state = dict(installed or {})
    calls, printed = [], []

    class Shell:
        def run_line_magic(self, name: str, line: str) -> None:
            calls.append((name, re.sub(r"\{(\w+)\}", lambda m: str(namespace[m[1]]), line)))
            state.update(pip_installs or {})

    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(metadata, "distributions", lambda: [_Distribution(n, v) for n, v in state.items()])
    monkeypatch.setattr(metadata, "packages_distributions", lambda: {m: [d] for m, d in (loaded or {}).items()})
    for module in loaded or {}:
        monkeypatch.setitem(sys.modules, module, sys.modules.get(module, types.ModuleType(module)))
    namespace = {"get_ipython": Shell, "print": lambda *args: printed.append(" ".join(map(str, args)))}
    exec(TransformerManager().transform_cell(source), namespace)  # noqa: S102
    return calls, "\n".join(printed)


#: What a Colab runtime has, roughly: its own CUDA torch, numpy 2.0 and ipywidgets 7.7.1.
COLAB = {"torch": "2.8.0+cu126", "numpy": "2.0.2", "ipywidgets": "7.7.1", "matplotlib": "3.10.0",
         "scikit_learn": "1.6.1", "scipy": "1.16.1", "pandas": "2.2.2"}
INSTALL = f'install --progress-bar off "eelib[notebooks] @ git+https://github.com/{SLUG}@{BRANCH}"'


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_installs_the_course_on_colab_only_keeping_colabs_packages(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(path, as_version=4)
    setup = nb.cells[1]
    assert setup.cell_type == "code" and tool.SETUP_TAG in setup.metadata.get("tags", [])
    assert not [c for c in nb.cells[2:] if tool.SETUP_TAG in c.metadata.get("tags", [])]
    assert _run_setup_cell(setup.source, on_colab=False, monkeypatch=monkeypatch) == ([], "")
    calls, printed = _run_setup_cell(setup.source, on_colab=True, monkeypatch=monkeypatch, installed=COLAB,
                                     pip_installs={"eelib": "0.1.0", "pytorch-metric-learning": "2.9.0"},
                                     loaded={"numpy": "numpy", "torch": "torch"})
    # pip is told to keep Colab's torch, numpy and ipywidgets, and not told to be quiet.
    assert calls == [("pip", f"{INSTALL} torch==2.8.0+cu126 numpy==2.0.2 ipywidgets==7.7.1")]
    assert "quiet" not in setup.source and " -q" not in setup.source
    assert printed == "Ready, no restart needed. Kept: torch==2.8.0+cu126 numpy==2.0.2 ipywidgets==7.7.1 | pip replaced: nothing"


def test_setup_cell_asks_for_a_restart_only_when_pip_replaced_a_loaded_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = tool.setup_source(SLUG, BRANCH)
    # scipy replaced but never imported: no restart, and the student is told what changed.
    _, printed = _run_setup_cell(source, on_colab=True, monkeypatch=monkeypatch, installed=COLAB,
                                 pip_installs={"eelib": "0.1.0", "scipy": "1.17.1"}, loaded={"numpy": "numpy"})
    assert printed.startswith("Ready, no restart needed.") and printed.endswith("pip replaced: scipy")
    # matplotlib replaced after the runtime imported it: restart, said plainly.
    _, printed = _run_setup_cell(source, on_colab=True, monkeypatch=monkeypatch, installed=COLAB,
                                 pip_installs={"matplotlib": "3.11.2"}, loaded={"matplotlib": "matplotlib"})
    assert printed.startswith("RESTART NEEDED: pip replaced matplotlib after this runtime had imported it.")
    assert "Runtime > Restart session" in printed
    # Distribution names compare normalised (scikit_learn and scikit-learn are one package).
    _, printed = _run_setup_cell(source, on_colab=True, monkeypatch=monkeypatch, installed=COLAB,
                                 pip_installs={"scikit_learn": "1.9.1"}, loaded={"sklearn": "scikit-learn"})
    assert printed.startswith("RESTART NEEDED: pip replaced scikit-learn")
    # Where a package to keep is not installed, it is not pinned.
    calls, _ = _run_setup_cell(source, on_colab=True, monkeypatch=monkeypatch, installed={"numpy": "2.0.2"})
    assert calls == [("pip", f"{INSTALL} numpy==2.0.2")]


def _notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(sources[0]),
                                           *(nbformat.v4.new_code_cell(s) for s in sources[1:])])


def test_header_is_added_once_and_follows_the_repository() -> None:
    nb = _notebook("# Title\n\ntext", "x = 1")
    once = tool.with_header(nb, "notebooks/01_x.ipynb", "me/fork", "dev")
    twice = tool.with_header(once, "notebooks/01_x.ipynb", "me/fork", "dev")
    assert tool.render(once) == tool.render(twice)
    assert [c.cell_type for c in once.cells] == ["markdown", "code", "code"]
    assert once.cells[0].source.endswith("\n\n# Title\n\ntext") and "me/fork/blob/dev/notebooks/01_x" in once.cells[0].source
    assert once.cells[2].source == "x = 1" and nb.cells[0].source == "# Title\n\ntext"
    moved = tool.with_header(once, "student/notebooks/01_x.ipynb", "you/other", "main")
    assert "me/fork" not in tool.render(moved) and len(moved.cells) == 3
    assert moved.cells[0].source.count("Open in Colab") == 1 and moved.cells[0].source.endswith("# Title\n\ntext")


def test_header_refuses_a_notebook_without_a_markdown_title() -> None:
    with pytest.raises(ValueError, match="first cell must be the Markdown header"):
        tool.with_header(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")]), "n.ipynb", "a/b", "main")


def test_the_tool_writes_and_checks_a_small_repository(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.eelib]\nrepository = "me/fork"\nbranch = "dev"\n')
    for edition in tool.EDITIONS:
        (tmp_path / edition).mkdir(parents=True)
        (tmp_path / edition / "00_a.ipynb").write_text(tool.render(_notebook("# A", "y = 2")))
    assert tool.main(["--check"], root=tmp_path) == 1
    assert "out of date: student/notebooks/00_a.ipynb" in capsys.readouterr().out
    assert tool.main([], root=tmp_path) == 0 and tool.main(["--check"], root=tmp_path) == 0
    student = nbformat.read(tmp_path / "student/notebooks/00_a.ipynb", as_version=4)
    assert "me/fork/blob/dev/student/notebooks/00_a.ipynb" in student.cells[0].source
    (tmp_path / "pyproject.toml").write_text('[tool.eelib]\nrepository = "not a slug"\nbranch = "dev"\n')
    with pytest.raises(ValueError, match="owner/name"):
        tool.main(["--check"], root=tmp_path)
