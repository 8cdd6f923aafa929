"""Loaders for the three benchmarks of the EE paper, from their original folder layouts.

Nothing is downloaded: point ``root`` at a copy of the data set. The class splits are the
standard ones of Oh Song et al. (2016) used by the paper (docs/paper.md §4.1):

========  ===========================================  ====================================
name      files expected under ``root``                split
========  ===========================================  ====================================
cub200    ``CUB_200_2011/images.txt``,                 classes 1–100 train, 101–200 test
          ``CUB_200_2011/image_class_labels.txt``,
          ``CUB_200_2011/images/<path>``
cars196   ``cars_annos.mat`` (fields                   classes 1–98 train, 99–196 test
          ``relative_im_path``, ``class``),
          ``car_ims/<image>``
sop       ``Ebay_train.txt``, ``Ebay_test.txt``        as listed in the two files
          (header ``image_id class_id
          super_class_id path``), ``<path>``
========  ===========================================  ====================================

Labels are renumbered 0..C−1 within each split, in the order of the original class ids.
Images are decoded with PIL and transformed with plain torch (torchvision is not needed),
following the official EE recipe (docs/paper.md §4.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from eelib._validation import validate_choice, validate_positive_int

#: Image side used by the official EE code (GoogLeNet input).
DEFAULT_IMAGE_SIZE = 227
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLITS = ("train", "test")

ImageTransform = Callable[[Image.Image], Tensor]


# --- transforms ------------------------------------------------------------------------


def to_normalized_tensor(image: Image.Image) -> Tensor:
    """Convert a PIL image to a float tensor normalised with the ImageNet mean and std.

    Parameters
    ----------
    image : PIL.Image.Image
        Any mode; it is converted to RGB.

    Returns
    -------
    Tensor, shape (3, H, W), float32
        ``(pixel / 255 − mean) / std`` per channel.
    """
    pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
    chw = pixels.permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (chw - mean) / std


class TrainTransform:
    """Training augmentation of the official EE code (docs/paper.md §4.1).

    With probability ``1 − crop_probability`` the image is resized to
    ``image_size × image_size``; otherwise it is resized to ``resize_ratio × image_size``
    squared and a random ``image_size × image_size`` crop is taken. Then a random
    horizontal flip (p = 0.5) and ImageNet normalisation. Randomness comes from torch's
    global generator, which ``DataLoader`` seeds per worker.

    Parameters
    ----------
    image_size : int, default 227
    resize_ratio : float, default 1.125
    crop_probability : float, default 0.5
    """

    def __init__(
        self,
        image_size: int = DEFAULT_IMAGE_SIZE,
        *,
        resize_ratio: float = 1.125,
        crop_probability: float = 0.5,
    ) -> None:
        self.image_size = validate_positive_int("image_size", image_size)
        if not resize_ratio >= 1.0:
            raise ValueError(f"resize_ratio must be >= 1, got {resize_ratio}")
        if not 0.0 <= crop_probability <= 1.0:
            raise ValueError(f"crop_probability must be in [0, 1], got {crop_probability}")
        self.resize_ratio = resize_ratio
        self.crop_probability = crop_probability

    def __call__(self, image: Image.Image) -> Tensor:
        size = self.image_size
        if torch.rand(()) < self.crop_probability:
            enlarged = round(self.resize_ratio * size)
            image = image.resize((enlarged, enlarged), Image.Resampling.BILINEAR)
            left, top = (int(v) for v in torch.randint(0, enlarged - size + 1, (2,)))
            image = image.crop((left, top, left + size, top + size))
        else:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        if torch.rand(()) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_normalized_tensor(image)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(image_size={self.image_size}, resize_ratio={self.resize_ratio}, "
            f"crop_probability={self.crop_probability})"
        )


class EvalTransform:
    """Test transform of the official EE code: resize to ``image_size × image_size``, normalise.

    Parameters
    ----------
    image_size : int, default 227
    """

    def __init__(self, image_size: int = DEFAULT_IMAGE_SIZE) -> None:
        self.image_size = validate_positive_int("image_size", image_size)

    def __call__(self, image: Image.Image) -> Tensor:
        size = self.image_size
        return to_normalized_tensor(image.resize((size, size), Image.Resampling.BILINEAR))

    def __repr__(self) -> str:
        return f"EvalTransform(image_size={self.image_size})"


# --- the data set ----------------------------------------------------------------------


class ImageListDataset(Dataset):
    """Images listed by path, with integer labels.

    Parameters
    ----------
    paths : sequence of Path
        Image files.
    labels : sequence of int
        Label of each image, 0..C−1.
    transform : callable, PIL image -> Tensor
        E.g. :class:`TrainTransform` or :class:`EvalTransform`.

    Attributes
    ----------
    paths : list of Path
    labels : Tensor, shape (N,), int64
        For :class:`eelib.data.PKSampler` and for evaluation.
    n_classes : int
    """

    def __init__(
        self, paths: Sequence[Path], labels: Sequence[int], transform: ImageTransform
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(
                f"paths has {len(paths)} entries but labels has {len(labels)}; "
                "there must be one label per image"
            )
        self.paths = [Path(p) for p in paths]
        self.labels = torch.as_tensor(list(labels), dtype=torch.int64)
        self.transform = transform
        self.n_classes = int(torch.unique(self.labels).numel())

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        """Return the transformed image, shape (3, H, W), and its label."""
        with Image.open(self.paths[index]) as image:
            return self.transform(image), int(self.labels[index])


# --- metadata readers ------------------------------------------------------------------


def _require_file(path: Path, description: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"expected {description} at {path}, but there is no such file")
    return path


def _malformed(path: Path, line_number: int, expected: str, line: str) -> ValueError:
    return ValueError(f"{path}, line {line_number}: expected {expected}, got {line!r}")


def _read_id_table(
    path: Path, expected: str, *, int_fields: int, n_fields: int, header_lines: int = 0
) -> list[list]:
    """Rows of a whitespace-separated text file; the first ``int_fields`` fields are integers.

    Each line must have ``n_fields`` fields (the last one may contain spaces); blank lines
    and the first ``header_lines`` lines are skipped.
    """
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if number <= header_lines or not line.strip():
            continue
        fields = line.split(maxsplit=n_fields - 1)
        if len(fields) != n_fields or not all(f.isdigit() for f in fields[:int_fields]):
            raise _malformed(path, number, expected, line)
        rows.append([int(f) for f in fields[:int_fields]] + fields[int_fields:])
    return rows


def _check_root(root: str | Path, name: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{name} root folder {root} does not exist or is not a folder")
    return root


def _read_cub200(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """CUB-200-2011: classes 1–100 train, 101–200 test (Wah et al., 2011)."""
    folder = root if (root / "images.txt").is_file() else root / "CUB_200_2011"
    images = _read_id_table(
        _require_file(folder / "images.txt", "the CUB-200-2011 image list images.txt"),
        "'<image_id> <relative path>'",
        int_fields=1,
        n_fields=2,
    )
    classes_file = _require_file(
        folder / "image_class_labels.txt",
        "the CUB-200-2011 label file image_class_labels.txt",
    )
    class_of = dict(
        _read_id_table(classes_file, "'<image_id> <class_id>'", int_fields=2, n_fields=2)
    )
    wanted = range(1, 101) if split == "train" else range(101, 201)
    paths, class_ids = [], []
    for image_id, relative in images:
        if image_id not in class_of:
            raise ValueError(f"image id {image_id} of images.txt has no entry in {classes_file}")
        if class_of[image_id] not in range(1, 201):
            raise ValueError(
                f"{classes_file}: image {image_id} has class {class_of[image_id]}, not in 1..200"
            )
        if class_of[image_id] in wanted:
            paths.append(folder / "images" / relative)
            class_ids.append(class_of[image_id])
    return paths, class_ids


_CARS_FIELDS = ("relative_im_path", "class")


def _read_cars_annotations(path: Path) -> np.ndarray:
    """The ``annotations`` struct array of ``cars_annos.mat``, flattened, fields checked."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    expected = f"a MATLAB file with a struct array 'annotations' having fields {_CARS_FIELDS}"
    try:
        contents = loadmat(path)
    except (MatReadError, ValueError, OSError) as err:
        raise ValueError(f"{path} could not be read; expected {expected} ({err})") from err
    annotations = contents.get("annotations")
    fields = getattr(getattr(annotations, "dtype", None), "names", None) or ()
    if any(field not in fields for field in _CARS_FIELDS):
        raise ValueError(
            f"{path}: expected {expected}, found variables "
            f"{sorted(k for k in contents if not k.startswith('__'))} "
            f"and annotation fields {list(fields)}"
        )
    return annotations.ravel()


