"""Put the Colab and Binder badges and the Colab set-up cell at the top of every notebook.

Each notebook of both editions (``notebooks/``, the solutions; ``student/notebooks/``, the
student edition) gets

- a line of badges at the top of its first Markdown cell: "Open in Colab" and "Binder",
  each opening this very notebook of this edition;
- a code cell right after it (tagged ``colab-setup``) that installs the course's library
  and what the notebooks import, ``eelib[notebooks]`` from the repository, but only on
  Colab (``"google.colab" in sys.modules``), keeping Colab's torch, numpy and ipywidgets,
  and says whether the runtime must restart; anywhere else it does nothing.

The repository (``owner/name``) and branch come from ``[tool.eelib]`` in pyproject.toml,
the one place they are written: a fork changes them there and runs this tool again.
Running it twice changes nothing. ``tools/make_student_versions.py`` keeps the header
(pointing at the student edition) when it writes ``student/notebooks/``.

Usage: ``python tools/notebook_header.py [--check]``. ``--check`` writes nothing and
exits 1 when a notebook's header is missing or out of date.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = ("notebooks", "student/notebooks")
SETUP_TAG = "colab-setup"
EXTRA = "notebooks"  # the extra of pyproject.toml with everything the notebooks import
BADGE_LINE = re.compile(r"^\[!\[Open in Colab\]\(.*\n\n?")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def repository(pyproject: Path = ROOT / "pyproject.toml") -> tuple[str, str]:
    """The GitHub repository ``owner/name`` and its branch, from ``[tool.eelib]``."""
    settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["eelib"]
    slug, branch = settings["repository"], settings["branch"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", slug):
        raise ValueError(f"[tool.eelib] repository must be 'owner/name', got {slug!r}")
    return slug, branch


def colab_url(slug: str, branch: str, path: str) -> str:
    """Colab's address for the notebook at ``path`` (relative to the repository root)."""
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}"


def binder_url(slug: str, branch: str, path: str) -> str:
    """mybinder.org's address that builds the repository and opens ``path`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{path}"


def badge_line(slug: str, branch: str, path: str) -> str:
    """The Markdown line of badges for the notebook at ``path``."""
    return (f"[![Open in Colab]({COLAB_BADGE})]({colab_url(slug, branch, path)}) "
            f"[![Binder]({BINDER_BADGE})]({binder_url(slug, branch, path)})")


#: Packages Colab brings that the set-up cell must leave as they are: its CUDA torch, its
#: numpy (what Colab's other packages are built against) and ipywidgets 7.7, the version its
#: front end renders.
KEEP = ("torch", "numpy", "ipywidgets")


def setup_source(slug: str, branch: str) -> str:
    """The Colab set-up cell: installs ``eelib[notebooks]`` from the repository, on Colab only.

    pip gets the installed versions of :data:`KEEP` as requirements, so it installs what is
    missing without replacing them (or stops with an error if eelib cannot run with them).
    pip's own messages are shown. Afterwards the cell compares every installed version with
    the one before and says plainly whether the runtime must restart: only when pip replaced
    a package that this runtime had already imported.
    """
    kept = "(" + ", ".join(f'"{name}"' for name in KEEP) + ")"
    return (
        "# On Colab only: install the course's library and the packages the notebooks need that\n"
        "# Colab lacks (about a minute). Colab's own torch, numpy and ipywidgets stay as they are.\n"
        "# Anywhere else (./course open, Binder, a JupyterHub with eelib) this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import re\n"
        "    from importlib import metadata\n"
        "\n"
        "    def installed_versions():\n"
        '        return {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}\n'
        "\n"
        "    before = installed_versions()\n"
        f'    keep = " ".join(f"{{name}}=={{before[name]}}" for name in {kept} if name in before)\n'
        f'    %pip install --progress-bar off "eelib[{EXTRA}] @ git+https://github.com/{slug}@{branch}" {{keep}}\n'
        "    replaced = {name for name, version in installed_versions().items() if before.get(name, version) != version}\n"
        "    owners = metadata.packages_distributions() if replaced else {}  # import name -> distributions\n"
        "    loaded = {re.sub(r\"[-_.]+\", \"-\", d).lower() for module in list(sys.modules)\n"
        "              for d in owners.get(module.partition(\".\")[0], [])}\n"
        "    if replaced & loaded:\n"
        '        print("RESTART NEEDED: pip replaced", ", ".join(sorted(replaced & loaded)), "after this runtime had "\n'
        '              "imported it. Click Runtime > Restart session, then run this notebook again from the top.")\n'
        "    else:\n"
        '        print("Ready, no restart needed. Kept:", keep, "| pip replaced:", ", ".join(sorted(replaced)) or "nothing")'
    )


def _is_setup_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def has_header(nb: nbformat.NotebookNode) -> bool:
    """Whether the notebook has a set-up cell (and so a header to keep up to date)."""
    return any(_is_setup_cell(cell) for cell in nb.cells)


def with_header(nb: nbformat.NotebookNode, path: str, slug: str, branch: str) -> nbformat.NotebookNode:
    """The notebook (a new object) with the current header for its ``path`` in the repository.

    Raises
    ------
    ValueError
        If the notebook does not start with a Markdown cell.
    """
    out = copy.deepcopy(nb)
    if not out.cells or out.cells[0].cell_type != "markdown":
        raise ValueError(f"{path}: the first cell must be the Markdown header")
    first = out.cells[0]
    first.source = badge_line(slug, branch, path) + "\n\n" + BADGE_LINE.sub("", first.source)
    setup = [i for i, cell in enumerate(out.cells) if _is_setup_cell(cell)]
    if len(setup) > 1:
        raise ValueError(f"{path}: {len(setup)} cells are tagged {SETUP_TAG!r}")
    if setup:
        cell = out.cells.pop(setup[0])
        cell.source = setup_source(slug, branch)
    else:
        cell = nbformat.v4.new_code_cell(setup_source(slug, branch), metadata={"tags": [SETUP_TAG]})
        cell.pop("id", None)
    if out.nbformat_minor >= 5 and "id" not in cell:
        cell["id"] = "colab-setup"
    out.cells.insert(1, cell)
    return out


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as stored: nbformat's JSON and a final newline (as ``tools/strip_notebooks.py``)."""
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a header is missing or out of date")
    args = parser.parse_args(argv)
    slug, branch = repository(root / "pyproject.toml")
    stale = []
    for edition in EDITIONS:
        for file in sorted((root / edition).glob("*.ipynb")):
            path = file.relative_to(root).as_posix()
            text = file.read_text(encoding="utf-8")
            try:
                expected = render(with_header(nbformat.reads(text, as_version=4), path, slug, branch))
            except ValueError as error:
                print(error, file=sys.stderr)
                return 2
            if expected != text:
                stale.append(path)
                if not args.check:
                    file.write_text(expected, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
