"""The course site's parts without a build: pages without solutions, frames, links, the workflow.

The built site itself is tested in ``test_site_build.py`` (no solution in any built file,
frames equal to the widgets' pictures) and ``test_site_browser.py`` (every page in Chromium).
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: E402
from PIL import Image  # noqa: E402

from eelib.course import static_frames  # noqa: E402
from eelib.course.heatmap_widget import build_heatmap_widget  # noqa: E402
from eelib.course.playground import loss_playground  # noqa: E402
from eelib.course.static_frames import Control, Frame, FrameSet, control_from_widget, write_frame_set  # noqa: E402
from site_support import build_site  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
make_student_versions = sys.modules.get("make_student_versions")
if make_student_versions is None:
    _spec = importlib.util.spec_from_file_location("make_student_versions", ROOT / "tools" / "make_student_versions.py")
    make_student_versions = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(make_student_versions)

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("one_torch_thread")]

WIDGET = "application/vnd.jupyter.widget-view+json"


def pixels(png: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.convert("RGBA").tobytes()


def exercise_notebook() -> nbformat.NotebookNode:
    """An executed notebook: header, set-up cell, a widget, an exercise, its self-check, a later use, an answer."""
    solution = {"nbgrader": {"solution": True, "grade": False, "grade_id": "ex1", "locked": False,
                             "schema_version": 3, "task": False}}
    answer = {"nbgrader": {"solution": True, "grade": True, "grade_id": "ex2", "locked": False, "points": 1,
                           "schema_version": 3, "task": False}}
    cells = [
        new_markdown_cell("[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](x) "
                          "[![Binder](https://mybinder.org/badge_logo.svg)](y)\n\n# Probe\n\nMath: $x^2$."),
        new_code_cell("import sys", metadata={"tags": ["colab-setup"]}),
        new_code_cell("playground", execution_count=2,
                      outputs=[new_output("display_data", data={WIDGET: {"model_id": "m"}, "text/plain": "VBox()"})]),
        new_code_cell("def my_loss(x):\n    ### BEGIN SOLUTION\n    return x.clamp_min(0.0).sum() * 2\n"
                      "    ### END SOLUTION", metadata=solution, execution_count=3),
        new_code_cell("check_loss(my_loss)", execution_count=4,
                      outputs=[new_output("stream", name="stdout", text="correct: the solution matches")]),
        new_code_cell("print(1 + 1)", execution_count=5, outputs=[new_output("stream", name="stdout", text="2\n")]),
        new_code_cell("tour", execution_count=6,
                      outputs=[new_output("display_data", data={WIDGET: {"model_id": "t"}, "text/plain": "VBox()"})]),
        new_markdown_cell("### BEGIN SOLUTION\nThe margin stops pushing pairs farther than m apart.\n"
                          "### END SOLUTION", metadata=answer),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


def frames_description(folder: Path, cell: int = 2) -> dict:
    controls = (Control("margin", "margin m", "range", (0.0, 0.5), 0.5),)
    frame_set = FrameSet("probe", controls, {(0.0,): Frame("loss = 0.0000", (b"a",)),
                                             (0.5,): Frame("loss = 0.5000", (b"b",))}, note="only margin moves")
    return {"cell": cell, **write_frame_set(frame_set, folder)}


# --- pages ---------------------------------------------------------------------------------

def test_a_page_shows_the_student_edition_without_solutions_or_their_checks(tmp_path: Path) -> None:
    executed = exercise_notebook()
    student = make_student_versions.student_notebook(executed)
    page = build_site.page_notebook(executed, student, [frames_description(tmp_path)], "frames/probe/")
    sources = [cell.source for cell in page.cells]
    assert not any("colab" in s.lower() for s in sources), "the badge line and the Colab set-up cell are left out"
    assert "# Probe" in sources[0] and "$x^2$" in sources[0]
    solution = next(c for c in page.cells if "my_loss(x)" in c.source)
    assert "raise NotImplementedError()" in solution.source and "clamp_min" not in solution.source
    check = next(c for c in page.cells if "check_loss" in c.source)
    assert check.outputs == [], "a self-check run on the solution must not show"
    assert next(c for c in page.cells if "print(1 + 1)" in c.source).outputs[0]["text"] == "2\n"
    assert "YOUR ANSWER HERE" in page.cells[-1].source
    viewer = page.cells[1].outputs[0]["data"]["text/html"]
    assert 'data-viewer="probe"' in viewer and 'src="frames/probe/probe/' in viewer and "loss = 0.5000" in viewer
    assert "needs a running kernel" in page.cells[5].outputs[0]["data"]["text/html"]
    assert not build_site.find_leaks(build_site.solution_texts(executed), _write_page(page, tmp_path / "built"))


def _write_page(page: nbformat.NotebookNode, folder: Path) -> Path:
    """The page rendered by nbconvert's lab template (code highlighted), in ``folder``."""
    from nbconvert import HTMLExporter

    folder.mkdir()
    (folder / "page.html").write_text(HTMLExporter(template_name="lab").from_notebook_node(page)[0], encoding="utf-8")
    return folder