def _read_cars196(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """CARS196 from ``cars_annos.mat``: classes 1–98 train, 99–196 test (Krause et al. 2013)."""
    path = _require_file(root / "cars_annos.mat", "the Stanford Cars annotation file")
    wanted = range(1, 99) if split == "train" else range(99, 197)
    paths, class_ids = [], []
    for number, record in enumerate(_read_cars_annotations(path), start=1):
        try:
            relative = str(np.asarray(record["relative_im_path"]).ravel()[0])
            class_id = int(np.asarray(record["class"]).ravel()[0])
        except (IndexError, ValueError, TypeError) as err:
            raise ValueError(
                f"{path}: annotation {number} must hold a path string and an integer class"
            ) from err
        if class_id not in range(1, 197):
            raise ValueError(f"{path}: annotation {number} has class {class_id}, not in 1..196")
        if class_id in wanted:
            paths.append(root / relative)
            class_ids.append(class_id)
    return paths, class_ids


_SOP_HEADER = ["image_id", "class_id", "super_class_id", "path"]


def _read_sop(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """Stanford Online Products from ``Ebay_{train,test}.txt`` (Oh Song et al., 2016)."""
    path = _require_file(root / f"Ebay_{split}.txt", f"the SOP {split} list Ebay_{split}.txt")
    header = path.read_text().partition("\n")[0]
    if header.split() != _SOP_HEADER:
        raise _malformed(path, 1, f"the header {' '.join(_SOP_HEADER)!r}", header)
    rows = _read_id_table(
        path,
        "'<image_id> <class_id> <super_class_id> <path>'",
        int_fields=3,
        n_fields=4,
        header_lines=1,
    )
    return [root / row[3] for row in rows], [row[1] for row in rows]


_READERS = {"cub200": _read_cub200, "cars196": _read_cars196, "sop": _read_sop}

#: Names accepted by :func:`load_benchmark`.
BENCHMARKS = tuple(_READERS)


def _relabel(class_ids: Sequence[int]) -> list[int]:
    """Map class ids to 0..C−1 in increasing order of the ids."""
    index = {class_id: i for i, class_id in enumerate(sorted(set(class_ids)))}
    return [index[class_id] for class_id in class_ids]


def _check_images_exist(paths: Sequence[Path], name: str, root: Path) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise FileNotFoundError(
            f"{len(missing)} of the {len(paths)} images listed for {name} are missing under "
            f"{root}, e.g. {shown}; root must be the folder that holds the metadata and images"
        )


def load_benchmark(
    name: str,
    root: str | Path,
    split: str,
    image_size: int = DEFAULT_IMAGE_SIZE,
    *,
    transform: ImageTransform | None = None,
) -> ImageListDataset:
    """Load one split of CUB-200-2011, CARS196 or Stanford Online Products.

    Parameters
    ----------
    name : {"cub200", "cars196", "sop"}
    root : str or Path
        Folder holding the files listed in the module docstring (for CUB, either the
        parent of ``CUB_200_2011`` or that folder itself).
    split : {"train", "test"}
        The standard class split (docs/paper.md §4.1): train and test classes are disjoint.
    image_size : int, default 227
        Side of the square output images.
    transform : callable, optional
        PIL image -> Tensor. Default: :class:`TrainTransform` for ``"train"``,
        :class:`EvalTransform` for ``"test"``.

    Returns
    -------
    ImageListDataset
        Items are ``(image, label)`` with image a (3, image_size, image_size) float tensor
        and label in 0..C−1 (renumbered within the split).

    Raises
    ------
    FileNotFoundError
        If ``root``, a metadata file, or a listed image is missing; the message names the
        expected path.
    ValueError
        If ``name`` or ``split`` is unknown, a metadata file is malformed (the message gives
        the file, the line and the expected format), or the split holds no image.
    """
    name = validate_choice("name", name, BENCHMARKS)
    split = validate_choice("split", split, SPLITS)
    image_size = validate_positive_int("image_size", image_size)
    root = _check_root(root, name)
    paths, class_ids = _READERS[name](root, split)
    if not paths:
        raise ValueError(f"the {split} split of {name} under {root} lists no images")
    _check_images_exist(paths, name, root)
    if transform is None:
        transform = TrainTransform(image_size) if split == "train" else EvalTransform(image_size)
    return ImageListDataset(paths, _relabel(class_ids), transform)


__all__ = [
    "BENCHMARKS",
    "DEFAULT_IMAGE_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "EvalTransform",
    "ImageListDataset",
    "TrainTransform",
    "load_benchmark",
    "to_normalized_tensor",
]
