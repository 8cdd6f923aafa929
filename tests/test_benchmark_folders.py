"""Tests for eelib.experiments.benchmark_folders on small fake copies of the three benchmark layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fake_benchmarks import write_cub, write_image
from PIL import Image
from scipy.io import savemat
from torch.utils.data import DataLoader

from eelib import set_memory_limit
from eelib.data import PKSampler
from eelib.experiments.benchmark_folders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    ImageListDataset,
    TrainTransform,
    _mat_content_bytes,
    load_benchmark,
    to_normalized_tensor,
)

pytestmark = pytest.mark.unit

IMAGES_PER_CLASS = 2


# --- fake data sets --------------------------------------------------------------------

CUB_CLASSES = (1, 2, 100, 101, 150)  # 3 train classes, 2 test classes


@pytest.fixture
def cub_root(tmp_path: Path) -> Path:
    return write_cub(tmp_path, CUB_CLASSES, IMAGES_PER_CLASS)


CARS_CLASSES = (1, 50, 98, 99, 196)  # 3 train classes, 2 test classes


def cars_annotations(records: list[tuple[str, int]]) -> np.ndarray:
    """A 1×N MATLAB struct array with the fields of Stanford's cars_annos.mat."""
    names = ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test")
    annotations = np.zeros((1, len(records)), dtype=[(name, "O") for name in names])
    for i, (relative, class_id) in enumerate(records):
        annotations[0, i] = (
            np.array([relative]),
            *(np.array([[v]], dtype=np.uint16) for v in (1, 2, 18, 12)),
            np.array([[class_id]], dtype=np.uint8),
            np.array([[i % 2]], dtype=np.uint8),
        )
    return annotations


@pytest.fixture
def cars_root(tmp_path: Path) -> Path:
    records = []
    for class_id in CARS_CLASSES:
        for _ in range(IMAGES_PER_CLASS):
            relative = f"car_ims/{len(records) + 1:06d}.jpg"
            write_image(tmp_path / relative, 7 * len(records), fmt="JPEG")
            records.append((relative, class_id))
    savemat(
        tmp_path / "cars_annos.mat",
        {"annotations": cars_annotations(records), "class_names": np.array([["A", "B"]], "O")},
    )
    return tmp_path


SOP_SPLITS = {"train": (1, 2, 3), "test": (11319, 11320)}
SOP_HEADER = "image_id class_id super_class_id path"


