"""Offline data for the course: class splits, scikit-learn digits, generated glyphs, P×K batches.

Deep metric learning is evaluated on classes never seen in training (Oh Song et al., 2016;
the protocol of the EE paper, docs/paper.md §4.1): the sorted classes are split in two, the
first half trains the embedding and the second half is used only for retrieval and
clustering. Everything here works without a network connection.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor
from torch.utils.data import Sampler

from eelib._validation import (
    as_label_tensor,
    norm_limit,
    validate_count,
    validate_flag,
    validate_memory,
    validate_positive_int,
    validate_real,
    validate_seed,
)


# --- class splits ----------------------------------------------------------------------


class ClassSplit(NamedTuple):
    """Sample indices and class ids of a split by class (see :func:`class_split`)."""

    train_indices: Tensor
    test_indices: Tensor
    train_classes: Tensor
    test_classes: Tensor


def class_split(labels: Tensor | ArrayLike, n_train_classes: int | None = None) -> ClassSplit:
    """Split samples by class: the first sorted classes train, the remaining ones test.

    This is the zero-shot protocol of the EE paper (Oh Song et al., 2016; docs/paper.md §4.1):
    e.g. CUB-200-2011 classes 1–100 train and 101–200 test, so test classes are unseen.

    Parameters
    ----------
    labels : Tensor or array-like, shape (N,)
        Integer class labels.
    n_train_classes : int, optional
        Number of (sorted) classes for training; the default is ``n_classes // 2``. It must
        leave at least one class on each side.

    Returns
    -------
    ClassSplit
        ``train_indices`` and ``test_indices`` (int64, increasing) index ``labels``;
        ``train_classes`` and ``test_classes`` are the sorted class ids on each side.

    Raises
    ------
    ValueError
        If there are fewer than 2 classes or ``n_train_classes`` is out of range.
    """
    labels = as_label_tensor(labels)
    classes = torch.unique(labels)
    if classes.numel() < 2:
        raise ValueError(
            f"labels has {classes.numel()} class(es); a class split needs at least 2"
        )
    if n_train_classes is None:
        n_train_classes = classes.numel() // 2
    n_train_classes = validate_positive_int("n_train_classes", n_train_classes)
    if n_train_classes >= classes.numel():
        raise ValueError(
            f"n_train_classes must be less than the number of classes ({classes.numel()}) "
            f"so that some classes are left for testing, got {n_train_classes}"
        )
    train_classes, test_classes = classes[:n_train_classes], classes[n_train_classes:]
    is_train = torch.isin(labels, train_classes)
    return ClassSplit(
        train_indices=torch.nonzero(is_train).flatten(),
        test_indices=torch.nonzero(~is_train).flatten(),
        train_classes=train_classes,
        test_classes=test_classes,
    )


@dataclass(frozen=True)
class DataSplit:
    """Features and labels of a train/test split with disjoint classes.

    Attributes
    ----------
    x_train : Tensor, shape (N_train, D), float32
    y_train : Tensor, shape (N_train,), int64
    x_test : Tensor, shape (N_test, D), float32
    y_test : Tensor, shape (N_test,), int64
        Labels keep their original class ids (they are not renumbered).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def split_dataset(
    x: Tensor | ArrayLike, y: Tensor | ArrayLike, n_train_classes: int | None = None
) -> DataSplit:
    """Split a labelled data set by class with :func:`class_split`.

    Parameters
    ----------
    x : Tensor or array-like, shape (N, ...)
        Samples; converted to float32.
    y : Tensor or array-like, shape (N,)
        Integer labels; converted to int64.
    n_train_classes : int, optional
        Passed to :func:`class_split` (default: half of the classes).

    Returns
    -------
    DataSplit
    """
    x = _as_features(x)
    y = as_label_tensor(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x has {x.shape[0]} rows but y has {y.shape[0]} labels; "
            "there must be one label per row"
        )
    split = class_split(y, n_train_classes)
    return DataSplit(
        x_train=x[split.train_indices],
        y_train=y[split.train_indices],
        x_test=x[split.test_indices],
        y_test=y[split.test_indices],
    )


