"""Build the course as a static website (``./course site``): read it and move its sliders without a kernel.

Pages are the student edition with the outputs of the executed course:

1. Executed notebooks come from a cache, ``_build/executed/<mode>/`` (``mode`` is ``ci`` when
   ``EELIB_CI=1``, the shorter runs of the test suite, else ``full``). The notebook test
   tier fills it (each notebook executed once per test run); an entry counts only while
   the notebook and the library (``eelib/``) are byte for byte the ones it was executed
   from. Missing or stale entries are executed here, with nbclient, in a fresh kernel.
   After a notebook's last cell, one more cell (not part of the page) writes the frames of
   every widget the notebook built (:mod:`eelib.course.static_frames`).
2. Each page takes the executed instructors' notebook cell by cell and puts in the student
   edition's source (``student/notebooks/``, the same cells in the same order); solution
   cells, and every cell that uses a name a solution cell defines (the self-checks), show
   no output. The Colab set-up cell and the badge line (images from elsewhere) are left
   out; the page links to Colab, Binder and the student notebook instead.
3. A widget output becomes the kernel-free viewer of its frames (``tools/site/static/
   viewer.js``); a widget without frames says that it needs a kernel.
4. nbconvert renders the pages with its lab template, extended in ``tools/site/templates/
   course`` to load nothing from elsewhere: MathJax 2.7 is copied from the
   ``jupyter-server-mathjax`` package into ``_static/``; code is highlighted by Pygments.

Usage: ``python tools/build_site.py [--out DIR] [--executed DIR]``. Prints the folder and
how to preview it. ``docs/site.md`` explains the choices.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_markdown_cell, new_output

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_header  # noqa: E402  (the sibling tool that knows the repository and its links)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
STUDENT_DIR = ROOT / "student" / "notebooks"
SITE_DIR = ROOT / "_site"
CACHE_ROOT = ROOT / "_build" / "executed"
TEMPLATES = Path(__file__).resolve().parent / "site" / "templates"
STATIC = Path(__file__).resolve().parent / "site" / "static"
COURSE_TITLE = "Deep metric learning and Embedding Expansion"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DEFAULT_BUDGET_S = 60.0
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
DEFINED = re.compile(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=", re.MULTILINE)
RELATIVE_HREF = re.compile(r'href="(?!https?:|mailto:|#|data:)([^"#]+)(#[^"]*)?"')


# --- the cache of executed notebooks --------------------------------------------------------

def mode() -> str:
    """``"ci"`` when the notebooks run their shorter test-suite versions (``EELIB_CI=1``), else ``"full"``."""
    return "ci" if os.environ.get("EELIB_CI") == "1" else "full"


def cache_dir(run_mode: str | None = None) -> Path:
    """Where executed notebooks of this mode are kept (``EELIB_EXECUTED_DIR`` overrides the root)."""
    root = Path(os.environ.get("EELIB_EXECUTED_DIR", CACHE_ROOT))
    return root / (run_mode or mode())


def library_hash() -> str:
    """SHA-256 over every file of the installed-from-checkout library (``eelib/``) that a notebook can read."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "eelib").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def source_key(path: Path, library: str) -> dict[str, str]:
    """What an executed notebook was made from: the notebook's bytes and the library."""
    return {"notebook_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "library_sha256": library}


def frames_dir(executed_path: Path) -> Path:
    """The frames of an executed notebook: ``NN_topic.frames/`` next to ``NN_topic.ipynb``."""
    return executed_path.with_suffix(".frames")


def export_cell(folder: Path) -> nbformat.NotebookNode:
    """The extra cell run after a notebook's last one: write the frames of its widgets into ``folder``.

    :func:`run_export_cell` then rewrites ``folder/index.json`` as the list of widgets, each
    with ``"cell"``, the execution count of the cell that built it.
    """
    return new_code_cell(f"from eelib.course.static_frames import export_registered\n"
                         f"export_registered({str(folder)!r});")


def run_export_cell(client: Any, nb: nbformat.NotebookNode, folder: Path) -> None:
    """Run :func:`export_cell` in ``client``'s kernel after the last cell of ``nb`` (which it leaves as it was).

    Raises
    ------
    RuntimeError
        If the export fails (with the kernel's error).
    """
    cell = export_cell(folder)
    nb.cells.append(cell)  # nbclient stores the executed cell at its index
    try:
        client.execute_cell(cell, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.get("output_type") == "error"]
    if errors:
        raise RuntimeError(f"exporting the widgets' frames failed: {errors}")
    # IPython's counter while a cell runs is the cell's number or one more, by version: the
    # export cell's own number tells which.
    path = folder / "index.json"
    index = json.loads(path.read_text(encoding="utf-8"))
    offset = index["export_count"] - cell.execution_count
    widgets = [{**entry, "cell": entry["cell"] - offset} for entry in index["widgets"]]
    path.write_text(json.dumps(widgets, indent=1, ensure_ascii=False), encoding="utf-8")


def store_executed(nb: nbformat.NotebookNode, key: dict[str, str], target: Path) -> None:
    """Write an executed notebook (outputs kept) into the cache with the key it was made from."""
    nb = copy.deepcopy(nb)
    nb.metadata["eelib_site"] = key
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def is_fresh(target: Path, key: dict[str, str]) -> bool:
    """Whether the cache holds ``target`` made from exactly ``key``, with its frames."""
    if not (target.is_file() and (frames_dir(target) / "index.json").is_file()):
        return False
    try:
        stored = nbformat.read(target, as_version=4).metadata.get("eelib_site")
    except (OSError, ValueError):
        return False
    return stored == key


def execute(path: Path, target: Path, key: dict[str, str]) -> float:
    """Execute ``path`` in a fresh kernel (in a copy of its folder), export its frames, cache it; return seconds.

    Raises
    ------
    RuntimeError
        If a cell produced an error output, or the frames could not be written.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    budget = float(nb.metadata.get("eelib", {}).get("cpu_budget_s", DEFAULT_BUDGET_S))
    started = time.perf_counter()
    shutil.rmtree(frames_dir(target), ignore_errors=True)
    previous = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # the kernel's, as for a student
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp) / "notebooks"
            shutil.copytree(path.parent, workdir)
            client = NotebookClient(nb, timeout=int(10 * budget), kernel_name="python3",
                                    resources={"metadata": {"path": str(workdir)}})
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                run_export_cell(client, nb, frames_dir(target))
    finally:
        if previous is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = previous
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, cell in enumerate(nb.cells)
              if cell.cell_type == "code" for o in cell.outputs if o.get("output_type") == "error"]
    if errors:
        raise RuntimeError(f"{path.name} produced error outputs: {errors}")
    store_executed(nb, key, target)
    return time.perf_counter() - started


def executed_notebooks(executed_root: Path | None = None, log=print) -> list[Path]:
    """The cached executed notebook of every course notebook, executing the missing or stale ones."""
    folder = executed_root or cache_dir()
    library = library_hash()
    paths = []
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        target = folder / path.name
        key = source_key(path, library)
        if is_fresh(target, key):
            log(f"  {path.name}: executed notebook reused from {target.parent}")
        else:
            log(f"  {path.name}: executing ({mode()} mode) ...")
            log(f"  {path.name}: executed in {execute(path, target, key):.0f} s")
        paths.append(target)
    return paths


# --- pages ------------------------------------------------------------------------------------

def solution_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the nbgrader solution cells."""
    return [i for i, cell in enumerate(nb.cells) if cell.get("metadata", {}).get("nbgrader", {}).get("solution")]


def solution_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names that the solution code cells define (functions, classes, top-level assignments)."""
    names = set()
    for i in solution_cells(nb):
        if nb.cells[i].cell_type == "code":
            names.update(a or b for a, b in DEFINED.findall(nb.cells[i].source))
    return names


SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.MULTILINE | re.DOTALL)
#: Solution lines shorter than this (``else:``, ``return d``) are too common to count as a leak.
MIN_LEAK_CHARS = 12


def solution_texts(nb: nbformat.NotebookNode) -> list[str]:
    """Every line of every solution (between the markers, or a whole unmarked solution cell), stripped.

    Lines shorter than :data:`MIN_LEAK_CHARS` and comment-only lines are left out.
    """
    lines = []
    for i in solution_cells(nb):
        source = nb.cells[i].source
        blocks = SOLUTION_BLOCK.findall(source) if "### BEGIN SOLUTION" in source else [source]
        for block in blocks:
            lines += [line.strip() for line in block.splitlines()
                      if len(line.strip()) >= MIN_LEAK_CHARS and not line.strip().startswith("#")]
    return lines


def shown_after_exercises(nb: nbformat.NotebookNode) -> str:
    """The text outputs of an executed notebook's cells after its last exercise.

    The student edition shows eelib's own code there on purpose (``inspect.getsource``;
    ``tools/make_student_versions.py`` allows it only after the last exercise), so a line
    of a solution that equals a line of eelib appears in these outputs by design.
    """
    cells = solution_cells(nb)
    later = nb.cells[cells[-1] + 1:] if cells else []
    texts = []
    for cell in later:
        for output in cell.get("outputs", []):
            texts.append(str(output.get("text", "")))
            texts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return visible_text("\n".join(texts))


def visible_text(page: str) -> str:
    """The text of an HTML page as a reader sees it: tags dropped (highlighting splits code), entities decoded, spaces collapsed."""
    text = re.sub(r"<script\b[^>]*>.*?</script>|<style\b[^>]*>.*?</style>", " ", page, flags=re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[ \t]+", " ", text)


def find_leaks(texts: list[str], folder: Path) -> list[str]:
    """``"FILE: line"`` for every solution line found in a built file: the pages' text, scripts and notebooks."""
    found = []
    wanted = [(t, re.sub(r"[ \t]+", " ", t)) for t in texts]
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".html", ".ipynb", ".json", ".js"):
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            raw = "\n".join(cell.source for cell in nbformat.reads(raw, as_version=4).cells)
        shown = visible_text(raw) if path.suffix == ".html" else raw
        found += [f"{path.relative_to(folder)}: {t}" for t, collapsed in wanted if t in raw or collapsed in shown]
    return found


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return fallback


