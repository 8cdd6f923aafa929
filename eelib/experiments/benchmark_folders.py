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

Hostile copies are refused, never followed: every path a metadata file lists is resolved
and must stay inside ``root`` (no absolute path, no ``..``, no symbolic link out; the check
comes before any existence test, so an error never tells whether something outside the
root exists). Metadata must be UTF-8 text with ASCII-digit ids, each id listed once. Every
error names its file and line (for ``cars_annos.mat``, the annotation's number); an image
that cannot be decoded names its file and the line that lists it.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from eelib._validation import (
    as_label_tensor,
    memory_limit_bytes,
    validate_choice,
    validate_memory,
    validate_path,
    validate_positive_int,
    validate_real,
)

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


def _image_bytes(side: float) -> int:
    """Memory of one ``side × side`` image: PIL's RGB copy and a few float32 tensors of it."""
    return int(side) ** 2 * (3 + 3 * 4 * 3)


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
        At least 1.
    crop_probability : float, default 0.5
        In [0, 1].
    """

    def __init__(
        self,
        image_size: int = DEFAULT_IMAGE_SIZE,
        *,
        resize_ratio: float = 1.125,
        crop_probability: float = 0.5,
    ) -> None:
        self.image_size = validate_positive_int("image_size", image_size)
        self.resize_ratio = validate_real("resize_ratio", resize_ratio, minimum=1.0)
        self.crop_probability = validate_real("crop_probability", crop_probability, minimum=0.0, maximum=1.0)
        validate_memory(f"image_size={self.image_size} with resize_ratio={self.resize_ratio:g}",
                        _image_bytes(self.resize_ratio * self.image_size + 1))

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
        validate_memory(f"image_size={self.image_size}", _image_bytes(self.image_size))

    def __call__(self, image: Image.Image) -> Tensor:
        size = self.image_size
        return to_normalized_tensor(image.resize((size, size), Image.Resampling.BILINEAR))

    def __repr__(self) -> str:
        return f"EvalTransform(image_size={self.image_size})"


# --- the data set ----------------------------------------------------------------------

#: What PIL may raise on a file that is not a readable image (UnidentifiedImageError is an
#: OSError; a truncated file raises OSError; some decoders raise SyntaxError or ValueError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class ImageListDataset(Dataset):
    """Images listed by path, with integer labels.

    Parameters
    ----------
    paths : sequence of str or Path
        Image files.
    labels : sequence of int
        Label of each image, 0..C−1.
    transform : callable, PIL image -> Tensor
        E.g. :class:`TrainTransform` or :class:`EvalTransform`.
    sources : sequence of str, optional
        Where each path was listed (e.g. ``"images.txt, line 3"``), for error messages.

    Attributes
    ----------
    paths : list of Path
    labels : Tensor, shape (N,), int64
        For :class:`eelib.data.PKSampler` and for evaluation.
    n_classes : int

    Raises
    ------
    ValueError
        From ``dataset[i]`` when the image cannot be decoded (truncated, not an image, too
        large for memory), naming the file and where it was listed.
    """

    def __init__(
        self, paths: Sequence[str | Path], labels: Sequence[int], transform: ImageTransform,
        sources: Sequence[str] | None = None,
    ) -> None:
        if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Sequence):
            raise TypeError(f"paths must be a sequence of image paths, got {type(paths).__name__}")
        if not callable(transform):
            raise TypeError(f"transform must be callable (PIL image -> Tensor), got {type(transform).__name__}")
        self.paths = [validate_path("paths", p) for p in paths]
        self.labels = as_label_tensor(list(labels) if not isinstance(labels, (Tensor, np.ndarray)) else labels)
        if len(self.paths) != len(self.labels):
            raise ValueError(
                f"paths has {len(self.paths)} entries but labels has {len(self.labels)}; "
                "there must be one label per image"
            )
        if sources is not None and len(sources) != len(self.paths):
            raise ValueError(f"sources has {len(sources)} entries but paths has {len(self.paths)}")
        self.sources = None if sources is None else [str(source) for source in sources]
        self.transform = transform
        self.n_classes = int(torch.unique(self.labels).numel())

    def __len__(self) -> int:
        return len(self.paths)

    def _open(self, index: int) -> Image.Image:
        """The decoded image, or an error naming its file (and the line that lists it)."""
        path = self.paths[index]
        where = f"{path}" + (f" (listed in {self.sources[index]})" if self.sources else "")
        try:
            image = Image.open(path)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{where}: the image file is missing") from err
        except _DECODE_ERRORS as err:
            raise ValueError(f"{where}: could not be read as an image ({type(err).__name__}: {err})") from err
        try:
            width, height = image.size
            validate_memory(f"{where}: an image of {width} x {height} pixels", _image_bytes(max(width, height)))
            image.load()
        except BaseException as err:
            image.close()
            if isinstance(err, _DECODE_ERRORS):
                raise ValueError(f"{where}: could not be decoded ({type(err).__name__}: {err})") from err
            raise
        return image

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        """Return the transformed image, shape (3, H, W), and its label."""
        with self._open(index) as image:
            return self.transform(image), int(self.labels[index])


# --- metadata readers ------------------------------------------------------------------

#: Metadata files larger than this are refused before they are read (the real ones are far
#: smaller; split into Python objects, a line costs many times its size on disk).
_METADATA_BYTES_PER_BYTE = 20


class _Root:
    """A data set's root folder, resolved once, and the checks of every path under it."""

    def __init__(self, root: Path) -> None:
        self.given = root
        self.resolved = root.resolve()

    def inside(self, path: Path, where: str, shown: str) -> Path:
        """``path`` resolved, if it stays inside the root; ``where`` and ``shown`` name it in errors.

        The check is made on the resolved path, before any test of existence, and the message
        is the same whether or not the target exists.
        """
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as err:  # a loop of symbolic links
            raise ValueError(f"{where}: the path {shown!r} cannot be resolved ({type(err).__name__})") from None
        if not resolved.is_relative_to(self.resolved):
            raise ValueError(
                f"{where}: the path {shown!r} leads outside the data set root {self.given} "
                "(through a symbolic link); every listed file must lie inside the root"
            )
        return resolved

    def listed(self, base: Path, relative: str, where: str) -> Path:
        """A path listed in a metadata file, relative to ``base``, checked and resolved."""
        if "\x00" in relative:
            raise ValueError(f"{where}: the path {relative!r} contains a NUL character")
        for flavour in (PurePosixPath(relative), PureWindowsPath(relative)):
            if flavour.is_absolute() or flavour.drive or flavour.root:
                raise ValueError(f"{where}: the path {relative!r} is absolute; listed paths must be "
                                 f"relative to the data set root {self.given}")
            if ".." in flavour.parts:
                raise ValueError(f"{where}: the path {relative!r} contains '..'; listed paths must stay "
                                 f"inside the data set root {self.given}")
        return self.inside(base / relative, where, relative)

    def metadata(self, path: Path, description: str) -> Path:
        """A metadata file under the root: inside it, and a regular file."""
        resolved = self.inside(path, str(path), str(path.relative_to(self.given)))
        if not _is_file(resolved):
            raise FileNotFoundError(f"expected {description} at {path}, but there is no such file")
        return resolved


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that answers False instead of raising (e.g. for a name too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _malformed(path: Path, line_number: int, expected: str, line: str) -> ValueError:
    return ValueError(f"{path}, line {line_number}: expected {expected}, got {line!r}")


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark is allowed), or an error with the line."""
    validate_memory(f"the metadata file {path}", path.stat().st_size * _METADATA_BYTES_PER_BYTE)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}, line {line}: expected UTF-8 text, got the byte "
                         f"{data[err.start]:#04x} which is not valid UTF-8") from None
    return text.splitlines()


def _is_id(field: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts '²', which ``int`` refuses)."""
    return field.isascii() and field.isdigit()


def _read_id_table(
    path: Path, expected: str, *, int_fields: int, n_fields: int, header: Sequence[str] | None = None
) -> list[tuple[int, list]]:
    """``(line number, fields)`` of a whitespace-separated text file, ids checked.

    With ``header``, the first line must hold exactly those words. The first ``int_fields``
    fields are non-negative integers written in ASCII digits; the first of them is an id that
    must not repeat. Each line must have ``n_fields`` fields (the last one may contain
    spaces); blank lines are skipped.
    """
    lines = _read_lines(path)
    if header is not None:
        first = lines[0] if lines else ""
        if first.split() != list(header):
            raise _malformed(path, 1, f"the header {' '.join(header)!r}", first)
    rows = []
    first_seen: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        if (header is not None and number == 1) or not line.strip():
            continue
        fields = line.split(maxsplit=n_fields - 1)
        if len(fields) != n_fields or not all(_is_id(f) for f in fields[:int_fields]):
            raise _malformed(path, number, expected, line)
        values = [int(f) for f in fields[:int_fields]]
        if values[0] in first_seen:
            raise ValueError(f"{path}, line {number}: id {values[0]} is listed again "
                             f"(first on line {first_seen[values[0]]}); every id must be listed once")
        first_seen[values[0]] = number
        rows.append((number, values + fields[int_fields:]))
    return rows


def _check_root(root: str | Path, name: str) -> _Root:
    root = validate_path("root", root)
    try:
        is_folder = root.is_dir()
    except OSError:
        is_folder = False
    if not is_folder:
        raise FileNotFoundError(f"{name} root folder {root} does not exist or is not a folder")
    return _Root(root)


Listing = tuple[list[Path], list[int], list[str]]


def _read_cub200(root: _Root, split: str) -> Listing:
    """CUB-200-2011: classes 1–100 train, 101–200 test (Wah et al., 2011)."""
    folder = root.given if _is_file(root.given / "images.txt") else root.given / "CUB_200_2011"
    images_file = root.metadata(folder / "images.txt", "the CUB-200-2011 image list images.txt")
    images = _read_id_table(images_file, "'<image_id> <relative path>'", int_fields=1, n_fields=2)
    classes_file = root.metadata(folder / "image_class_labels.txt",
                                 "the CUB-200-2011 label file image_class_labels.txt")
    class_of = {row[0]: (number, row[1])
                for number, row in _read_id_table(classes_file, "'<image_id> <class_id>'", int_fields=2, n_fields=2)}
    wanted = range(1, 101) if split == "train" else range(101, 201)
    paths, class_ids, sources = [], [], []
    for number, (image_id, relative) in images:
        if image_id not in class_of:
            raise ValueError(f"{images_file}, line {number}: image id {image_id} has no entry in {classes_file}")
        class_line, class_id = class_of[image_id]
        if class_id not in range(1, 201):
            raise ValueError(f"{classes_file}, line {class_line}: image {image_id} has class {class_id}, not in 1..200")
        where = f"{images_file}, line {number}"
        path = root.listed(folder / "images", relative, where)
        if class_id in wanted:
            paths.append(path)
            class_ids.append(class_id)
            sources.append(where)
    return paths, class_ids, sources


_CARS_FIELDS = ("relative_im_path", "class")

#: MAT-file version 5 layout (MathWorks, "MAT-File Format"): a 128-byte header ending in the
#: endian indicator, then tagged data elements; type 15 (miCOMPRESSED) holds a zlib stream.
_MAT5_HEADER_BYTES = 128
_MAT5_COMPRESSED = 15
_MAT_READ_CHUNK = 1 << 16


def _decompressed_bytes(stream: BinaryIO, n_compressed: int, stop_after: int) -> int:
    """Bytes one zlib stream of ``n_compressed`` bytes inflates to, counted in bounded chunks.

    Counting stops once ``stop_after`` is passed, so a small file that inflates to terabytes
    (a "zip bomb") costs no more than ``stop_after`` bytes of work and one chunk of memory.
    """
    inflater = zlib.decompressobj()
    total = 0
    while n_compressed > 0 and total <= stop_after:
        chunk = stream.read(min(_MAT_READ_CHUNK, n_compressed))
        if not chunk:
            break
        n_compressed -= len(chunk)
        try:
            while chunk and total <= stop_after:
                total += len(inflater.decompress(chunk, _MAT_READ_CHUNK))
                chunk = inflater.unconsumed_tail
        except zlib.error:
            break  # malformed: scipy's reader reports it
    return total


def _mat_content_bytes(path: Path, stop_after: int) -> int:
    """The size of a MAT file's data once inflated (the file's own size if it is not version 5).

    Only the element tags are parsed; anything malformed ends the count, and is then reported
    by :func:`scipy.io.loadmat`, which reads the same elements.
    """
    with path.open("rb") as stream:
        header = stream.read(_MAT5_HEADER_BYTES)
        order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
        if len(header) < _MAT5_HEADER_BYTES or order is None:
            return path.stat().st_size
        total = 0
        while total <= stop_after:
            tag = stream.read(8)
            if len(tag) < 8:
                break
            data_type, n_bytes = np.frombuffer(tag, dtype=f"{order}u4")
            if data_type >> 16:  # a small element: type and data in these 8 bytes
                total += 8
            elif data_type == _MAT5_COMPRESSED:
                start = stream.tell()
                total += _decompressed_bytes(stream, int(n_bytes), stop_after - total)
                stream.seek(start + int(n_bytes))
            else:
                total += int(n_bytes)
                stream.seek(int(n_bytes) + (-int(n_bytes)) % 8, os.SEEK_CUR)
        return total


def _read_cars_annotations(path: Path) -> np.ndarray:
    """The ``annotations`` struct array of ``cars_annos.mat``, flattened, fields checked."""
    from scipy.io import loadmat

    expected = f"a MATLAB file with a struct array 'annotations' having fields {_CARS_FIELDS}"
    limit = memory_limit_bytes()
    content = _mat_content_bytes(path, stop_after=limit // _METADATA_BYTES_PER_BYTE)
    if content * _METADATA_BYTES_PER_BYTE > limit:
        raise ValueError(
            f"the annotation file {path} inflates to more than {content} bytes of data (the file "
            f"itself has {path.stat().st_size}); read into Python objects that is above the memory "
            f"limit of {limit} bytes (about {_METADATA_BYTES_PER_BYTE} bytes per byte of data). If "
            "the file is genuine, raise the limit with eelib.set_memory_limit(n_bytes)"
        )
    try:
        contents = loadmat(path)
    except Exception as err:  # noqa: BLE001 - scipy raises many types on a malformed file
        raise ValueError(f"{path} could not be read; expected {expected} ({type(err).__name__}: {err})") from err
    annotations = contents.get("annotations")
    fields = getattr(getattr(annotations, "dtype", None), "names", None) or ()
    if any(field not in fields for field in _CARS_FIELDS):
        raise ValueError(
            f"{path}: expected {expected}, found variables "
            f"{sorted(k for k in contents if not k.startswith('__'))} "
            f"and annotation fields {list(fields)}"
        )
    return annotations.ravel()


def _annotation_value(record: np.void, field: str) -> object:
    """The single value of one field of a MATLAB struct element."""
    values = np.asarray(record[field]).ravel()
    if values.size != 1:
        raise ValueError(f"holds {values.size} values")
    return values[0]


def _read_cars196(root: _Root, split: str) -> Listing:
    """CARS196 from ``cars_annos.mat``: classes 1–98 train, 99–196 test (Krause et al. 2013)."""
    path = root.metadata(root.given / "cars_annos.mat", "the Stanford Cars annotation file")
    wanted = range(1, 99) if split == "train" else range(99, 197)
    paths, class_ids, sources = [], [], []
    for number, record in enumerate(_read_cars_annotations(path), start=1):
        where = f"{path}, annotation {number}"
        try:
            relative = _annotation_value(record, "relative_im_path")
            class_value = _annotation_value(record, "class")
            if not isinstance(relative, str):
                raise ValueError(f"has a {type(relative).__name__} as its path")
            relative = str(relative)  # numpy's str_ prints as np.str_('...')
            class_id = int(class_value)
            if class_id != class_value:
                raise ValueError(f"has the class {class_value!r}, not an integer")
        except (IndexError, ValueError, TypeError, OverflowError) as err:
            raise ValueError(f"{where} must hold a path string and an integer class ({err})") from err
        if class_id not in range(1, 197):
            raise ValueError(f"{where} has class {class_id}, not in 1..196")
        image = root.listed(root.given, relative, where)
        if class_id in wanted:
            paths.append(image)
            class_ids.append(class_id)
            sources.append(where)
    return paths, class_ids, sources


_SOP_HEADER = ["image_id", "class_id", "super_class_id", "path"]


def _read_sop(root: _Root, split: str) -> Listing:
    """Stanford Online Products from ``Ebay_{train,test}.txt`` (Oh Song et al., 2016)."""
    path = root.metadata(root.given / f"Ebay_{split}.txt", f"the SOP {split} list Ebay_{split}.txt")
    rows = _read_id_table(
        path,
        "'<image_id> <class_id> <super_class_id> <path>'",
        int_fields=3,
        n_fields=4,
        header=_SOP_HEADER,
    )
    listing: Listing = ([], [], [])
    for number, row in rows:
        where = f"{path}, line {number}"
        listing[0].append(root.listed(root.given, row[3], where))
        listing[1].append(row[1])
        listing[2].append(where)
    return listing


_READERS = {"cub200": _read_cub200, "cars196": _read_cars196, "sop": _read_sop}

#: Names accepted by :func:`load_benchmark`.
BENCHMARKS = tuple(_READERS)


def _relabel(class_ids: Sequence[int]) -> list[int]:
    """Map class ids to 0..C−1 in increasing order of the ids."""
    index = {class_id: i for i, class_id in enumerate(sorted(set(class_ids)))}
    return [index[class_id] for class_id in class_ids]


def _check_images_exist(paths: Sequence[Path], sources: Sequence[str], name: str, root: Path) -> None:
    """Every listed image exists (all paths are inside the root by now)."""
    missing = [(p, source) for p, source in zip(paths, sources) if not _is_file(p)]
    if missing:
        shown = "; ".join(f"{p} ({source})" for p, source in missing[:3])
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
        expected path (and the line that lists an image).
    ValueError
        If ``name`` or ``split`` is unknown, a metadata file is malformed or lists an id twice
        (the message gives the file, the line and the expected format), a listed path leaves
        ``root``, or the split holds no image.
    """
    name = validate_choice("name", name, BENCHMARKS)
    split = validate_choice("split", split, SPLITS)
    image_size = validate_positive_int("image_size", image_size)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable (PIL image -> Tensor), got {type(transform).__name__}")
    checked_root = _check_root(root, name)
    paths, class_ids, sources = _READERS[name](checked_root, split)
    if not paths:
        raise ValueError(f"the {split} split of {name} under {checked_root.given} lists no images")
    _check_images_exist(paths, sources, name, checked_root.given)
    if transform is None:
        transform = TrainTransform(image_size) if split == "train" else EvalTransform(image_size)
    return ImageListDataset(paths, _relabel(class_ids), transform, sources)


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