@pytest.fixture
def sop_root(tmp_path: Path) -> Path:
    image_id = 0
    for split, classes in SOP_SPLITS.items():
        lines = [SOP_HEADER]
        for class_id in classes:
            for i in range(IMAGES_PER_CLASS):
                image_id += 1
                relative = f"bicycle_final/{class_id}_{i}.JPG"
                write_image(tmp_path / relative, 5 * image_id, fmt="JPEG")
                lines.append(f"{image_id} {class_id} 1 {relative}")
        (tmp_path / f"Ebay_{split}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


# --- splits, labels, tensors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fixture", "n_train_classes", "n_test_classes"),
    [("cub200", "cub_root", 3, 2), ("cars196", "cars_root", 3, 2), ("sop", "sop_root", 3, 2)],
)
def test_splits_counts_and_labels(name, fixture, n_train_classes, n_test_classes, request):
    root = request.getfixturevalue(fixture)
    train = load_benchmark(name, root, "train", image_size=16)
    test = load_benchmark(name, root, "test", image_size=16)
    assert len(train) == n_train_classes * IMAGES_PER_CLASS
    assert len(test) == n_test_classes * IMAGES_PER_CLASS
    assert train.labels.tolist() == sorted(train.labels.tolist())
    assert set(train.labels.tolist()) == set(range(n_train_classes))
    assert set(test.labels.tolist()) == set(range(n_test_classes))
    assert set(train.paths).isdisjoint(test.paths)
    image, label = test[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert label == 0
    assert isinstance(train.transform, TrainTransform)
    assert isinstance(test.transform, EvalTransform)


def test_cub_split_follows_class_ids(cub_root: Path) -> None:
    train = load_benchmark("cub200", cub_root, "train")
    test = load_benchmark("cub200", cub_root, "test")
    assert {p.parent.name for p in train.paths} == {"001.Bird_1", "002.Bird_2", "100.Bird_100"}
    assert {p.parent.name for p in test.paths} == {"101.Bird_101", "150.Bird_150"}


def test_cub_accepts_the_cub_folder_itself(cub_root: Path) -> None:
    dataset = load_benchmark("cub200", cub_root / "CUB_200_2011", "train")
    assert len(dataset) == 3 * IMAGES_PER_CLASS


def test_cars_split_follows_class_ids(cars_root: Path) -> None:
    test = load_benchmark("cars196", cars_root, "test")
    assert [p.name for p in test.paths] == [f"{i:06d}.jpg" for i in range(7, 11)]


def test_dataset_feeds_a_pk_dataloader(sop_root: Path) -> None:
    dataset = load_benchmark("sop", sop_root, "train", image_size=8)
    loader = DataLoader(dataset, batch_sampler=PKSampler(dataset.labels, 3, 2, seed=0))
    images, labels = next(iter(loader))
    assert images.shape == (6, 3, 8, 8)
    assert labels.view(3, 2).unique(dim=1).shape == (3, 1)


def test_custom_transform_is_used(sop_root: Path) -> None:
    dataset = load_benchmark("sop", sop_root, "test", transform=EvalTransform(5))
    assert dataset[0][0].shape == (3, 5, 5)


# --- transforms ------------------------------------------------------------------------


def test_normalisation_of_a_constant_image() -> None:
    image = Image.new("RGB", (4, 3), color=(255, 0, 128))
    tensor = to_normalized_tensor(image)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    expected = (torch.tensor([1.0, 0.0, 128 / 255]) - mean) / std
    assert tensor.shape == (3, 3, 4)
    assert torch.allclose(tensor, expected[:, None, None].expand(3, 3, 4), atol=1e-6)


def test_grayscale_images_become_three_channels() -> None:
    assert EvalTransform(6)(Image.new("L", (9, 9), color=40)).shape == (3, 6, 6)


def test_train_transform_is_random_but_seedable() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    transform = TrainTransform(16)
    torch.manual_seed(0)
    first = [transform(image) for _ in range(8)]
    torch.manual_seed(0)
    second = [transform(image) for _ in range(8)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert all(t.shape == (3, 16, 16) for t in first)
    assert len({t.sum().item() for t in first}) > 1


def test_train_transform_without_crop_is_a_resize_or_its_mirror() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    resized = EvalTransform(12)(image)
    transform = TrainTransform(12, crop_probability=0.0)
    torch.manual_seed(3)
    outputs = [transform(image) for _ in range(10)]
    assert all(torch.equal(o, resized) or torch.equal(o, resized.flip(-1)) for o in outputs)
    assert any(torch.equal(o, resized.flip(-1)) for o in outputs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TrainTransform(0),
        lambda: EvalTransform(2.5),
        lambda: TrainTransform(8, resize_ratio=0.5),
        lambda: TrainTransform(8, crop_probability=2.0),
    ],
)
def test_transform_arguments_are_checked(make) -> None:
    with pytest.raises((TypeError, ValueError), match="must be"):
        make()


def test_image_list_dataset_length_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one label per image"):
        ImageListDataset([tmp_path / "a.png"], [0, 1], EvalTransform(4))


# --- errors ----------------------------------------------------------------------------


def test_missing_metadata_file_names_the_expected_path(cub_root: Path) -> None:
    (cub_root / "CUB_200_2011" / "image_class_labels.txt").unlink()
    expected = str(cub_root / "CUB_200_2011" / "image_class_labels.txt")
    with pytest.raises(FileNotFoundError, match="image_class_labels.txt") as info:
        load_benchmark("cub200", cub_root, "train")
    assert expected in str(info.value)


def test_missing_cub_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"CUB_200_2011[/\\]images.txt"):
        load_benchmark("cub200", tmp_path, "test")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="root folder .* does not exist"):
        load_benchmark("sop", tmp_path / "nowhere", "train")


def test_malformed_cub_line_is_located(cub_root: Path) -> None:
    labels_file = cub_root / "CUB_200_2011" / "image_class_labels.txt"
    lines = labels_file.read_text().splitlines()
    lines[1] = "2 two"
    labels_file.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"line 2: expected '<image_id> <class_id>', got '2 two'"):
        load_benchmark("cub200", cub_root, "train")