def viewer_html(description: dict[str, Any], base: str) -> str:
    """The kernel-free viewer of one widget's frames: controls, readout, images (first frame), data."""
    controls = []
    for k, control in enumerate(description["controls"]):
        name, label, index = control["name"], html.escape(str(control["label"])), control["index"]
        attributes = f'class="kf-control kf-{name}" data-name="{name}" data-control="{k}"'
        if control["kind"] == "range":
            controls.append(f'<label>{label} <input type="range" {attributes} min="0" '
                            f'max="{len(control["values"]) - 1}" step="1" value="{index}">'
                            f'<output>{html.escape(str(control["values"][index]))}</output></label>')
        elif control["kind"] == "checkbox":
            checked = " checked" if index == 1 else ""
            controls.append(f'<label><input type="checkbox" {attributes}{checked}> {label}</label>')
        else:
            options = "".join(f'<option value="{i}"{" selected" if i == index else ""}>{html.escape(str(v))}</option>'
                              for i, v in enumerate(control["values"]))
            controls.append(f'<label>{label} <select {attributes}>{options}</select></label>')
    key = "|".join(str(c["index"]) for c in description["controls"])
    first = description["frames"][key]
    images = "".join(f'<img src="{base}{src}" alt="{html.escape(description["id"])} figure {i + 1}">'
                     for i, src in enumerate(first["images"]))
    note = f'<p class="kf-note">{html.escape(description["note"])}</p>' if description.get("note") else ""
    data = json.dumps({"id": description["id"], "controls": description["controls"], "frames": description["frames"]},
                      ensure_ascii=False).replace("</", "<\\/")
    return (f'<div class="kf-viewer" data-viewer="{description["id"]}" data-base="{base}" data-key="{key}">'
            f'<div class="kf-controls">{"".join(controls)}</div>'
            f'<div class="kf-readout">{html.escape(first["readout"])}</div>'
            f'<div class="kf-images">{images}</div>{note}'
            f'<p class="kf-kernel-note">Precomputed for the site: every position shows what the live widget '
            f'shows there. Open the notebook to run it.</p>'
            f'<script type="application/json" class="kf-data">{data}</script></div>')


