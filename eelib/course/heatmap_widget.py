"""The paper's heat-map figure, live (notebook 08): class × class hardest distances over training.

Two heat maps side by side, from recorded training runs: plain batch-hard triplet (the run
with ``n = 0``) and EE + batch-hard triplet trained with ``n`` synthetic points per pair.
Each map is a class × class matrix (:func:`eelib.diagnostics.class_distance_matrix`): off the
diagonal the distance of the closest pair between two classes, on the diagonal the largest
distance inside a class; in the paper's colours, red or yellow is near (a hard negative) and
blue far. A slider picks ``n`` (0–8), another the
epoch, a checkbox whether the EE run's maps include its synthetic points (what hard
negative pair mining sees) or only its originals (like with like).

The widget receives plain arrays (the experiments layer records them:
``eelib.experiments.training_heatmaps``); it never trains. The figure is drawn once; a
move restores its drawn background, redraws only the two images and their titles on it
(matplotlib's blitting) and encodes the pixels, well inside the 200 ms goal
(benchmarks/bench_widgets.py).
"""

from __future__ import annotations

import base64
import io
from typing import NamedTuple

from eelib._extras import require

require("notebooks", "ipywidgets", "IPython", by=__name__)

import ipywidgets as widgets
import matplotlib.image
import numpy as np
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from eelib.course.display import Bundle
from eelib.course.static_frames import Control, Frame, FrameSet, png_bytes, register
from eelib.course.style import DISTANCE_CMAP

class HeatmapView(NamedTuple):
    """What one position of the controls shows.

    Attributes
    ----------
    n : int
        Synthetic points per pair of the EE run.
    epoch : int
    synthetic : bool
        Whether the EE run's map includes its synthetic points.
    plain, ee : ndarray, shape (C, C)
        The two maps: plain triplet (originals), EE + triplet.
    plain_recall, ee_recall : float or None
        Recall@1 on unseen classes after that epoch, if recorded.
    """

    n: int
    epoch: int
    synthetic: bool
    plain: np.ndarray
    ee: np.ndarray
    plain_recall: float | None
    ee_recall: float | None


def mean_off_diagonal(matrix: np.ndarray) -> float:
    """Mean of the off-diagonal entries: the mean hardest-negative distance between two classes."""
    return float(matrix[~np.eye(len(matrix), dtype=bool)].mean())