def test_malformed_sop_line_and_header(sop_root: Path) -> None:
    listing = sop_root / "Ebay_test.txt"
    lines = listing.read_text().splitlines()
    listing.write_text("\n".join([lines[0], "7 11319 bicycle_final/x.JPG", *lines[2:]]))
    with pytest.raises(ValueError, match="line 2: expected '<image_id> <class_id> <super_class_id"):
        load_benchmark("sop", sop_root, "test")
    listing.write_text("\n".join(["id class path", *lines[1:]]))
    with pytest.raises(ValueError, match="line 1: expected the header"):
        load_benchmark("sop", sop_root, "test")


def test_cars_without_class_field(tmp_path: Path) -> None:
    annotations = np.zeros((1, 1), dtype=[("relative_im_path", "O"), ("label", "O")])
    annotations[0, 0] = (np.array(["car_ims/000001.jpg"]), np.array([[1]]))
    savemat(tmp_path / "cars_annos.mat", {"annotations": annotations})
    with pytest.raises(ValueError, match="annotation fields \\['relative_im_path', 'label'\\]"):
        load_benchmark("cars196", tmp_path, "train")


def test_cars_file_that_is_not_matlab(tmp_path: Path) -> None:
    (tmp_path / "cars_annos.mat").write_text("not a mat file")
    with pytest.raises(ValueError, match="could not be read; expected a MATLAB file"):
        load_benchmark("cars196", tmp_path, "train")


def test_missing_image_is_reported(cars_root: Path) -> None:
    (cars_root / "car_ims" / "000008.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 of the 4 images .* missing"):
        load_benchmark("cars196", cars_root, "test")


