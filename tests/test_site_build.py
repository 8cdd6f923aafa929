"""The built course site (``./course site``): no solution in any file, every page, frames equal to the widgets'.

The site is built once per test run (``site_support.built_site``) from the notebooks the
notebook tier executed; its browser test is ``test_site_browser.py``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from eelib.diagnostics import loss_geometry  # noqa: E402
from eelib.course.display import png_bundle  # noqa: E402
from eelib.course.explorer import update  # noqa: E402
from eelib.course.heatmap_widget import build_heatmap_widget  # noqa: E402
from eelib.course.playground import loss_playground  # noqa: E402
from eelib.course.static_frames import png_bytes  # noqa: E402
from eelib.course.style import apply_course_style  # noqa: E402
from eelib.data import toy_batch  # noqa: E402
from eelib.experiments.training_heatmaps import load_training_heatmaps  # noqa: E402
from site_support import ROOT, BuiltSite, build_site  # noqa: E402

pytestmark = pytest.mark.notebooks

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXTERNAL = re.compile(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


def viewers(site: BuiltSite, stem: str) -> dict[str, dict]:
    """The viewers' data (controls and frames) on a built page, by id."""
    page = (site.out / f"{stem}.html").read_text(encoding="utf-8")
    found = re.findall(r'<script[^>]*class="kf-data"[^>]*>(.*?)</script>', page, re.DOTALL)
    return {data["id"]: data for data in (json.loads(text.replace("<\\/", "</")) for text in found)}


def frame_file(site: BuiltSite, stem: str, data: dict, values: tuple, image: int = 0) -> tuple[str, bytes]:
    """The readout and the PNG bytes of the frame for these control values."""
    key = "|".join(str(c["values"].index(v)) for c, v in zip(data["controls"], values))
    frame = data["frames"][key]
    return frame["readout"], (site.out / "frames" / stem / frame["images"][image]).read_bytes()


