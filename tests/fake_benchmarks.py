"""Fake benchmark folders for the loader and runner tests: the real layouts, a few tiny images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int, fmt: str = "PNG", size: tuple[int, int] = (14, 20)) -> None:
    """A small RGB image of grey level ``value`` with an asymmetric stripe (so flips are visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((*size, 3), value % 256, dtype=np.uint8)
    pixels[:, :5] = 255 - value % 256
    Image.fromarray(pixels).save(path, format=fmt)


def write_cub(root: Path, classes: Sequence[int], per_class: int, *,
              value: Callable[[int, int, int], int] = lambda class_id, i, image_id: 10 * image_id,
              fmt: str = "JPEG") -> Path:
    """A CUB-200-2011 folder under ``root``: ``images/``, ``images.txt``, ``image_class_labels.txt``.

    Image ``i`` of class ``class_id`` (``image_id`` counting from 1) has grey level
    ``value(class_id, i, image_id)``. Returns ``root``.
    """
    folder = root / "CUB_200_2011"
    images, labels = [], []
    for class_id in classes:
        for i in range(per_class):
            image_id = len(images) + 1
            relative = f"{class_id:03d}.Bird_{class_id}/Bird_{class_id}_{i}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
            write_image(folder / "images" / relative, value(class_id, i, image_id), fmt=fmt)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    return root
