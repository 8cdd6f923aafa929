"""The course as a student uses it: JupyterLab in headless Chromium, Run All, then the keyboard.

The notebooks with widgets (00, 03, 06, 08) are opened in JupyterLab, run with Run All
and must finish without an error output; a screenshot of each lands in ``SCREENSHOT_DIR``
(``docs/screenshots/`` only with ``EELIB_SCREENSHOTS=1``, i.e. ``./course test
--screenshots``; a temporary folder otherwise). Their widgets are then moved with the
keyboard (or a dropdown), and the figures and labels must follow, with the numbers the
widget shows checked against ``eelib`` computed here. The other notebooks run in
JupyterLab once, in ``test_binder_session.py`` (Run All without an error, and their
screenshots). A probe notebook first proves that the harness notices errors and changed images.

Needs Debian's Chromium (``/usr/bin/chromium``): skipped without it, failed without it
when ``CI=true``. Server, browser and page fixtures live in ``browser_support.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from browser_support import page  # noqa: F401  (a pytest fixture, used by name; the session ones are in conftest)
from browser_support import (
    FIGURE_SELECTOR,
    NOTEBOOK_DIR,
    SCREENSHOT_DIR,
    LabServer,
    assert_same_picture,
    error_outputs,
    image_src,
    kernel_stdout,
    open_notebook,
    png_size,
    press_on_slider,
    run_all_cells,
    save_region_screenshot,
    save_screenshot,
    scroll_into_view,
    text_of,
    wait_for_new_image,
    windowing_mode,
)
from eelib.diagnostics import loss_geometry
from eelib.course.explorer import explore
from eelib.course.heatmap_widget import mean_off_diagonal
from eelib.data import toy_batch
from eelib.experiments.training_heatmaps import load_training_heatmaps

pytestmark = pytest.mark.browser

DEFAULT_BUDGET_S = 60.0

#: Notebooks with a widget test below; each of those tests also runs its whole notebook.
WIDGET_NOTEBOOKS = {
    "00_course_tour.ipynb": ("tour-slider", "tour-readout"),
    "03_triplet_loss_and_mining.ipynb": ("triplet-margin", "triplet-mining", "triplet-output",
                                         "triplet-loss-value"),
    "06_multi_similarity_loss.ipynb": ("ms-alpha", "ms-beta", "ms-base", "ms-epsilon", "ms-output",
                                       "ms-loss-value"),
    "08_embedding_expansion.ipynb": ("ee-n-slider", "ee-normalize", "ee-batch", "ee-view-2d", "ee-heatmap",
                                     "ee-readout", "hm-n-slider", "hm-epoch-slider", "hm-synthetic", "hm-readout",
                                     "hm-output"),
}
LOSS_LABEL = re.compile(r"^loss = (-?\d+\.\d{4})$")
EE_READOUT = re.compile(r"^n = (\d+) · loss = (\d+\.\d{4}) · pushed originals: (\d+) of 12 · "
                        r"hardest negatives with a synthetic end: (\d+) of 12$")
HM_READOUT = re.compile(r"^epoch (\d+) · n = (\d+) · mean hardest negative distance between classes: "
                        r"triplet (\d+\.\d{3}), EE \+ triplet (\d+\.\d{3})")
EE_DRAWERS = {"ee-view-2d": "draw_view", "ee-heatmap": "draw_heatmap"}


# --- helpers -------------------------------------------------------------------------------

def run_timeout_s(name: str) -> float:
    """Three times the notebook's declared time budget (as the execution test allows)."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    return 3 * float(nb.metadata.get("eelib", {}).get("cpu_budget_s", DEFAULT_BUDGET_S))


def run_notebook_cleanly(page: Any, server: LabServer, name: str) -> None:
    """Open and Run All ``name``; assert every code cell ran without an error; screenshot it."""
    open_notebook(page, server, name)
    result = run_all_cells(page, run_timeout_s(name))
    errors = error_outputs(page)
    assert not errors, f"{name} shows errors in JupyterLab:\n" + "\n\n".join(errors)
    assert result.state["executed"] == result.state["code"], f"{name}: not every code cell ran: {result.state}"
    scroll_into_view(page, FIGURE_SELECTOR)
    save_screenshot(page, SCREENSHOT_DIR / name.replace(".ipynb", ".png"))


