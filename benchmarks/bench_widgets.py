"""Time the widget callbacks of the course: the EE explorer, the heat-map widget and the loss playgrounds.

Run by hand from the repository root (never collected by pytest)::

    .venv/bin/python benchmarks/bench_widgets.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_widgets.py --rounds 1 # one timed pass, about 1 minute

A *callback* is everything a control change costs in the kernel: the widget's pure update
function (computation and matplotlib drawing) plus the PNG encoding of its figures
(:func:`eelib.course.display.png_bundle`, one drawing pass, as both widgets do). Sending the PNG to
the browser is not included.
The kernel is reproduced: an IPython shell with matplotlib-inline's formatters, one torch
thread, the course's matplotlib style.

- EE explorer (notebook 08): the real callback (a slider move on an
  :class:`eelib.course.explorer.Explorer`) for n = 0..8, with and without normalisation,
  on both batches. *First visit*: the state is computed and rendered
  (:func:`eelib.course.explorer.update` plus PNG encoding of both figures); *revisit*: the
  explorer re-sends the frame it kept (sending it to the browser over the widget comm is
  not included). Also timed once: rendering all 36 states up front (``precompute=True``).
- Heat-map widget (notebook 08): the real callback of a move of the n slider (every n at
  three epochs) and of the epoch slider (every epoch at three n), on the committed runs
  of :mod:`eelib.experiments.training_heatmaps`.
- Loss playgrounds (notebooks 03 and 06, if :mod:`eelib.course.playground` exists):
  ``Playground.update`` plus ``png_bundle``, as ``Playground.redraw`` does, for
  batch-hard/semi-hard/all triplet over a margin sweep, and multi-similarity over sweeps
  of each of its four hyperparameters, with the controls the notebooks use.

The settings are visited round-robin (every setting once per round), so that load from
other processes hits them alike. Prints a Markdown table (median and p90 per widget, in
ms; goal: median <= 200 ms) and writes it to ``benchmarks/results/widgets.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from matplotlib_inline.backend_inline import configure_inline_support  # noqa: E402

from eelib.course.display import png_bundle  # noqa: E402
from eelib.course.explorer import BATCHES, MAX_N, Explorer  # noqa: E402
from eelib.course.heatmap_widget import TrainingHeatmaps, build_heatmap_widget  # noqa: E402
from eelib.course.style import apply_course_style  # noqa: E402
from eelib.experiments.training_heatmaps import load_training_heatmaps  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_MS = 200.0
EXPLORER = "EE explorer (nb 08), first visit of a state"
EXPLORER_REVISIT = "EE explorer (nb 08), revisit of a state"
HEATMAP_N = "heat-map widget (nb 08), n slider"
HEATMAP_EPOCH = "heat-map widget (nb 08), epoch slider"


class Callback(NamedTuple):
    """A control change to time, after an untimed ``prepare`` (None: nothing to prepare)."""

    prepare: Callable[[], None] | None
    run: Callable[[], None]


def kernel_like_shell() -> InteractiveShell:
    """An IPython shell whose display formatter renders figures as the inline backend does."""
    shell = InteractiveShell.instance()
    configure_inline_support(shell, "inline")
    return shell


def show(fig: plt.Figure) -> None:
    """Encode a figure as the playground's redraw does, then close it."""
    png_bundle(fig)
    plt.close(fig)


def explorer_callbacks(explorer: Explorer, *, first_visit: bool) -> dict[str, Callback]:
    """One slider move per explorer state (n = 0..MAX_N, normalisation on and off, both batches).

    The untimed preparation parks the slider away from n and sets the toggle and the
    batch; ``first_visit`` also drops the frame the explorer kept for the state.
    """

    def callback(n: int, normalize: bool, batch: str) -> Callback:
        def prepare() -> None:
            explorer.slider.value = MAX_N if n != MAX_N else 0
            explorer.toggle.value = normalize
            explorer.batch.value = batch
            if first_visit:
                explorer.frames.pop((n, normalize, batch), None)

        def run() -> None:
            explorer.slider.value = n

        return Callback(prepare, run)

    return {f"n={n}, normalize={normalize}, {batch}": callback(n, normalize, batch)
            for batch in BATCHES for normalize in (True, False) for n in range(MAX_N + 1)}


def heatmap_callbacks(widget: TrainingHeatmaps, slider: str) -> dict[str, Callback]:
    """Moves of one slider of the heat-map widget: to every value, at three values of the other."""
    moved, other = (widget.n_slider, widget.epoch_slider) if slider == "n" else (widget.epoch_slider, widget.n_slider)
    others = [other.options[0], other.options[len(other.options) // 2], other.options[-1]]

    def callback(value: int, fixed: int) -> Callback:
        def prepare() -> None:
            other.value = fixed
            moved.value = moved.options[0] if value != moved.options[0] else moved.options[-1]

        def run() -> None:
            moved.value = value

        return Callback(prepare, run)

    name = "epoch" if slider == "n" else "n"
    return {f"{slider}={value}, {name}={fixed}": callback(value, fixed) for fixed in others for value in moved.options}


def playground_callbacks() -> dict[str, dict[str, Callback]]:
    """Callbacks of the triplet and MS playgrounds, built as notebooks 03 and 06 build them."""
    import ipywidgets as widgets

    from eelib.course.playground import loss_playground

    triplet = loss_playground("triplet", {
        "margin": widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.05),
        "mining": widgets.Dropdown(options=["all", "semihard", "hardest"], value="hardest"),
        "squared": widgets.Checkbox(value=False),
    }, css_prefix="triplet")
    ms = loss_playground("multi_similarity", {
        "alpha": widgets.FloatSlider(value=2.0, min=0.5, max=10.0, step=0.5),
        "beta": widgets.FloatSlider(value=50.0, min=1.0, max=60.0, step=1.0),
        "base": widgets.FloatSlider(value=0.5, min=-0.5, max=1.0, step=0.05),
        "epsilon": widgets.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.05),
    }, css_prefix="ms")

    def callback(playground, **values: object) -> Callback:
        def run() -> None:
            _, fig = playground.update(**values)
            show(fig)
        return Callback(None, run)

    triplet_settings = {f"{mining}, margin={m:.2f}": {"margin": m, "mining": mining, "squared": False}
                        for mining in ("all", "semihard", "hardest") for m in (0.0, 0.1, 0.2, 0.5, 1.0)}
    defaults = {"alpha": 2.0, "beta": 50.0, "base": 0.5, "epsilon": 0.1}
    sweeps = {"alpha": (0.5, 2.0, 10.0), "beta": (1.0, 50.0, 60.0), "base": (-0.5, 0.5, 1.0),
              "epsilon": (0.0, 0.1, 1.0)}
    ms_settings = {f"{name}={value}": {**defaults, name: value} for name, values in sweeps.items() for value in values}
    return {
        "loss playground: triplet (nb 03)": {k: callback(triplet, **v) for k, v in triplet_settings.items()},
        "loss playground: multi-similarity (nb 06)": {k: callback(ms, **v) for k, v in ms_settings.items()},
    }