KERNEL_NOTE = ('<p class="kf-kernel-note">This widget needs a running kernel: open the notebook '
               '(links at the top of the page) to use it.</p>')


def page_notebook(executed: nbformat.NotebookNode, student: nbformat.NotebookNode, frames: list[dict[str, Any]],
                  frames_base: str) -> nbformat.NotebookNode:
    """The page's notebook: the student edition's cells with the executed outputs a student would see.

    Raises
    ------
    ValueError
        If the student edition does not have the executed notebook's cells (it is out of
        date: run ``tools/make_student_versions.py``).
    """
    if [c.cell_type for c in executed.cells] != [c.cell_type for c in student.cells]:
        raise ValueError("the student edition does not match the notebook cell for cell: "
                         "run tools/make_student_versions.py")
    hidden = set(solution_cells(executed))
    names = solution_names(executed)
    uses_solution = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b") if names else None
    by_cell: dict[int, list[dict[str, Any]]] = {}
    for description in frames:
        by_cell.setdefault(description["cell"], []).append(description)
    page = copy.deepcopy(executed)
    page.metadata.pop("widgets", None)
    page.metadata.pop("eelib_site", None)
    cells = []
    for index, (cell, student_cell) in enumerate(zip(page.cells, student.cells)):
        if notebook_header.SETUP_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell.source = student_cell.source
        if index == 0 and cell.cell_type == "markdown":
            cell.source = notebook_header.BADGE_LINE.sub("", cell.source)
        if cell.cell_type == "code":
            if index in hidden or (uses_solution and uses_solution.search(cell.source)):
                cell.outputs, cell.execution_count = [], None
            else:
                cell.outputs = _static_outputs(cell, by_cell.pop(cell.execution_count, []), frames_base)
        cells.append(cell)
    if by_cell:
        raise ValueError(f"frames for cells {sorted(by_cell)} that show no widget")
    page.cells = cells
    return page


