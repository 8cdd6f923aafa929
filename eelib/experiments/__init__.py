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
loading
    P × K batches through a DataLoader (worker processes, pinned memory), generated image folders.
distributed
    Training under torchrun with DistributedDataParallel, each rank its own P × K batches.
generators
    A minimal DAML-style generator baseline, to time EE against.
timing
    Timing helpers.
runner
    ``python -m eelib.experiments``: the paper's protocol offline, and on benchmark folders.
"""