def _as_features(x: Tensor | ArrayLike) -> Tensor:
    """Samples as a finite float32 tensor with at least one dimension, or a clear error naming ``x``."""
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"x must be a tensor or a numeric array, got {type(x).__name__}") from error
    if x.layout != torch.strided or x.device.type == "meta":
        raise TypeError(f"x must be a dense tensor with data, got layout {x.layout} on {x.device}")
    if x.is_complex() or not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int8, torch.int16,
                                                                   torch.int32, torch.int64, torch.bool)):
        raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
    if x.dim() == 0:
        raise ValueError("x must have one row per sample, got a 0-dim tensor")
    x = x.to(torch.float32)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf values (or values beyond float32's range)")
    return x


def load_digits_split() -> DataSplit:
    """scikit-learn's bundled 8×8 handwritten digits, split by class.

    1,797 images of the digits 0–9 (no download: the data ship with scikit-learn). Pixels
    (0–16) are scaled to [0, 1] and flattened to 64 features. Digits 0–4 train (901 samples)
    and digits 5–9 test (896 samples), so test digits are never seen in training.

    Returns
    -------
    DataSplit
        ``x_*`` of shape (N, 64), float32 in [0, 1]; ``y_*`` int64 with the digit as label.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return split_dataset(digits.data / 16.0, digits.target)


# --- small batches for examples, self-checks, tests and benchmarks ---------------------


def random_batch(
    class_sizes: Sequence[int],
    dim: int,
    *,
    seed: int = 0,
    shuffle: bool = False,
    norm_range: tuple[float, float] = (1.0, 1.0),
    scramble_labels: bool = False,
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor]:
    """A random batch of embeddings with a given class layout, deterministic for a seed.

    Directions are uniform on the sphere; norms are uniform in ``norm_range`` (unit norm by
    default, as an L2-normalising model gives).

    Parameters
    ----------
    class_sizes : sequence of int
        ``class_sizes[c]`` instances of class ``c``, written as contiguous blocks (the
        official EE layout) unless ``shuffle``.
    dim : int
        Embedding dimension.
    seed : int, default 0
    shuffle : bool, default False
        Permute the rows, so that classes are interleaved.
    norm_range : (float, float), default (1.0, 1.0)
        Bounds of the rows' norms; e.g. ``(0.5, 1.5)`` to check that a loss does not
        normalise its input.
    scramble_labels : bool, default False
        Use the label values ``5, 8, 11, …`` in a random order instead of ``0, 1, 2, …``,
        so that nothing may rely on labels being sorted or contiguous.
    dtype : torch.dtype, default torch.float64

    Returns
    -------
    x : Tensor, shape (sum(class_sizes), dim)
    y : Tensor of int64, shape (sum(class_sizes),)

    Examples
    --------
    >>> x, y = random_batch([2, 3], dim=4)
    >>> x.shape, y.tolist()
    (torch.Size([5, 4]), [0, 0, 1, 1, 1])
    """
    if isinstance(class_sizes, (str, bytes)) or not isinstance(class_sizes, (Sequence, np.ndarray)):
        raise TypeError(f"class_sizes must be a sequence of positive ints, got {type(class_sizes).__name__}")
    sizes = [validate_positive_int("class_sizes", size) for size in class_sizes]
    if not sizes:
        raise ValueError("class_sizes is empty: a batch needs at least one class")
    dim = validate_positive_int("dim", dim)
    seed = validate_seed("seed", seed)
    shuffle = validate_flag("shuffle", shuffle)
    scramble_labels = validate_flag("scramble_labels", scramble_labels)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    if not isinstance(norm_range, (tuple, list)) or len(norm_range) != 2:
        raise TypeError(f"norm_range must be a pair (low, high), got {norm_range!r}")
    low = validate_real("norm_range[0]", norm_range[0], minimum=0.0)
    high = validate_real("norm_range[1]", norm_range[1], minimum=low, maximum=norm_limit(dtype))
    validate_memory(f"random_batch of {sum(sizes)} rows of dimension {dim}", 3 * sum(sizes) * dim * 8)
    generator = torch.Generator().manual_seed(seed)
    ids = 3 * torch.randperm(len(sizes), generator=generator) + 5 if scramble_labels else torch.arange(len(sizes))
    labels = torch.cat([torch.full((size,), int(ids[c])) for c, size in enumerate(sizes)])
    directions = torch.randn(len(labels), dim, generator=generator, dtype=torch.float64)
    norms = low + (high - low) * torch.rand(len(labels), 1, generator=generator, dtype=torch.float64)
    x = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12) * norms
    if shuffle:
        order = torch.randperm(len(labels), generator=generator)
        x, labels = x[order], labels[order]
    return x.to(dtype), labels


def toy_batch(
    angles: Sequence[Sequence[float]] | None = None,
    *,
    n_classes: int = 3,
    per_class: int = 3,
    on_circle: bool = True,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """A small 2-D batch for pictures: points on (or around) the unit circle, in class blocks.

    Parameters
    ----------
    angles : sequence of sequences of float, optional
        ``angles[c]`` lists the angles (degrees) of class ``c``'s points. Without it, each
        of ``n_classes`` classes gets ``per_class`` points at random angles within ±63° of
        its centre, the centres evenly spread (loose clusters, deterministic for ``seed``).
    n_classes, per_class : int, default 3
        Used only without ``angles``.
    on_circle : bool, default True
        Unit-norm points (as an L2-normalising model gives); otherwise random radii in
        [0.6, 1.4].
    seed : int, default 0

    Returns
    -------
    points : Tensor, shape (N, 2), float64
    labels : Tensor of int64, shape (N,)
    """
    seed = validate_seed("seed", seed)
    on_circle = validate_flag("on_circle", on_circle)
    generator = torch.Generator().manual_seed(seed)
    if angles is None:
        n_classes = validate_positive_int("n_classes", n_classes)
        per_class = validate_positive_int("per_class", per_class)
        validate_memory(f"toy_batch of {n_classes} x {per_class} points", 64 * n_classes * per_class)
        centres = torch.arange(n_classes, dtype=torch.float64) * (360.0 / n_classes)
        jitter = 126.0 * (torch.rand(n_classes * per_class, generator=generator, dtype=torch.float64) - 0.5)
        degrees = centres.repeat_interleave(per_class) + jitter
        labels = torch.arange(n_classes).repeat_interleave(per_class)
    else:
        if isinstance(angles, (str, bytes)) or not isinstance(angles, Sequence) or not angles or any(
                isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or not group for group in angles):
            raise TypeError("angles must be a non-empty sequence of non-empty sequences of angles in degrees, "
                            f"one per class, got {angles!r:.80}")
        degrees = torch.tensor([validate_real("angles", a, minimum=-1e6, maximum=1e6) for group in angles for a in group],
                               dtype=torch.float64)
        labels = torch.tensor([c for c, group in enumerate(angles) for _ in group])
    radians = degrees * (math.pi / 180.0)
    radius = torch.ones_like(radians)
    if not on_circle:
        radius = 0.6 + 0.8 * torch.rand(len(radians), generator=generator, dtype=torch.float64)
    return torch.stack([radius * torch.cos(radians), radius * torch.sin(radians)], dim=1), labels


# --- generated glyphs ------------------------------------------------------------------

#: Strokes shared by all classes of a family; each class adds one stroke of its own.
_FAMILY_STROKES = 3


@dataclass(frozen=True)
class _Nuisance:
    """Per-sample variation, all zero at difficulty 0 and growing linearly with it."""

    max_rotation: float  # radians
    max_log_scale: float
    max_shift: float  # in glyph coordinates ([-1, 1] spans the image)
    jitter: float  # std of endpoint jitter
    width_spread: float  # relative spread of stroke width
    distractor_probability: float
    pixel_noise: float

    @classmethod
    def at(cls, difficulty: float) -> _Nuisance:
        return cls(
            max_rotation=difficulty * math.pi / 4,
            max_log_scale=difficulty * 0.4,
            max_shift=difficulty * 0.3,
            jitter=difficulty * 0.15,
            width_spread=difficulty * 0.5,
            distractor_probability=difficulty * 0.8,
            pixel_noise=difficulty * 0.2,
        )


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> Tensor:
    """Samples from U(-bound, bound)."""
    return (2.0 * torch.rand(shape, generator=generator) - 1.0) * bound


def _random_strokes(n: int, n_strokes: int, generator: torch.Generator) -> Tensor:
    """Random segments, shape (n, n_strokes, 2 endpoints, 2 coordinates), inside the frame."""
    return _uniform((n, n_strokes, 2, 2), 0.7, generator)


def _transform_strokes(strokes: Tensor, nuisance: _Nuisance, generator: torch.Generator) -> Tensor:
    """Jitter endpoints, then apply a random rotation, anisotropic scale and shift per sample."""
    n = strokes.shape[0]
    strokes = strokes + nuisance.jitter * torch.randn(strokes.shape, generator=generator)
    angle = _uniform((n,), nuisance.max_rotation, generator)
    scale = torch.exp(_uniform((n, 2), nuisance.max_log_scale, generator))
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    linear = rotation * scale[:, None, :]  # rotation @ diag(scale)
    shift = _uniform((n, 2), nuisance.max_shift, generator)
    return torch.einsum("nij,nsej->nsei", linear, strokes) + shift[:, None, None, :]


def _render(strokes: Tensor, visible: Tensor, widths: Tensor, image_size: int) -> Tensor:
    """Soft-rasterise segments: intensity exp(−d²/2w²) of the distance d to the nearest one.

    Parameters
    ----------
    strokes : Tensor, shape (N, S, 2, 2)
    visible : Tensor, shape (N, S), bool
        Which segments are drawn.
    widths : Tensor, shape (N,)
    image_size : int

    Returns
    -------
    Tensor, shape (N, image_size²), values in [0, 1]
    """
    centres = (torch.arange(image_size, dtype=torch.float32) + 0.5) * (2.0 / image_size) - 1.0
    rows, cols = torch.meshgrid(-centres, centres, indexing="ij")
    pixels = torch.stack([cols.flatten(), rows.flatten()], dim=-1)  # (P, 2) as (x, y)
    start, direction = strokes[:, :, 0], strokes[:, :, 1] - strokes[:, :, 0]  # (N, S, 2)
    offset = pixels[None, None] - start[:, :, None]  # (N, S, P, 2)
    length2 = (direction * direction).sum(-1).clamp_min(1e-8)[:, :, None]
    t = ((offset * direction[:, :, None]).sum(-1) / length2).clamp(0.0, 1.0)
    distance2 = ((offset - t[..., None] * direction[:, :, None]) ** 2).sum(-1)
    intensity = torch.exp(-distance2 / (2.0 * widths[:, None, None] ** 2))
    return (intensity * visible[:, :, None]).amax(dim=1)


def make_glyphs(
    n_classes: int = 40,
    per_class: int = 60,
    image_size: int = 8,
    *,
    difficulty: float = 0.5,
    classes_per_family: int = 4,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Generate a fine-grained data set of stroke glyphs, deterministic for a seed.

    Each class is a prototype drawing of 4 line segments. Classes come in *families* of
    ``classes_per_family`` that share 3 segments and differ only in the fourth, so
    neighbouring classes differ in a small detail (the fine-grained setting of CUB or CARS).
    Every sample redraws its class prototype with nuisance variation whose size grows
    linearly with ``difficulty``; at ``difficulty=1``: endpoint jitter (std 0.15, the image
    spans [-1, 1]), a random rotation (up to ±45°), anisotropic scale (up to ×e^±0.4),
    shift (up to 15 % of the image side), stroke width (×e^±0.5), an extra distractor
    segment unrelated to the class with probability 0.8, and Gaussian pixel noise (std 0.2).
    The nuisance acts on the geometry before rendering, so it is far from linear in pixel
    space: nearest neighbours on raw pixels lose accuracy as ``difficulty`` grows, far
    below their accuracy on the test digits of :func:`load_digits_split`. At
    ``difficulty=0`` every sample equals its prototype.

    Parameters
    ----------
    n_classes : int, default 40
    per_class : int, default 60
        Samples per class.
    image_size : int, default 8
        Side of the square image; the feature dimension is ``image_size**2`` (64 by default,
        like :func:`load_digits_split`).
    difficulty : float in [0, 1], default 0.5
        Size of the nuisance variation.
    classes_per_family : int, default 4
        Classes sharing the same 3 base segments.
    seed : int, default 0
        The same arguments and seed always give the same tensors.

    Returns
    -------
    x : Tensor, shape (n_classes * per_class, image_size**2), float32 in [0, 1]
        Flattened images, rows grouped by class; ``x.view(-1, 1, image_size, image_size)``
        gives images for a CNN.
    y : Tensor, shape (n_classes * per_class,), int64
        Class ids 0..n_classes−1; classes 0..n_classes/2−1 are the training half under
        :func:`class_split`.
    """
    n_classes = validate_positive_int("n_classes", n_classes)
    per_class = validate_positive_int("per_class", per_class)
    image_size = validate_positive_int("image_size", image_size)
    classes_per_family = validate_positive_int("classes_per_family", classes_per_family)
    difficulty = validate_real("difficulty", difficulty, minimum=0.0, maximum=1.0)
    seed = validate_seed("seed", seed)
    n = n_classes * per_class
    # _render holds a few (N, strokes, pixels, 2) float32 tensors at once
    validate_memory(f"make_glyphs of {n} images of {image_size} x {image_size}",
                    n * (_FAMILY_STROKES + 2) * image_size**2 * 2 * 4 * 6)
    generator = torch.Generator().manual_seed(seed)
    nuisance = _Nuisance.at(difficulty)

    n_families = math.ceil(n_classes / classes_per_family)
    family_strokes = _random_strokes(n_families, _FAMILY_STROKES, generator)
    own_stroke = _random_strokes(n_classes, 1, generator)
    family = torch.arange(n_classes) // classes_per_family
    prototypes = torch.cat([family_strokes[family], own_stroke], dim=1)  # (C, 4, 2, 2)

    y = torch.arange(n_classes).repeat_interleave(per_class)
    n = y.numel()
    distractor = _random_strokes(n, 1, generator)
    strokes = _transform_strokes(torch.cat([prototypes[y], distractor], dim=1), nuisance, generator)
    visible = torch.ones(strokes.shape[:2], dtype=torch.bool)
    visible[:, -1] = torch.rand(n, generator=generator) < nuisance.distractor_probability
    widths = (0.6 * 2.0 / image_size) * torch.exp(_uniform((n,), nuisance.width_spread, generator))
    images = _render(strokes, visible, widths, image_size)
    images = images + nuisance.pixel_noise * torch.randn(images.shape, generator=generator)
    return images.clamp(0.0, 1.0), y


# --- P×K batch sampler -----------------------------------------------------------------


class PKSampler(Sampler[list[int]]):
    """Batches of P classes × K instances, each class a contiguous block of K indices.

    This is the layout of the official EE sampler (``dataset/sampler.py``, docs/paper.md §1.2),
    which EE's pairing relies on: rows ``(0, 1), (2, 3), …`` of a batch are same-class pairs
    when K is even. One epoch visits every class once, in a random order, so it has
    ``n_classes // P`` batches (one more, smaller, when ``drop_last=False`` and P does not
    divide the number of classes), i.e. about ``n_classes × K`` samples as in the official
    code. Within a class, K indices are drawn without replacement when the class has at
    least K samples and with replacement otherwise.

    Use it as ``DataLoader(dataset, batch_sampler=PKSampler(...))`` or index tensors directly:
    ``for batch in sampler: x[batch]``.

    Parameters
    ----------
    labels : Tensor or array-like, shape (N,)
        Integer class label of every sample of the data set.
    classes_per_batch : int
        P, the number of classes per batch.
    samples_per_class : int
        K, the number of instances per class (even, for EE's pairing).
    seed : int, default 0
        Two samplers with the same labels and seed yield the same sequence of epochs;
        successive epochs of one sampler differ.
    drop_last : bool, default True
        Drop the last batch when it would hold fewer than P classes.

    Raises
    ------
    ValueError
        If there are fewer than P classes.
    """

    def __init__(
        self,
        labels: Tensor | ArrayLike,
        classes_per_batch: int,
        samples_per_class: int,
        *,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        labels = as_label_tensor(labels)
        self.classes_per_batch = validate_positive_int("classes_per_batch", classes_per_batch)
        self.samples_per_class = validate_positive_int("samples_per_class", samples_per_class)
        self.drop_last = validate_flag("drop_last", drop_last)
        classes, counts = torch.unique(labels, return_counts=True)
        if classes.numel() < self.classes_per_batch:
            raise ValueError(
                f"labels has only {classes.numel()} classes but classes_per_batch is "
                f"{self.classes_per_batch}; a batch needs that many distinct classes"
            )
        # one stable sort groups the indices by class, each group in increasing order
        self._class_indices = list(torch.argsort(labels, stable=True).split(counts.tolist()))
        self._generator = torch.Generator().manual_seed(validate_seed("seed", seed))

    def __len__(self) -> int:
        n_classes, p = len(self._class_indices), self.classes_per_batch
        return n_classes // p if self.drop_last else math.ceil(n_classes / p)

    def _draw(self, indices: Tensor) -> Tensor:
        """K indices of one class, without replacement when the class is large enough."""
        k = self.samples_per_class
        if indices.numel() >= k:
            return indices[torch.randperm(indices.numel(), generator=self._generator)[:k]]
        return indices[torch.randint(indices.numel(), (k,), generator=self._generator)]

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self._class_indices), generator=self._generator).tolist()
        p = self.classes_per_batch
        for start in range(0, len(self) * p, p):
            classes = order[start : start + p]
            yield torch.cat([self._draw(self._class_indices[c]) for c in classes]).tolist()