def pixels(png: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.convert("RGBA").tobytes()


def figure_png(fig: plt.Figure) -> bytes:
    """A figure encoded as the widgets encode it (one pass, fixed layout), then closed."""
    png = png_bytes(png_bundle(fig))
    plt.close(fig)
    return png


def test_no_solution_appears_in_any_built_file(built_site: BuiltSite) -> None:
    """Every line of every solution is searched in every built file.

    Allowed: a solution line that is also a line of eelib's code which the notebook's own
    page shows after its last exercise (``inspect.getsource``, as the student edition does).
    """
    texts, by_design = [], set()
    for path in NOTEBOOKS:
        executed = nbformat.read(build_site.cache_dir("ci") / path.name, as_version=4)
        lines = build_site.solution_texts(nbformat.read(path, as_version=4))
        texts += lines
        shown = build_site.shown_after_exercises(executed)
        by_design |= {f"{path.stem}.html: {line}" for line in lines if re.sub(r"[ \t]+", " ", line) in shown}
    assert len(texts) > 20, "the course's solutions were not found: the search would prove nothing"
    leaks = [leak for leak in build_site.find_leaks(texts, built_site.out) if leak not in by_design]
    assert not leaks, "solutions in the built site:\n" + "\n".join(leaks[:20])
    assert len(by_design) < len(texts) / 4, f"most solution lines are allowed: {sorted(by_design)}"


def test_every_notebook_has_a_page_and_its_student_notebook(built_site: BuiltSite) -> None:
    for path in NOTEBOOKS:
        page = (built_site.out / f"{path.stem}.html").read_text(encoding="utf-8")
        assert f'href="notebooks/{path.name}"' in page and "colab.research.google.com/github/" in page
        assert "/student/notebooks/" + path.name in page, "Colab and Binder open the student edition"
        shipped = built_site.out / "notebooks" / path.name
        assert shipped.read_bytes() == (ROOT / "student" / "notebooks" / path.name).read_bytes()
    index = (built_site.out / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{path.stem}.html"' in index for path in NOTEBOOKS)


def test_no_page_loads_anything_from_elsewhere(built_site: BuiltSite) -> None:
    for page in sorted(built_site.out.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{page.name} loads {EXTERNAL.search(text).group(0)!r}"
        assert "_static/mathjax/MathJax.js" in text


def test_the_explorer_frames_are_the_widgets_pictures_and_readouts(built_site: BuiltSite) -> None:
    apply_course_style()
    data = viewers(built_site, "08_embedding_expansion")["ee"]
    assert [c["name"] for c in data["controls"]] == ["n", "normalize", "batch"]
    assert len(data["frames"]) == 9 * 2 * 2
    for n, normalize, batch in ((0, True, "compact classes"), (3, False, "label noise"), (8, True, "label noise")):
        _, readout, view, heatmap = update(n, normalize, batch)
        for image, fig in enumerate((view, heatmap)):
            shown_readout, png = frame_file(built_site, "08_embedding_expansion", data, (n, normalize, batch), image)
            assert pixels(png) == pixels(figure_png(fig)), f"frame {n, normalize, batch} image {image}"
        assert shown_readout == readout


def test_the_heat_map_frames_are_the_widgets_pictures_and_readouts(built_site: BuiltSite) -> None:
    data = viewers(built_site, "08_embedding_expansion")["hm"]
    runs = load_training_heatmaps()
    widget = build_heatmap_widget(runs.expanded, runs.originals, runs.n_values, runs.epochs, runs.classes,
                                  runs.recall_at_1)
    assert len(data["frames"]) == len(runs.n_values) * len(runs.epochs) * 2
    for n, epoch, synthetic in ((runs.n_values[-1], runs.epochs[0], True), (runs.n_values[3], runs.epochs[-1], False)):
        view = widget.view(n, epoch, synthetic)
        readout, png = frame_file(built_site, "08_embedding_expansion", data, (n, epoch, synthetic))
        assert readout == widget.readout_text(view)
        assert pixels(png) == pixels(png_bytes(widget.render(view)))


@pytest.mark.parametrize("stem, loss, css, values", [
    ("02_contrastive_loss", "contrastive", "contrastive", (0.0, 0.35, 2.0)),
    ("05_lifted_structured_loss", "lifted", "lifted", (0.5, 1.45)),
])
def test_a_playground_frame_is_the_widgets_picture_and_loss(built_site: BuiltSite, stem: str, loss: str, css: str,
                                                            values: tuple) -> None:
    apply_course_style()
    data = viewers(built_site, stem)[css]
    (control,) = data["controls"]
    assert control["name"] == "margin"
    slider = widgets.FloatSlider(value=control["values"][control["index"]], min=control["values"][0],
                                 max=control["values"][-1], step=0.05, description=control["label"])
    playground = loss_playground(loss, {"margin": slider}, css_prefix=css)
    points, labels = toy_batch()
    for margin in values:
        readout, png = frame_file(built_site, stem, data, (margin,))
        assert readout == f"loss = {loss_geometry(loss, points, labels, margin=margin).loss:.4f}"
        _, bundle = playground.render(points, labels, {"margin": margin})
        assert pixels(png) == pixels(png_bytes(bundle)), f"{stem} margin {margin}"


@pytest.mark.parametrize("stem", ["02_contrastive_loss", "03_triplet_loss_and_mining", "04_npair_loss",
                                  "05_lifted_structured_loss", "06_multi_similarity_loss", "08_embedding_expansion"])
def test_each_widget_notebook_has_a_kernel_free_viewer(built_site: BuiltSite, stem: str) -> None:
    found = viewers(built_site, stem)
    assert found, f"{stem}.html has no kernel-free viewer"
    if stem == "08_embedding_expansion":
        assert set(found) == {"ee", "hm"}
    for data in found.values():
        assert all(len(frame["images"]) >= 1 and frame["readout"] for frame in data["frames"].values())


def test_a_viewer_goes_to_the_cell_that_built_its_widget(tmp_path: Path) -> None:
    """In a real kernel: the frames' cell is the execution count of the cell that displayed the widget."""
    widget_cell = ("import numpy as np\nfrom eelib.course.heatmap_widget import build_heatmap_widget\n"
                   "m = np.random.default_rng(0).uniform(0.1, 1.0, (2, 2, 3, 3))\n"
                   "build_heatmap_widget(m, m, [0, 1], [0, 1], initial_n=1)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("# t"),
                                         nbformat.v4.new_code_cell(widget_cell),
                                         nbformat.v4.new_code_cell("print(x)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "src" / "00_probe.ipynb"
    source.parent.mkdir()
    nbformat.write(nb, source)
    target = tmp_path / "cache" / source.name
    build_site.execute(source, target, {"probe": "1"})
    (entry,) = json.loads((build_site.frames_dir(target) / "index.json").read_text())
    executed = nbformat.read(target, as_version=4)
    assert entry["id"] == "hm" and entry["cell"] == executed.cells[2].execution_count == 2
    assert build_site.is_fresh(target, {"probe": "1"})