class TrainingHeatmaps:
    """The widget. Controls and outputs carry CSS classes for the browser tests: ``hm-n-slider``,
    ``hm-epoch-slider``, ``hm-synthetic``, ``hm-readout``, ``hm-output``.

    Parameters
    ----------
    expanded, originals : ndarray, shape (R, E + 1, C, C)
        Per run (``n_values[r]``) and epoch, the class distance matrix over the expanded
        probe batch and over its originals. The run with ``n = 0`` is plain triplet.
    n_values : sequence of int, length R
        Must contain 0.
    epochs : sequence of int, length E + 1
        The epoch of each recorded matrix (0 = before training).
    classes : sequence of int, length C, optional
        Tick labels; ``0..C-1`` by default.
    recall_at_1 : ndarray, shape (R, E + 1), optional
        Recall@1 on unseen classes, shown in the readout.
    initial_n : int, default 2
    initial_epoch : int, optional
        Default: the last epoch.

    Raises
    ------
    ValueError
        If the shapes do not fit together, ``n_values`` lacks 0, or an initial value is
        not among the recorded ones.
    """

    def __init__(self, expanded: np.ndarray, originals: np.ndarray, n_values, epochs, classes=None,
                 recall_at_1: np.ndarray | None = None, *, initial_n: int = 2, initial_epoch: int | None = None
                 ) -> None:
        self.expanded, self.originals = np.asarray(expanded), np.asarray(originals)
        self.n_values = [int(n) for n in n_values]
        self.epochs = [int(e) for e in epochs]
        shape = (len(self.n_values), len(self.epochs))
        if self.expanded.ndim != 4 or self.expanded.shape[:2] != shape or self.originals.shape != self.expanded.shape \
                or self.expanded.shape[2] != self.expanded.shape[3]:
            raise ValueError(f"expanded and originals must both have shape (runs, epochs, C, C) = {shape} + (C, C), "
                             f"got {self.expanded.shape} and {self.originals.shape}")
        if 0 not in self.n_values:
            raise ValueError(f"n_values must contain 0 (the plain triplet run), got {self.n_values}")
        self.recall = None if recall_at_1 is None else np.asarray(recall_at_1)
        if self.recall is not None and self.recall.shape != shape:
            raise ValueError(f"recall_at_1 must have shape {shape}, got {self.recall.shape}")
        size = self.expanded.shape[2]
        self.classes = [str(c) for c in (range(size) if classes is None else classes)]
        if len(self.classes) != size:
            raise ValueError(f"classes must name the {size} rows of the matrices, got {len(self.classes)}")
        initial_epoch = self.epochs[-1] if initial_epoch is None else initial_epoch
        for name, value, allowed in (("initial_n", initial_n, self.n_values),
                                     ("initial_epoch", initial_epoch, self.epochs)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value}")

        self.n_slider = widgets.SelectionSlider(options=self.n_values, value=initial_n, description="n",
                                                continuous_update=False)
        self.epoch_slider = widgets.SelectionSlider(options=self.epochs, value=initial_epoch, description="epoch",
                                                    continuous_update=False)
        self.synthetic = widgets.Checkbox(value=True, description="EE maps include synthetic points", indent=False,
                                          layout=widgets.Layout(width="auto"))
        self.readout = widgets.Label()
        self.output = widgets.Output()
        for widget, css in ((self.n_slider, "hm-n-slider"), (self.epoch_slider, "hm-epoch-slider"),
                            (self.synthetic, "hm-synthetic"), (self.readout, "hm-readout"),
                            (self.output, "hm-output")):
            widget.add_class(css)
        self.widget = widgets.VBox([widgets.HBox([self.n_slider, self.epoch_slider, self.synthetic]), self.readout,
                                    self.output])
        self.figure, self._images, self._titles = self._build_figure()
        for control in (self.n_slider, self.epoch_slider, self.synthetic):
            control.observe(self.redraw, names="value")
        self.initial = (initial_n, initial_epoch)
        register(self.site_frames)
        self.redraw()

    def view(self, n: int, epoch: int, synthetic: bool = True) -> HeatmapView:
        """The two maps and Recall@1 values for one position of the controls."""
        run, step, plain_run = self.n_values.index(n), self.epochs.index(epoch), self.n_values.index(0)
        ee = (self.expanded if synthetic else self.originals)[run, step]
        recall = (None, None) if self.recall is None else (float(self.recall[plain_run, step]),
                                                            float(self.recall[run, step]))
        return HeatmapView(n, epoch, synthetic, self.originals[plain_run, step], ee, *recall)

    def readout_text(self, view: HeatmapView) -> str:
        """E.g. ``epoch 10 · n = 2 · mean hardest negative distance: triplet 0.924, EE + triplet 0.719 · ...``."""
        text = (f"epoch {view.epoch} · n = {view.n} · mean hardest negative distance between classes: "
                f"triplet {mean_off_diagonal(view.plain):.3f}, EE + triplet {mean_off_diagonal(view.ee):.3f}")
        if view.plain_recall is not None:
            text += f" · Recall@1 (unseen classes): {view.plain_recall:.3f} vs {view.ee_recall:.3f}"
        return text

    def _build_figure(self) -> tuple[Figure, list, list]:
        """The kept figure: two images with class ticks and one colour bar, drawn once.

        The drawn figure without the images and titles is kept as the background that
        every :meth:`render` restores.
        """
        fig = Figure(figsize=(8.6, 4.2))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        empty = np.zeros((len(self.classes), len(self.classes)))
        images, titles = [], []
        vmax = float(max(self.expanded.max(), self.originals.max()))  # one scale for every position
        for ax in axes:
            images.append(ax.imshow(empty, cmap=DISTANCE_CMAP, vmin=0.0, vmax=vmax, interpolation="nearest",
                                    animated=True))
            ticks = np.arange(len(self.classes))
            ax.set_xticks(ticks, self.classes, fontsize=7)
            ax.set_yticks(ticks, self.classes, fontsize=7)
            ax.set_xlabel("class")
            ax.grid(False)
            titles.append(ax.set_title("", animated=True))
        axes[0].set_ylabel("class")
        bar = fig.colorbar(images[1], ax=list(axes), fraction=0.025, pad=0.03,
                           label="hardest distance (off-diagonal: negatives)")
        bar.locator = MaxNLocator(5)
        bar.update_ticks()
        fig.subplots_adjust(left=0.07, right=0.86, top=0.88, bottom=0.12, wspace=0.25)  # fixed layout
        fig.canvas.draw()  # animated artists (images, titles) are left out of this drawing
        self._background = fig.canvas.copy_from_bbox(fig.bbox)
        return fig, images, titles

    def render(self, view: HeatmapView) -> Bundle:
        """Draw ``view`` on the kept background and encode the pixels as a PNG bundle."""
        canvas = self.figure.canvas
        canvas.restore_region(self._background)
        self._images[0].set_data(view.plain)
        self._images[1].set_data(view.ee)
        self._titles[0].set_text(f"triplet (batch-hard), epoch {view.epoch}")
        over = "originals and synthetic points" if view.synthetic and view.n else "originals"
        self._titles[1].set_text(f"EE (n = {view.n}) + triplet, epoch {view.epoch}\nover {over}")
        for artist in (*self._images, *self._titles):
            artist.axes.draw_artist(artist)
        png = io.BytesIO()
        matplotlib.image.imsave(png, np.asarray(canvas.buffer_rgba()), format="png")
        return {"image/png": base64.b64encode(png.getvalue()).decode("ascii"), "text/plain": repr(self.figure)}, {}

    def site_frames(self) -> FrameSet:
        """Every position of the controls (n, epoch, synthetic) for the course site: what :meth:`redraw` shows."""
        controls = (Control("n", "n", "range", tuple(self.n_values), self.initial[0]),
                    Control("epoch", "epoch", "range", tuple(self.epochs), self.initial[1]),
                    Control("synthetic", self.synthetic.description, "checkbox", (False, True), True))
        frames = {}
        for n in self.n_values:
            for epoch in self.epochs:
                for synthetic in (False, True):
                    view = self.view(n, epoch, synthetic)
                    frames[(n, epoch, synthetic)] = Frame(self.readout_text(view), (png_bytes(self.render(view)),))
        return FrameSet("hm", controls, frames)

    def redraw(self, change: object = None) -> None:
        """Show the current position of the controls (the controls' callback)."""
        view = self.view(self.n_slider.value, self.epoch_slider.value, self.synthetic.value)
        self.readout.value = self.readout_text(view)
        data, metadata = self.render(view)
        with self.output:
            self.output.clear_output(wait=True)
            display(data, metadata=metadata, raw=True)

    def _ipython_display_(self) -> None:
        display(self.widget)


def build_heatmap_widget(expanded: np.ndarray, originals: np.ndarray, n_values, epochs, classes=None,
                         recall_at_1: np.ndarray | None = None, **initial: int) -> TrainingHeatmaps:
    """Build the widget (see :class:`TrainingHeatmaps`); display the result to show it."""
    return TrainingHeatmaps(expanded, originals, n_values, epochs, classes, recall_at_1, **initial)


__all__ = ["HeatmapView", "TrainingHeatmaps", "build_heatmap_widget", "mean_off_diagonal"]