def _static_outputs(cell: nbformat.NotebookNode, viewers: list[dict[str, Any]], base: str) -> list:
    outputs = []
    for output in cell.outputs:
        if WIDGET_VIEW in output.get("data", {}):
            shown = "".join(viewer_html(v, base) for v in viewers) if viewers else KERNEL_NOTE
            viewers = []
            outputs.append(new_output("display_data", data={"text/html": shown}))
        else:
            outputs.append(output)
    if viewers:
        raise ValueError(f"cell {cell.execution_count} built a widget with frames but shows no widget")
    return outputs


def _rewrite_links(page: str, stems: set[str], slug: str, branch: str) -> str:
    """Links to course notebooks go to their pages; other relative links to the repository on GitHub."""
    def replace(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        name = Path(target).name
        if target.endswith(".html") or target.startswith(("_static/", "notebooks/", "frames/")):
            return match.group(0)  # the site's own files
        if name.endswith(".ipynb") and name[:-6] in stems:
            return f'href="{name[:-6]}.html{anchor}"'
        path = os.path.normpath(os.path.join("notebooks", target)).replace(os.sep, "/")
        return f'href="https://github.com/{slug}/blob/{branch}/{path}{anchor}"'
    return RELATIVE_HREF.sub(replace, page)


@dataclass
class Built:
    """What a build made: the folder, its pages and the seconds it took."""

    out: Path
    pages: list[Path]
    seconds: float


def site_url(slug: str) -> str:
    """The GitHub Pages address of the repository ``owner/name``."""
    owner, name = slug.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def build(out: Path = SITE_DIR, executed_root: Path | None = None, log=print) -> Built:
    """Build the site into ``out`` (replaced) from the executed notebooks; see the module docstring."""
    from nbconvert import HTMLExporter
    import jupyter_server_mathjax

    started = time.perf_counter()
    slug, branch = notebook_header.repository(ROOT / "pyproject.toml")
    executed = executed_notebooks(executed_root, log)
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    shutil.copytree(STATIC, out / "_static")
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", out / "_static" / "mathjax")
    stems = [p.stem for p in executed]
    students = {stem: nbformat.read(STUDENT_DIR / f"{stem}.ipynb", as_version=4) for stem in stems}
    titles = {stem: title_of(students[stem], stem) for stem in stems}
    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)])
    mathjax_url = f"_static/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    pages = []

    def toc(current: str | None) -> list[dict[str, Any]]:
        return [{"href": f"{s}.html", "title": titles[s], "current": s == current} for s in stems]

    for k, path in enumerate(executed):
        stem = path.stem
        folder = frames_dir(path)
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        shutil.copytree(folder, out / "frames" / stem, ignore=shutil.ignore_patterns("index.json"))
        page = page_notebook(nbformat.read(path, as_version=4), students[stem], index, f"frames/{stem}/")
        student_path = f"student/notebooks/{stem}.ipynb"
        shutil.copy2(STUDENT_DIR / f"{stem}.ipynb", out / "notebooks" / f"{stem}.ipynb")
        site = {
            "course_title": COURSE_TITLE, "mathjax_url": mathjax_url, "toc": toc(stem),
            "links": {"colab": notebook_header.colab_url(slug, branch, student_path),
                      "binder": notebook_header.binder_url(slug, branch, student_path),
                      "download": f"notebooks/{stem}.ipynb"},
            "prev": {"href": f"{stems[k - 1]}.html", "title": titles[stems[k - 1]]} if k else
                    {"href": "index.html", "title": "Contents"},
            "next": {"href": f"{stems[k + 1]}.html", "title": titles[stems[k + 1]]} if k + 1 < len(stems) else None,
        }
        body, _ = exporter.from_notebook_node(page, resources={"metadata": {"name": titles[stem]}, "site": site})
        target = out / f"{stem}.html"
        target.write_text(_rewrite_links(body, set(stems), slug, branch), encoding="utf-8")
        pages.append(target)
    lines = [f"# {COURSE_TITLE}", "",
             "An interactive course on deep metric learning and Embedding Expansion (Ko & Gu, CVPR 2020). "
             "Each page is a notebook of the student edition with its outputs; the sliders of the widgets "
             "work here without a kernel (their pictures were rendered when the site was built). "
             f"To run the notebooks, open them in Colab or Binder from their pages, or install the course: "
             f"[the repository](https://github.com/{slug}).", "", "## Contents", ""]
    lines += [f"{k}. [{titles[s]}]({s}.html)" for k, s in enumerate(stems)]
    home = new_notebook(cells=[new_markdown_cell("\n".join(lines))])
    site = {"course_title": COURSE_TITLE, "mathjax_url": mathjax_url, "toc": toc(None), "links": None,
            "prev": None, "next": {"href": f"{stems[0]}.html", "title": titles[stems[0]]}}
    body, _ = exporter.from_notebook_node(home, resources={"metadata": {"name": COURSE_TITLE}, "site": site})
    (out / "index.html").write_text(body, encoding="utf-8")
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve _static/ as it is
    return Built(out, [out / "index.html", *pages], time.perf_counter() - started)