def assert_written(name: str) -> None:
    """A notebook the browser tests look for must exist: a missing one is a regression, not a skip."""
    assert (NOTEBOOK_DIR / name).is_file(), f"notebooks/{name} is missing"


def assert_widgets(page: Any, name: str) -> None:
    """After the notebook ran cleanly, the agreed widget CSS classes must be on the page."""
    missing = [css for css in WIDGET_NOTEBOOKS[name] if page.locator(f".{css}").count() == 0]
    assert not missing, f"{name} ran cleanly but lacks the widget classes {missing}"


def wait_for_text_change(page: Any, selector: str, old: str, timeout_s: float = 30.0) -> str:
    """Wait until the text of ``selector`` differs from ``old``; return the new text."""
    page.wait_for_function("([sel, old]) => document.querySelector(sel).textContent.trim() !== old",
                           arg=[selector, old], timeout=timeout_s * 1000)
    return text_of(page, selector)


def kernel_png(page: Any, figure: str, setup: str = "",
               encoder: str = "get_ipython().display_formatter.format") -> str:
    """The PNG data URL of the figure that the expression ``figure`` makes in the notebook's kernel.

    ``encoder`` turns the figure into a (data, metadata) bundle: by default IPython's display
    formatter, as ``display(fig)`` encodes it; the EE explorer's widget uses
    ``eelib.course.display.png_bundle``. ``setup`` runs first (imports).
    """
    code = (
        f"{setup}\nimport matplotlib.pyplot as plt\nfrom IPython import get_ipython\n"
        f"fig = {figure}\n"
        f"print('data:image/png;base64,' + {encoder}(fig)[0]['image/png'], end='')\n"
        "plt.close(fig)\n"
    )
    return kernel_stdout(page, code).strip()


def loss_label(page: Any, css: str) -> float:
    text = text_of(page, f".{css}")
    match = LOSS_LABEL.match(text)
    assert match, f"the .{css} label reads {text!r}, expected 'loss = 0.1234'"
    return float(match.group(1))


def slider_value(page: Any, css: str) -> float:
    """The number in a slider's readout (what the student sees next to the handle)."""
    return float(text_of(page, f".{css} .widget-readout"))


def is_checked(page: Any, css: str, default: bool) -> bool:
    """The state of the checkbox with this CSS class, or ``default`` when there is none."""
    box = page.locator(f".{css} input[type=checkbox]")
    return box.is_checked() if box.count() else default


def probe_notebook() -> nbformat.NotebookNode:
    """A notebook with a slider redrawing a matplotlib figure, then a cell that fails."""
    redraw = (
        "import ipywidgets as widgets\n"
        "import matplotlib.pyplot as plt\n"
        "from IPython.display import display\n\n"
        "slider = widgets.IntSlider(value=2, min=0, max=10, continuous_update=False)\n"
        "slider.add_class('probe-slider')\n"
        "out = widgets.Output()\n"
        "out.add_class('probe-output')\n\n\n"
        "def figure(k):\n"
        "    fig, ax = plt.subplots(figsize=(3, 2))\n"
        "    ax.plot(range(k + 2))\n"
        "    return fig\n\n\n"
        "def draw(change=None):\n"
        "    fig = figure(slider.value)\n"
        "    with out:\n"
        "        out.clear_output(wait=True)\n"
        "        display(fig)\n"
        "    plt.close(fig)\n\n\n"
        "slider.observe(draw, names='value')\n"
        "draw()\n"
        "widgets.VBox([slider, out])"
    )
    cells = [new_markdown_cell("# Browser-test probe"), new_code_cell(redraw),
             new_code_cell("raise ValueError('deliberate probe error')"), new_code_cell("print('unreachable')")]
    kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": kernelspec})


# --- tests ---------------------------------------------------------------------------------