def test_the_leak_search_finds_a_solution_in_highlighted_code_and_in_prose(tmp_path: Path) -> None:
    executed = exercise_notebook()
    texts = build_site.solution_texts(executed)
    assert texts == ["return x.clamp_min(0.0).sum() * 2", "The margin stops pushing pairs farther than m apart."]
    folder = _write_page(executed, tmp_path / "built")  # the instructors' notebook as a page: both are found
    assert texts[0] not in (folder / "page.html").read_text(), "highlighting splits the code into tokens"
    leaks = build_site.find_leaks(texts, folder)
    assert len(leaks) == 2, leaks


def test_a_stale_student_edition_is_refused() -> None:
    executed = exercise_notebook()
    student = make_student_versions.student_notebook(executed)
    student.cells.pop()
    with pytest.raises(ValueError, match="make_student_versions"):
        build_site.page_notebook(executed, student, [], "frames/")


def test_frames_for_a_cell_without_a_widget_are_refused(tmp_path: Path) -> None:
    executed = exercise_notebook()
    with pytest.raises(ValueError, match="frames for cells"):
        build_site.page_notebook(executed, make_student_versions.student_notebook(executed),
                                 [frames_description(tmp_path, cell=99)], "frames/")


def test_links_to_notebooks_go_to_pages_and_others_to_github() -> None:
    page = '<a href="03_triplet_loss_and_mining.ipynb#x">03</a> <a href="../docs/paper.md">paper</a> ' \
           '<a href="https://example.org/a.ipynb">x</a> <a href="#top">top</a> ' \
           '<a href="notebooks/03_triplet_loss_and_mining.ipynb">download</a>'
    out = build_site._rewrite_links(page, {"03_triplet_loss_and_mining"}, "o/r", "main")
    assert 'href="notebooks/03_triplet_loss_and_mining.ipynb"' in out
    assert 'href="03_triplet_loss_and_mining.html#x"' in out
    assert 'href="https://github.com/o/r/blob/main/docs/paper.md"' in out
    assert 'href="https://example.org/a.ipynb"' in out and 'href="#top"' in out


# --- frames --------------------------------------------------------------------------------

def test_frame_sets_need_every_combination_and_valid_controls(tmp_path: Path) -> None:
    controls = (Control("n", "n", "range", (0, 1), 0), Control("s", "s", "checkbox", (False, True), True))
    with pytest.raises(ValueError, match="3 frames for 4 combinations"):
        write_frame_set(FrameSet("x", controls, {(0, False): Frame("", ()), (0, True): Frame("", ()),
                                                 (1, True): Frame("", ())}), tmp_path)
    with pytest.raises(ValueError, match="not among its values"):
        Control("n", "n", "range", (0, 1), 2)
    with pytest.raises(ValueError, match="checkbox offers the values"):
        Control("s", "s", "checkbox", (True, False), True)


def test_identical_images_are_written_once_and_keys_are_value_indices(tmp_path: Path) -> None:
    controls = (Control("n", "n", "range", (0, 1, 2), 1),)
    description = write_frame_set(FrameSet("x", controls, {(0,): Frame("a", (b"same",)), (1,): Frame("b", (b"same",)),
                                                           (2,): Frame("c", (b"other",))}), tmp_path)
    assert sorted(description["frames"]) == ["0", "1", "2"] and description["controls"][0]["index"] == 1
    assert description["frames"]["0"]["images"] == description["frames"]["1"]["images"]
    assert len(list((tmp_path / "x").iterdir())) == 2


def test_controls_from_widgets_offer_every_step() -> None:
    margin = control_from_widget("margin", widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.05,
                                                               description="margin m"))
    assert margin.kind == "range" and len(margin.values) == 21 and margin.values[4] == 0.2 and margin.value == 0.2
    mining = control_from_widget("mining", widgets.Dropdown(options=["all", "hardest"], value="hardest"))
    assert (mining.kind, mining.values, mining.value) == ("select", ("all", "hardest"), "hardest")
    assert control_from_widget("s", widgets.Checkbox(value=False)).values == (False, True)
    with pytest.raises(TypeError, match="Text cannot be offered"):
        control_from_widget("t", widgets.Text())


