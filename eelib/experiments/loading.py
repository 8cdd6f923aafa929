"""Feeding P × K batches of images: a DataLoader with worker processes, and generated image folders.

:func:`fit` gathers a batch item by item in the training process when it is given ``x``;
for images that means decoding and augmenting every image there, between two optimiser
steps. :func:`pk_loader` hands the same P × K batches (:class:`eelib.data.PKSampler`, the
official EE layout) to a :class:`torch.utils.data.DataLoader`: ``workers`` processes decode
and transform the next batches while the model trains, and ``pin_memory`` puts them in
page-locked memory, from which the copy to a GPU is asynchronous. Pass the loader to
``fit(..., batches=endless(loader))``.

:func:`write_image_folder` writes a small data set in the layout of Stanford Online Products
(``Ebay_train.txt``, ``Ebay_test.txt`` and JPEG files), readable by
:func:`eelib.experiments.benchmark_folders.load_benchmark`, so that the image pipeline, multi-process
training and the GPU check run without downloading anything. benchmarks/bench_data.py
measures images per second on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from eelib._validation import as_label_tensor, validate_positive_int
from eelib.data import PKSampler


def pk_loader(
    dataset: Dataset | tuple[Tensor, Tensor],
    labels: Tensor | None = None,
    *,
    classes_per_batch: int,
    samples_per_class: int,
    seed: int = 0,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
) -> DataLoader:
    """A DataLoader of P × K batches: worker processes, optionally pinned memory.

    Parameters
    ----------
    dataset : Dataset or (inputs, labels)
        Items ``(input, label)``, e.g. :class:`eelib.experiments.benchmark_folders.ImageListDataset`;
        a pair of tensors is wrapped in a :class:`~torch.utils.data.TensorDataset`.
    labels : Tensor, optional
        The label of every item, for the sampler; default: ``dataset.labels`` (as
        ``ImageListDataset`` has) or the second tensor of the pair.
    classes_per_batch, samples_per_class : int
        P and K of :class:`eelib.data.PKSampler`.
    seed : int, default 0
        Seeds the sampler and the workers' random generators (each worker's torch seed is
        drawn from it, so random augmentations are reproducible for a given ``workers``).
    workers : int, default 0
        Worker processes; 0 loads in the calling process.
    pin_memory : bool, default False
        Return batches in page-locked memory (useful only when training on a GPU).
    prefetch_factor : int, default 2
        Batches each worker prepares in advance.

    Returns
    -------
    DataLoader
        Yields ``(inputs, labels)``: each class a contiguous block of K items. One pass is
        one epoch of the sampler; see :func:`endless`.
    """
    if isinstance(dataset, tuple):
        inputs, pair_labels = dataset
        dataset = TensorDataset(inputs, as_label_tensor(pair_labels))
        labels = pair_labels if labels is None else labels
    if labels is None:
        labels = getattr(dataset, "labels", None)
        if labels is None:
            raise ValueError("labels is needed: the dataset has no .labels attribute to read them from")
    workers = int(workers)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    sampler = PKSampler(labels, classes_per_batch, samples_per_class, seed=seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=bool(pin_memory),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
        prefetch_factor=validate_positive_int("prefetch_factor", prefetch_factor) if workers > 0 else None,
    )


def endless(loader: DataLoader) -> Iterator[tuple[Tensor, Tensor]]:
    """The loader's batches, epoch after epoch, forever (the sampler reshuffles every epoch)."""
    while True:
        yield from loader


def write_image_folder(
    root: str | Path,
    n_classes: int = 16,
    per_class: int = 8,
    *,
    image_size: int = 128,
    seed: int = 0,
) -> Path:
    """Write a small image data set in the layout of Stanford Online Products.

    Every class is a random colour gradient with a class-specific stripe pattern; every image
    redraws it with a random shift and pixel noise, so a model can learn the classes but
    not trivially. The first half of the classes (rounded up) is listed in ``Ebay_train.txt``,
    the rest in ``Ebay_test.txt``, as in SOP's class split.

    Parameters
    ----------
    root : str or Path
        Created if needed; files are written under it.
    n_classes : int, default 16
        At least 2.
    per_class : int, default 8
    image_size : int, default 128
        Side of the square JPEG images.
    seed : int, default 0

    Returns
    -------
    Path
        ``root``, ready for ``load_benchmark("sop", root, split)``.
    """
    n_classes = validate_positive_int("n_classes", n_classes)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2 (one train and one test class), got {n_classes}")
    per_class = validate_positive_int("per_class", per_class)
    size = validate_positive_int("image_size", image_size)
    root = Path(root)
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    rows = {"train": [], "test": []}
    image_id = 0
    for class_id in range(1, n_classes + 1):
        folder = root / f"class_{class_id:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        colours = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        frequency, angle = rng.uniform(2, 8), rng.uniform(0, np.pi)
        for index in range(per_class):
            image_id += 1
            shift = rng.uniform(0, 2 * np.pi)
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * (np.cos(angle) * grid[None, :]
                                                                 + np.sin(angle) * grid[:, None]) + shift)
            pixels = wave[..., None] * colours[0] + (1 - wave[..., None]) * colours[1]
            pixels += rng.normal(0, 12, pixels.shape)
            path = folder / f"{index:03d}.jpg"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
            split = "train" if class_id <= (n_classes + 1) // 2 else "test"
            rows[split].append(f"{image_id} {class_id} 1 {path.relative_to(root).as_posix()}")
    for split, lines in rows.items():
        (root / f"Ebay_{split}.txt").write_text("\n".join(["image_id class_id super_class_id path", *lines]) + "\n")
    return root


__all__ = ["endless", "pk_loader", "write_image_folder"]
