"""The experiments layer: training, models, image data sets, a generator baseline, the runner.

Needs the ``experiments`` extra (``pip install "eelib[experiments]"``; importing this
package checks its packages are there and names the extra when one is not). It builds on the
core (:mod:`eelib.losses`, :mod:`eelib.metrics`, :mod:`eelib.data`, …) and draws its
figures with :mod:`eelib.course.figures`, but never imports a widget.

Modules
-------
train
    One training loop for every loss, with or without EE (:func:`~eelib.experiments.train.fit`).
models
    Small embedding networks and a pretrained image backbone.
datasets
    Loaders for the CUB-200-2011, CARS196 and Stanford Online Products folders.
glyphs
    Characters rendered from matplotlib's fonts: an offline image data set of real material.
loading
    P × K batches through a DataLoader (worker processes, pinned memory), generated image folders.
distributed
    Training under torchrun with DistributedDataParallel, each rank its own P × K batches.
generators
    A minimal DAML-style generator baseline, to time and train EE against.
protocol
    What the experiments run: data sets, the paper's loss rows, EE's variants, one run.
analyses
    Measurements of the paper's analyses (chance baselines, synthetic labels, occlusion, …).
inference
    Paired differences over seeds, the one verdict rule, and its correction for multiplicity.
tables
    The tidy tables (``per_seed.csv``, ``paired.csv``, …), built, written, read and paired.
report
    ``results.md``, its verdict sentences and figures, generated from the tables.
costs, memory, timing
    Time and peak memory of EE against training without it and against a generator.
runner
    ``python -m eelib.experiments``: the paired grid offline, and on benchmark folders.
training_heatmaps
    The short recorded training runs behind notebook 08's live heat maps.
"""

from importlib import resources
from importlib.resources.abc import Traversable

from eelib._extras import require

require("experiments", "matplotlib", "seaborn", "tqdm", "PIL", "umap", by=__name__)


def committed_results() -> Traversable:
    """The committed results of ``python -m eelib.experiments``, shipped as package data.

    The one way the notebooks find them, in a checkout, an installed wheel or on Colab.

    Returns
    -------
    importlib.resources.abc.Traversable
        The ``results`` folder of :mod:`eelib.experiments`; read files with
        ``(committed_results() / "results.md").read_text()``.

    Examples
    --------
    >>> (committed_results() / "summary.json").is_file()
    True
    """
    return resources.files(__name__) / "results"