def test_unknown_name_and_split(sop_root: Path) -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        load_benchmark("imagenet", sop_root, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        load_benchmark("sop", sop_root, "val")


def test_empty_split_is_reported(cub_root: Path) -> None:
    folder = cub_root / "CUB_200_2011"
    lines = folder.joinpath("image_class_labels.txt").read_text().splitlines()
    folder.joinpath("image_class_labels.txt").write_text(
        "\n".join(line.rsplit(" ", 1)[0] + " 5" for line in lines)
    )
    with pytest.raises(ValueError, match="test split of cub200 .* lists no images"):
        load_benchmark("cub200", cub_root, "test")


# --- hostile copies: nothing is read outside the root, every error names file and line ---


def _set_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real image next to (not inside) the data set roots of the fixtures' subfolders."""
    image = tmp_path.parent / f"{tmp_path.name}-outside.png"
    write_image(image, 99)
    yield image
    image.unlink()


LEAVING = {
    "absolute": lambda outside: (str(outside), "is absolute"),
    "dot-dot": lambda outside: (f"../../../{outside.name}", "contains '..'"),
    "dot-dot-inside": lambda outside: ("a/../b.jpg", "contains '..'"),
    "windows-dot-dot": lambda outside: ("..\\..\\x.jpg", "contains '..'"),
    "windows-drive": lambda outside: ("C:\\Windows\\win.ini", "is absolute"),
}


@pytest.mark.parametrize("case", LEAVING)
def test_cub_paths_leaving_the_root_are_refused(cub_root: Path, outside: Path, case: str) -> None:
    listed, why = LEAVING[case](outside)
    images = cub_root / "CUB_200_2011" / "images.txt"
    _set_line(images, 3, f"3 {listed}")
    with pytest.raises(ValueError, match=rf"images\.txt, line 3: the path .* {why}"):
        load_benchmark("cub200", cub_root, "train")


@pytest.mark.parametrize("case", LEAVING)
def test_sop_paths_leaving_the_root_are_refused(sop_root: Path, outside: Path, case: str) -> None:
    listed, why = LEAVING[case](outside)
    listing = sop_root / "Ebay_test.txt"
    _set_line(listing, 2, f"7 11319 1 {listed}")
    with pytest.raises(ValueError, match=rf"Ebay_test\.txt, line 2: the path .* {why}"):
        load_benchmark("sop", sop_root, "test")


def test_cars_paths_leaving_the_root_are_refused(tmp_path: Path) -> None:
    savemat(tmp_path / "cars_annos.mat", {"annotations": cars_annotations([("car_ims/1.jpg", 1), ("../x.jpg", 2)])})
    with pytest.raises(ValueError, match=r"cars_annos\.mat, annotation 2: the path '\.\./x\.jpg' contains '\.\.'"):
        load_benchmark("cars196", tmp_path, "train")


def test_symbolic_links_out_of_the_root_are_refused_without_telling_what_exists(sop_root: Path, outside: Path) -> None:
    """A link to a real image outside and a link to nothing give the same error: no existence oracle."""
    folder = sop_root / "bicycle_final"
    (folder / "to_real.JPG").symlink_to(outside)
    (folder / "to_nothing.JPG").symlink_to(outside.with_name("no-such-file.png"))
    messages = []
    listing = sop_root / "Ebay_test.txt"
    for name in ("to_real.JPG", "to_nothing.JPG"):
        _set_line(listing, 2, f"7 11319 1 bicycle_final/{name}")
        with pytest.raises(ValueError, match="leads outside the data set root") as info:
            load_benchmark("sop", sop_root, "test")
        messages.append(str(info.value).replace(name, "NAME"))
    assert messages[0] == messages[1]
    assert str(outside) not in messages[0]


def test_a_symbolic_link_inside_the_root_is_followed(sop_root: Path) -> None:
    folder = sop_root / "bicycle_final"
    (folder / "alias.JPG").symlink_to(folder / "11319_0.JPG")
    _set_line(sop_root / "Ebay_test.txt", 2, "7 11319 1 bicycle_final/alias.JPG")
    dataset = load_benchmark("sop", sop_root, "test", image_size=4)
    assert dataset[0][0].shape == (3, 4, 4)


def test_a_metadata_file_linked_out_of_the_root_is_not_read(cub_root: Path, tmp_path: Path) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("1 my secret line\n")
    labels = cub_root / "CUB_200_2011" / "image_class_labels.txt"
    labels.unlink()
    labels.symlink_to(secret)
    try:
        with pytest.raises(ValueError, match="leads outside the data set root") as info:
            load_benchmark("cub200", cub_root, "train")
        assert "secret line" not in str(info.value)
    finally:
        secret.unlink()


@pytest.mark.parametrize(
    ("line", "expected"),
    [("² 001.Bird_1/Bird_1_0.jpg", "line 3: expected '<image_id> <relative path>', got '² "),
     ("٣ 001.Bird_1/Bird_1_0.jpg", "line 3: expected '<image_id> <relative path>'"),  # an Arabic-Indic 3
     ("3 a\x00b.jpg", "line 3: the path 'a\\\\x00b.jpg' contains a NUL character"),
     ("1 001.Bird_1/Bird_1_0.jpg", "line 3: id 1 is listed again \\(first on line 1\\)")],
    ids=["superscript-two", "arabic-indic-digit", "nul", "duplicate-id"],
)
def test_malformed_cub_image_lists_name_file_and_line(cub_root: Path, line: str, expected: str) -> None:
    _set_line(cub_root / "CUB_200_2011" / "images.txt", 3, line)
    with pytest.raises(ValueError, match=r"images\.txt, " + expected):
        load_benchmark("cub200", cub_root, "train")


def test_duplicate_ids_in_the_label_file_and_the_sop_list(cub_root: Path, sop_root: Path) -> None:
    _set_line(cub_root / "CUB_200_2011" / "image_class_labels.txt", 4, "2 100")
    with pytest.raises(ValueError, match=r"image_class_labels\.txt, line 4: id 2 is listed again"):
        load_benchmark("cub200", cub_root, "train")
    _set_line(sop_root / "Ebay_test.txt", 3, "7 11319 1 bicycle_final/11319_1.JPG")
    _set_line(sop_root / "Ebay_test.txt", 2, "7 11319 1 bicycle_final/11319_0.JPG")
    with pytest.raises(ValueError, match=r"Ebay_test\.txt, line 3: id 7 is listed again \(first on line 2\)"):
        load_benchmark("sop", sop_root, "test")


def test_non_utf8_metadata_names_the_line(cub_root: Path) -> None:
    images = cub_root / "CUB_200_2011" / "images.txt"
    lines = images.read_bytes().splitlines()
    lines[4] = b"5 caf\xe9.jpg"  # Latin-1
    images.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=r"images\.txt, line 5: expected UTF-8 text, got the byte 0xe9"):
        load_benchmark("cub200", cub_root, "train")


