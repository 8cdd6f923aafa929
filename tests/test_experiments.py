"""`python -m eelib.experiments`: the quick offline run and the real-benchmark path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eelib.analysis import class_distance_matrix
from eelib.experiments.runner import Config, main, parse_args

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """main() sets torch's thread count (--threads); keep it from leaking into other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_help_describes_the_protocol() -> None:
    result = subprocess.run([sys.executable, "-m", "eelib.experiments", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    for flag in ("--quick", "--seeds", "--data-dir", "--dataset", "--device", "--model", "--lr", "--weight-decay"):
        assert flag in result.stdout


def test_data_dir_needs_a_dataset_name() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", "somewhere"])


def test_quick_run_writes_the_table_and_figures(tmp_path: Path) -> None:
    assert main(["--quick", "--datasets", "latent", "--out", str(tmp_path)]) == 0
    for name in ("results.csv", "results.json", "results.md", "heatmaps.png", "recall_vs_n.png",
                 "synthetic_share.png", "synthetic_labels.json", "synthetic_labels.png", "timing.md", "timing.json", "summary.json"):
        assert (tmp_path / name).is_file(), name
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in rows][:2] == ["Triplet", "EE + Triplet"] and len(rows) == 10
    assert all(0 <= r["R@1"] <= 100 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert table.startswith("| Method | R@1 | R@2 | R@4 | R@8 | NMI | F1 |")
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["steps"][2]["parameters"] > timing["steps"][1]["parameters"] == timing["steps"][0]["parameters"]


def test_class_distance_matrix_by_hand() -> None:
    x = torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [0.8, 0.6]])
    y = torch.tensor([0, 0, 1, 1])
    plain = class_distance_matrix(x, y, 0)
    assert torch.isclose(plain[0, 0], torch.tensor(2.0))  # the positive pair's distance
    assert torch.isclose(plain[0, 1], (x[0] - x[3]).norm())
    expanded = class_distance_matrix(x, y, 1)  # the midpoint of class 0 normalises to (0, ±1) or is ill-defined
    assert expanded[0, 1] <= plain[0, 1] + 1e-6


def _fake_cub(root: Path, classes=(1, 2, 3, 4, 101, 102, 103, 104), per_class: int = 4) -> Path:
    folder = root / "CUB_200_2011"
    images, labels = [], []
    for class_id in classes:
        for i in range(per_class):
            image_id = len(images) + 1
            relative = f"{class_id:03d}.Bird/{i}.png"
            (folder / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
            pixels = np.full((12, 12, 3), (class_id * 37 + i * 5) % 255, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "images" / relative)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    return root


def test_real_benchmark_path_on_a_fake_cub_folder(tmp_path: Path) -> None:
    root = _fake_cub(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["--data-dir", str(root), "--dataset", "cub200", "--model", "small-cnn", "--image-size", "16",
                 "--seeds", "1", "--epochs", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "results_cub200.json").read_text())
    assert len(rows) == 10 and all(0 <= r["R@1"] <= 100 for r in rows)


def test_missing_benchmark_folder_is_explained(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="images.txt"):
        main(["--data-dir", str(tmp_path), "--dataset", "cub200", "--out", str(tmp_path / "out")])


def test_quick_config_is_smaller() -> None:
    quick, full = Config.quick(), Config()
    assert quick.seeds < full.seeds and quick.epochs < full.epochs
