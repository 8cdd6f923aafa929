"""The experiments layer: training, models, image data sets, a generator baseline, the runner.

Needs the ``experiments`` extra (``pip install "eelib[experiments]"``). It builds on the
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
generators
    A minimal DAML-style generator baseline, to time EE against.
timing
    Timing helpers.
runner
    ``python -m eelib.experiments``: the paper's protocol offline, and on benchmark folders.
training_heatmaps
    The short recorded training runs behind notebook 08's live heat maps.
"""

from importlib import resources
from importlib.resources.abc import Traversable


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