def test_harness_sees_errors_and_widget_changes(page: Any, lab_server: LabServer, tmp_path: Path) -> None:
    """The detectors the other tests rely on fire: an error output, a new image, a readout."""
    nbformat.write(probe_notebook(), lab_server.root / "browser_probe.ipynb")
    open_notebook(page, lab_server, "browser_probe.ipynb")
    assert windowing_mode(page) == "none", "the test settings did not reach JupyterLab"
    result = run_all_cells(page, 120)
    assert result.state["executed"] == 2, "Run All must stop at the failing cell"
    errors = error_outputs(page)
    assert errors and "ValueError: deliberate probe error" in errors[0]
    assert any("Traceback" in e for e in errors[1:]), "the rendered traceback was not found on the page"
    before = image_src(page, "probe-output")
    with pytest.raises(AssertionError, match="broken"):
        png_size(before[: len(before) // 2])
    press_on_slider(page, "probe-slider", "ArrowRight")
    after = wait_for_new_image(page, "probe-output", before)
    assert slider_value(page, "probe-slider") == 3
    redrawn = kernel_png(page, "figure(3)")
    assert_same_picture(after, redrawn, "probe-k3", tmp_path)
    with pytest.raises(AssertionError, match="differs"):
        assert_same_picture(before, redrawn, "probe-k2-vs-k3", tmp_path)


def test_course_tour_slider(page: Any, lab_server: LabServer) -> None:
    name = "00_course_tour.ipynb"
    assert_written(name)
    run_notebook_cleanly(page, lab_server, name)
    assert_widgets(page, name)
    k, old = int(slider_value(page, "tour-slider")), text_of(page, ".tour-readout")
    press_on_slider(page, "tour-slider", "ArrowRight")
    assert wait_for_text_change(page, ".tour-readout", old) == f"the slider says n = {k + 1}; n² = {(k + 1) ** 2}"
    assert slider_value(page, "tour-slider") == k + 1


def test_triplet_playground(page: Any, lab_server: LabServer) -> None:
    name = "03_triplet_loss_and_mining.ipynb"
    assert_written(name)
    run_notebook_cleanly(page, lab_server, name)
    assert_widgets(page, name)
    points, labels = toy_batch()

    def expected_loss() -> float:
        mining = page.locator(".triplet-mining select").input_value()
        return loss_geometry("triplet", points, labels, margin=slider_value(page, "triplet-margin"),
                             mining=mining, squared=is_checked(page, "triplet-squared", False)).loss

    scroll_into_view(page, ".triplet-margin")
    image, loss = image_src(page, "triplet-output"), loss_label(page, "triplet-loss-value")
    assert loss == pytest.approx(expected_loss(), abs=5e-5)
    press_on_slider(page, "triplet-margin", "ArrowRight")
    image = wait_for_new_image(page, "triplet-output", image)
    wait_for_text_change(page, ".triplet-loss-value", f"loss = {loss:.4f}")
    new_loss = loss_label(page, "triplet-loss-value")
    assert new_loss == pytest.approx(expected_loss(), abs=5e-5)
    current = page.locator(".triplet-mining select").input_value()
    other = next(o for o in ("all", "semihard", "hardest") if o != current)
    page.locator(".triplet-mining select").select_option(other)
    wait_for_new_image(page, "triplet-output", image)
    wait_for_text_change(page, ".triplet-loss-value", f"loss = {new_loss:.4f}")
    assert loss_label(page, "triplet-loss-value") == pytest.approx(expected_loss(), abs=5e-5)


def test_multi_similarity_playground(page: Any, lab_server: LabServer) -> None:
    name = "06_multi_similarity_loss.ipynb"
    assert_written(name)
    run_notebook_cleanly(page, lab_server, name)
    assert_widgets(page, name)
    points, labels = toy_batch()

    def expected_loss() -> float:
        values = {key: slider_value(page, f"ms-{key}") for key in ("alpha", "beta", "base", "epsilon")}
        return loss_geometry("multi_similarity", points, labels, **values).loss

    scroll_into_view(page, ".ms-alpha")
    image, loss = image_src(page, "ms-output"), loss_label(page, "ms-loss-value")
    assert loss == pytest.approx(expected_loss(), abs=5e-5)
    press_on_slider(page, "ms-alpha", "ArrowRight")
    wait_for_new_image(page, "ms-output", image)
    wait_for_text_change(page, ".ms-loss-value", f"loss = {loss:.4f}")
    assert loss_label(page, "ms-loss-value") == pytest.approx(expected_loss(), abs=5e-5)


def test_embedding_expansion_n_slider_and_heat_maps(page: Any, lab_server: LabServer, tmp_path: Path) -> None:
    name = "08_embedding_expansion.ipynb"
    assert_written(name)
    run_notebook_cleanly(page, lab_server, name)
    assert_widgets(page, name)
    scroll_into_view(page, ".ee-n-slider")
    n_before = int(slider_value(page, "ee-n-slider"))
    view, heatmap = image_src(page, "ee-view-2d"), image_src(page, "ee-heatmap")
    press_on_slider(page, "ee-n-slider", "ArrowRight")
    new_view = wait_for_new_image(page, "ee-view-2d", view)
    new_heatmap = wait_for_new_image(page, "ee-heatmap", heatmap)
    assert new_view != view and new_heatmap != heatmap
    n = int(slider_value(page, "ee-n-slider"))
    assert n == n_before + 1, "ArrowRight on the focused handle must move n by one step"
    page.wait_for_function("([sel, n]) => document.querySelector(sel).textContent.startsWith(`n = ${n} `)",
                           arg=[".ee-readout", n])
    readout = text_of(page, ".ee-readout")
    match = EE_READOUT.match(readout)
    assert match, f"the readout reads {readout!r}, expected 'n = 3 · loss = 0.1234 · pushed originals: ...'"
    assert int(match.group(1)) == n, f"the readout says n = {match.group(1)}, the slider {n}"
    normalize = is_checked(page, "ee-normalize", True)
    batch = page.locator(".ee-batch select").input_value()
    state = explore(n, normalize, batch)
    assert float(match.group(2)) == pytest.approx(state.geometry.loss, abs=5e-5)
    assert int(match.group(3)) == state.pushed
    for css, shown in (("ee-view-2d", new_view), ("ee-heatmap", new_heatmap)):
        redrawn = kernel_png(page, f"{EE_DRAWERS[css]}(explore({n}, {normalize}, {batch!r}))",
                             setup="from eelib.course.explorer import draw_heatmap, draw_view, explore\n"
                                   "from eelib.course.display import png_bundle", encoder="png_bundle")
        assert_same_picture(shown, redrawn, f"{css}-n{n}", tmp_path)
    # The readout label lies between the controls and the figures but spans the full width.
    widget_area = [f".{css}" for css in ("ee-n-slider", "ee-normalize", "ee-batch", "ee-view-2d", "ee-heatmap")]
    save_region_screenshot(page, widget_area, SCREENSHOT_DIR / "08_n_slider.png")

    # The paper's heat maps: the n slider moves the EE map, the readout follows the recorded runs.
    scroll_into_view(page, ".hm-n-slider")
    image, old = image_src(page, "hm-output"), text_of(page, ".hm-readout")
    press_on_slider(page, "hm-n-slider", "ArrowRight")
    wait_for_new_image(page, "hm-output", image)
    match = HM_READOUT.match(wait_for_text_change(page, ".hm-readout", old))
    assert match, f"the heat-map readout reads {text_of(page, '.hm-readout')!r}"
    epoch, n = int(match.group(1)), int(match.group(2))
    assert n == int(slider_value(page, "hm-n-slider")) == 3  # the widget starts at n = 2
    runs = load_training_heatmaps()
    run = list(runs.n_values).index(n)
    assert float(match.group(3)) == pytest.approx(mean_off_diagonal(runs.originals[0, epoch]), abs=5e-4)
    assert float(match.group(4)) == pytest.approx(mean_off_diagonal(runs.expanded[run, epoch]), abs=5e-4)
    save_region_screenshot(page, [".hm-n-slider", ".hm-epoch-slider", ".hm-output"],
                           SCREENSHOT_DIR / "08_heat_maps.png")