def page_weights(built: Built) -> list[tuple[str, int, int]]:
    """Per page: (name, bytes loaded on opening it, bytes with every frame of its sliders).

    Counted on opening: the HTML, the site's CSS and script, MathJax's files that a page
    loads (counted as the whole MathJax folder's ``MathJax.js``, config, TeX input and
    CommonHTML output parts) and the first frame of each viewer.
    """
    mathjax = built.out / "_static" / "mathjax"
    shared = sum(p.stat().st_size for p in (built.out / "_static").iterdir() if p.is_file())
    shared += sum(p.stat().st_size for p in [mathjax / "MathJax.js", *mathjax.glob("config/*.js"),
                                             *(mathjax / "jax" / "input" / "TeX").glob("*.js"),
                                             *(mathjax / "jax" / "output" / "CommonHTML").rglob("*.js")])
    rows = []
    for page in built.pages:
        text = page.read_text(encoding="utf-8")
        first = {m for m in re.findall(r'<img src="(frames/[^"]+)"', text)}
        frames_dir_ = built.out / "frames" / page.stem
        all_frames = sum(p.stat().st_size for p in frames_dir_.rglob("*") if p.is_file()) if frames_dir_.exists() else 0
        opened = page.stat().st_size + shared + sum((built.out / f).stat().st_size for f in first)
        rows.append((page.name, opened, opened + all_frames))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="the folder to write (replaced; default _site/)")
    parser.add_argument("--executed", type=Path, default=None,
                        help="the cache of executed notebooks (default _build/executed/<mode>/)")
    args = parser.parse_args(argv)
    print(f"building the course site ({mode()} mode: {'EELIB_CI=1, the test suite' if mode() == 'ci' else 'full runs'})")
    built = build(args.out.resolve(), args.executed.resolve() if args.executed else None)
    print("\n| page | loaded on opening (MB) | with every slider frame (MB) |\n|---|---:|---:|")
    for name, opened, total in page_weights(built):
        print(f"| {name} | {opened / 2**20:.2f} | {total / 2**20:.2f} |")
    size = sum(p.stat().st_size for p in built.out.rglob("*") if p.is_file())
    print(f"\nbuilt {len(built.pages)} pages in {built.seconds:.0f} s: {built.out} ({size / 2**20:.1f} MB)")
    print(f"preview: python -m http.server -d {built.out} 8000   (then open http://127.0.0.1:8000/)")
    print(f"or open {built.out / 'index.html'} in a browser; published at "
          f"{site_url(notebook_header.repository(ROOT / 'pyproject.toml')[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