# --- latent classes hidden in nuisance --------------------------------------------------


def make_latent_classes(
    n_classes: int = 40,
    per_class: int = 40,
    *,
    signal_dim: int = 8,
    nuisance_dim: int = 56,
    within_class_std: float = 0.35,
    nuisance_std: float = 1.0,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Classes that differ only in a few hidden directions, drowned in nuisance.

    Each class has a prototype in a ``signal_dim``-dimensional signal space (standard
    normal); a sample is its prototype plus Gaussian noise (``within_class_std``),
    concatenated with ``nuisance_dim`` dimensions of class-independent noise
    (``nuisance_std``), and the whole vector is rotated by one fixed random orthogonal
    matrix, so no single feature is either signal or nuisance. Raw Euclidean distances are
    dominated by the nuisance (nearest neighbours on raw features retrieve poorly), but
    *which directions to ignore* is the same for every class: an embedding learned on half
    of the classes transfers to the other half (notebook 01 prints Recall@1 on raw features
    and after training), which is exactly what metric learning promises.

    Parameters
    ----------
    n_classes, per_class : int
        Number of classes and samples per class.
    signal_dim, nuisance_dim : int
        Dimensions that carry the class and dimensions of pure noise; the feature
        dimension is their sum (64 by default, like the digits).
    within_class_std, nuisance_std : float
        Standard deviations of the within-class noise and of the nuisance.
    seed : int, default 0

    Returns
    -------
    x : Tensor, shape (n_classes * per_class, signal_dim + nuisance_dim), float32
    y : Tensor, shape (n_classes * per_class,), int64
        Class ``c`` occupies rows ``c * per_class`` to ``(c + 1) * per_class - 1``.
    """
    n_classes, per_class, signal_dim = (validate_positive_int(name, value) for name, value in (
        ("n_classes", n_classes), ("per_class", per_class), ("signal_dim", signal_dim)))
    nuisance_dim = validate_count("nuisance_dim", nuisance_dim, minimum=0)
    # the noise is drawn in float32, whose randn reaches about 6 standard deviations
    within_class_std, nuisance_std = (validate_real(name, value, minimum=0.0, maximum=1e30) for name, value in (
        ("within_class_std", within_class_std), ("nuisance_std", nuisance_std)))
    seed = validate_seed("seed", seed)
    dim = signal_dim + nuisance_dim
    validate_memory(f"make_latent_classes of {n_classes * per_class} samples of dimension {dim}",
                    4 * (3 * n_classes * per_class * dim + 4 * dim * dim))
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(n_classes, signal_dim, generator=generator)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    signal = prototypes[y] + within_class_std * torch.randn(len(y), signal_dim, generator=generator)
    nuisance = nuisance_std * torch.randn(len(y), nuisance_dim, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
    return (torch.cat([signal, nuisance], dim=1) @ rotation).float(), y


__all__ = [
    "ClassSplit",
    "DataSplit",
    "PKSampler",
    "class_split",
    "load_digits_split",
    "make_glyphs",
    "make_latent_classes",
    "random_batch",
    "split_dataset",
    "toy_batch",
]