class Timing(NamedTuple):
    """Milliseconds of one call: wall clock, and CPU time of this process."""

    wall_ms: float
    cpu_ms: float


def time_round_robin(callbacks: dict[str, Callback], rounds: int) -> dict[str, list[Timing]]:
    """Timings of every call per setting: one warm-up pass, then ``rounds`` passes over all settings."""
    times: dict[str, list[Timing]] = {label: [] for label in callbacks}
    for round_index in range(rounds + 1):
        for label, (prepare, run) in callbacks.items():
            if prepare is not None:
                prepare()
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            if round_index > 0:
                times[label].append(Timing(1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)))
    return times


def p90(values: list[float]) -> float:
    """The 90th percentile, interpolating between order statistics (the maximum below 10 values)."""
    if len(values) < 10:
        return max(values)
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def ms(value: float) -> str:
    """Milliseconds with one decimal, two below 1 ms."""
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def table(results: dict[str, dict[str, list[Timing]]]) -> list[str]:
    """Markdown rows: per widget, all calls pooled over its settings, and its slowest setting."""
    lines = ["| widget | settings | calls | median ms (wall) | p90 ms (wall) | median ms (CPU) | p90 ms (CPU) "
             f"| slowest setting, median wall ms | goal: median <= {GOAL_MS:.0f} ms (wall) |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, per_setting in results.items():
        wall = [t.wall_ms for values in per_setting.values() for t in values]
        cpu = [t.cpu_ms for values in per_setting.values() for t in values]
        slowest = max(per_setting, key=lambda label: statistics.median(t.wall_ms for t in per_setting[label]))
        slowest_ms = statistics.median(t.wall_ms for t in per_setting[slowest])
        median = statistics.median(wall)
        lines.append(f"| {name} | {len(per_setting)} | {len(wall)} | {ms(median)} | {ms(p90(wall))} "
                     f"| {ms(statistics.median(cpu))} | {ms(p90(cpu))} | {slowest} ({ms(slowest_ms)}) "
                     f"| {'met' if median <= GOAL_MS else 'MISSED'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over all settings per widget (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS / "widgets.md", help="Markdown file to write")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    torch.set_num_threads(1)
    apply_course_style()
    kernel_like_shell()

    with contextlib.redirect_stdout(io.StringIO()):  # outside a kernel, display() prints
        explorer = Explorer()
        runs = load_training_heatmaps()
        heatmaps = build_heatmap_widget(runs.expanded, runs.originals, runs.n_values, runs.epochs, runs.classes,
                                        runs.recall_at_1)
        widgets_to_time = {EXPLORER: explorer_callbacks(explorer, first_visit=True),
                           EXPLORER_REVISIT: explorer_callbacks(explorer, first_visit=False),
                           HEATMAP_N: heatmap_callbacks(heatmaps, "n"),
                           HEATMAP_EPOCH: heatmap_callbacks(heatmaps, "epoch")}
        if importlib.util.find_spec("eelib.course.playground") is not None:
            widgets_to_time.update(playground_callbacks())
        results = {name: time_round_robin(callbacks, args.rounds) for name, callbacks in widgets_to_time.items()}
        wall, cpu = time.perf_counter(), time.process_time()
        Explorer(precompute=True)
        precompute_wall_s, precompute_cpu_s = time.perf_counter() - wall, time.process_time() - cpu

    lines = [
        "# Widget callback times",
        "",
        f"{datetime.date.today()}, {platform.machine()} ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end), {platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__} (1 thread), matplotlib {matplotlib.__version__}; {args.rounds} round(s) "
        "after a warm-up pass. A call = the widget's update function (computation + drawing) + PNG "
        "encoding of its figures in one drawing pass (`eelib.course.display.png_bundle`, as the widgets do; "
        "EE explorer: the whole slider callback). "
        "Wall time includes waiting for a CPU on a shared machine; CPU time is this process's own "
        "work, close to what a call costs on an idle core.",
        "",
        *table(results),
        "",
        f"Rendering all {2 * len(BATCHES) * (MAX_N + 1)} explorer states up front (`precompute=True`) took "
        f"{precompute_wall_s:.1f} s wall ({precompute_cpu_s:.1f} s CPU); notebook 08 does this when its cell "
        "runs (outside CI), so every slider move in class is a revisit.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