def test_playground_frames_are_what_the_widget_shows() -> None:
    margin = widgets.FloatSlider(value=0.2, min=0.0, max=0.3, step=0.1, description="margin m")
    mining = widgets.Dropdown(options=["all", "hardest"], value="hardest", description="mining")
    playground = loss_playground("triplet", {"margin": margin, "mining": mining}, css_prefix="probe")
    frame_set = playground.frames()
    assert [c.name for c in frame_set.controls] == ["margin"] and frame_set.controls[0].value == 0.2
    assert frame_set.note.startswith("Here only margin m moves; mining stays at its first value")
    mining.value = "all"  # a later move of another control does not change the site's frames
    margin.value = 0.3
    mining.value = "hardest"
    assert playground.label.value == frame_set.frames[(0.3,)].readout
    readout, bundle = playground.render(playground.points, playground.labels, {"margin": 0.3, "mining": "hardest"})
    assert pixels(frame_set.frames[(0.3,)].images[0]) == pixels(static_frames.png_bytes(bundle))
    assert frame_set.frames[(0.0,)].readout != frame_set.frames[(0.3,)].readout


def test_heat_map_frames_are_what_the_widget_shows() -> None:
    rng = np.random.default_rng(0)
    runs, epochs, classes = [0, 2], [0, 1, 2], 3
    expanded = rng.uniform(0.2, 2.0, (len(runs), len(epochs), classes, classes))
    originals = rng.uniform(0.2, 2.0, expanded.shape)
    widget = build_heatmap_widget(expanded, originals, runs, epochs, initial_n=2, initial_epoch=1)
    frame_set = widget.site_frames()
    assert len(frame_set.frames) == 2 * 3 * 2 and [c.value for c in frame_set.controls] == [2, 1, True]
    view = widget.view(0, 2, False)
    frame = frame_set.frames[(0, 2, False)]
    assert frame.readout == widget.readout_text(view)
    assert pixels(frame.images[0]) == pixels(static_frames.png_bytes(widget.render(view)))


def test_registered_widgets_are_exported_with_their_cell(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(static_frames, "_REGISTERED", [])
    controls = (Control("n", "n", "range", (0,), 0),)
    static_frames.register(lambda: FrameSet("a", controls, {(0,): Frame("r", (b"png",))}))
    index = static_frames.export_registered(tmp_path / "out")
    assert index["export_count"] is None and index["widgets"][0]["cell"] is None and index["widgets"][0]["id"] == "a"
    stored = json.loads((tmp_path / "out" / "index.json").read_text())
    assert stored["widgets"][0]["frames"]["0"]["readout"] == "r"
    static_frames.register(lambda: FrameSet("a", controls, {(0,): Frame("r", (b"png",))}))
    with pytest.raises(ValueError, match="same id 'a'"):
        static_frames.export_registered(tmp_path / "again")


# --- cache, links and publishing -------------------------------------------------------------

def test_a_cached_notebook_counts_only_for_the_same_notebook_and_library(tmp_path: Path) -> None:
    source = tmp_path / "00_probe.ipynb"
    nbformat.write(exercise_notebook(), source)
    key = build_site.source_key(source, "lib")
    target = tmp_path / "cache" / source.name
    build_site.store_executed(nbformat.read(source, as_version=4), key, target)
    assert not build_site.is_fresh(target, key), "without its frames an entry is not complete"
    build_site.frames_dir(target).mkdir()
    (build_site.frames_dir(target) / "index.json").write_text("[]")
    assert build_site.is_fresh(target, key)
    assert not build_site.is_fresh(target, build_site.source_key(source, "other library"))
    source.write_text(source.read_text().replace("Probe", "Probe 2"))
    assert not build_site.is_fresh(target, build_site.source_key(source, "lib"))


def test_the_site_address_comes_from_pyproject_and_the_readme_links_it() -> None:
    slug, _ = build_site.notebook_header.repository(ROOT / "pyproject.toml")
    url = build_site.site_url(slug)
    assert url == f"https://{slug.split('/')[0].lower()}.github.io/{slug.split('/')[1]}/"
    top = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:8])
    assert url in top, "the README links the site near its top"


def test_the_pages_workflow_builds_with_the_tested_command() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert runs == ["./course site"], "the workflow builds with exactly the command test_site_build runs"
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == build_site.SITE_DIR.relative_to(ROOT).as_posix()
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in workflow["jobs"]["deploy"]["steps"])
    from site_support import BUILD_COMMAND

    assert [Path(BUILD_COMMAND[0]).relative_to(ROOT).as_posix(), *BUILD_COMMAND[1:]] == ["course", "site"]