@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0 MAT-file" + b"\0" * 20, bytes(range(256)) * 3],
                         ids=["empty", "short-header", "garbage"])
def test_any_malformed_mat_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "cars_annos.mat").write_bytes(content)
    with pytest.raises(ValueError, match=r"cars_annos\.mat could not be read; expected a MATLAB file"):
        load_benchmark("cars196", tmp_path, "train")


@pytest.fixture
def small_memory_limit():
    set_memory_limit(16 * 2**20)
    yield
    set_memory_limit(None)


def test_a_mat_file_that_inflates_beyond_memory_is_refused_before_it_is_read(
        tmp_path: Path, small_memory_limit: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 MB of zeros compress to a few KB: judged by its file size (x 20) it would pass the
    # 16 MiB limit, judged by what it inflates to (x 20 = 100 MB) it must not be loaded.
    path = tmp_path / "cars_annos.mat"
    savemat(path, {"annotations": np.zeros((1, 5_000_000), np.uint8)}, do_compression=True)
    assert path.stat().st_size * 20 < 2**20

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("scipy.io.loadmat was called on a refused file")

    monkeypatch.setattr("scipy.io.loadmat", never)
    with pytest.raises(ValueError, match=r"cars_annos\.mat inflates to more than \d+ bytes.*above the memory limit of 16777216 bytes"):
        load_benchmark("cars196", tmp_path, "train")


def test_counting_what_a_mat_file_inflates_to_stops_at_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "bomb.mat"
    savemat(path, {"x": np.zeros((1, 20_000_000), np.uint8)}, do_compression=True)
    assert _mat_content_bytes(path, stop_after=10**12) >= 20_000_000
    assert _mat_content_bytes(path, stop_after=10**6) < 2 * 10**6


def test_a_fractional_cars_class_is_refused(tmp_path: Path) -> None:
    annotations = cars_annotations([("car_ims/1.jpg", 1)])
    annotations[0, 0]["class"] = np.array([[1.5]])
    savemat(tmp_path / "cars_annos.mat", {"annotations": annotations})
    with pytest.raises(ValueError, match=r"annotation 1 must hold a path string and an integer class"):
        load_benchmark("cars196", tmp_path, "train")


@pytest.mark.parametrize("damage", ["truncated", "not-an-image"])
def test_an_undecodable_image_names_its_file_and_line(cub_root: Path, damage: str) -> None:
    dataset = load_benchmark("cub200", cub_root, "test", image_size=8)
    path = dataset.paths[1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"plain text, not a JPEG")
    with pytest.raises(ValueError, match=rf"{path.name} \(listed in .*images\.txt, line 8\): could not be"):
        dataset[1]
    assert dataset[0][0].shape == (3, 8, 8)  # the others still load


def test_root_must_be_a_path(cub_root: Path) -> None:
    with pytest.raises(TypeError, match="root must be a str or a pathlib.Path"):
        load_benchmark("cub200", 5, "train")
    with pytest.raises(ValueError, match="root contains a NUL character"):
        load_benchmark("cub200", "a\x00b", "train")


def test_transforms_refuse_sizes_beyond_memory() -> None:
    with pytest.raises(ValueError, match="image_size=1000000 would need about"):
        EvalTransform(10**6)
    with pytest.raises(ValueError, match="resize_ratio=1e\\+06 would need about"):
        TrainTransform(227, resize_ratio=1e6)
    with pytest.raises(ValueError, match="resize_ratio must be"):
        TrainTransform(8, resize_ratio=float("nan"))
    with pytest.raises(TypeError, match="crop_probability must be a number"):
        TrainTransform(8, crop_probability="0.5")


def test_image_list_dataset_checks_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="labels must hold integers"):
        ImageListDataset([tmp_path / "a.png"], [0.5], EvalTransform(4))
    with pytest.raises(TypeError, match="transform must be callable"):
        ImageListDataset([tmp_path / "a.png"], [0], "resize")
    with pytest.raises(TypeError, match="paths must be a sequence"):
        ImageListDataset(tmp_path / "a.png", [0], EvalTransform(4))
