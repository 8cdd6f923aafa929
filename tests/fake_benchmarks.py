"""Fake benchmark folders for the loader and runner tests: the real layouts, a few tiny images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int, fmt: str = "PNG") -> None:
    """A small RGB image of grey level ``value`` with an asymmetric stripe (so flips are visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((14, 20, 3), value % 256, dtype=np.uint8)
    pixels[:, :5] = 255 - value % 256
    Image.fromarray(pixels).save(path, format=fmt)


def write_cub(root: Path, classes: Sequence[int], per_class: int) -> Path:
    """A CUB-200-2011 folder under ``root``: ``images/``, ``images.txt``, ``image_class_labels.txt``.

    JPEG images; image ``image_id`` (counting from 1) has grey level ``10 * image_id``. Returns ``root``.
    """
    folder = root / "CUB_200_2011"
    images, labels = [], []
    for class_id in classes:
        for i in range(per_class):
            image_id = len(images) + 1
            relative = f"{class_id:03d}.Bird_{class_id}/Bird_{class_id}_{i}.jpg"
            write_image(folder / "images" / relative, 10 * image_id, fmt="JPEG")
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    return root
