"""Two-process training on the CPU: torchrun, gloo, DistributedDataParallel (eelib.experiments.distributed).

Slow tier: it starts torchrun and two Python processes (about 20-60 s on two shared cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from fake_benchmarks import write_cub

from eelib.data import make_latent_classes, split_dataset
from eelib.experiments.distributed import build_model, launch
from eelib.losses import triplet_loss

pytestmark = pytest.mark.slow

SETTINGS = ["--data", "latent", "--loss", "triplet", "--mining", "hardest", "--n-synthetic", "2",
            "--classes-per-batch", "4", "--samples-per-class", "4", "--embedding-dim", "8", "--lr", "0.01",
            "--seed", "3"]


def test_two_cpu_processes_take_one_averaged_step(tmp_path: Path) -> None:
    """One step of two ranks = one Adam step on the mean of the two ranks' EE losses, each on its own batch."""
    out, weights = tmp_path / "result.json", tmp_path / "model.pt"
    start = time.perf_counter()
    run = launch([*SETTINGS, "--epochs", "1", "--steps-per-epoch", "1", "--out", str(out),
                  "--save-model", str(weights)], processes=2, timeout=600)
    print(f"two-process run: {time.perf_counter() - start:.1f} s")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2 and result["backend"] == "gloo"
    assert result["max_parameter_difference_between_ranks"] == 0.0
    first, second = result["first_batches"]
    assert first != second  # each rank its own P x K batch

    split = split_dataset(*make_latent_classes(seed=0))
    model = build_model("latent", split.x_train.shape[1], 8, seed=3)
    losses = [triplet_loss(model(split.x_train[batch]), split.y_train[batch], mining="hardest", n_synthetic=2)
              for batch in (first, second)]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    optimizer.zero_grad()
    (sum(losses) / 2).backward()
    optimizer.step()
    trained = torch.load(weights)
    for name, parameter in model.state_dict().items():
        torch.testing.assert_close(trained[name], parameter, rtol=1e-5, atol=1e-6)
    assert result["mean_loss_over_ranks"][0] == pytest.approx(float(sum(losses).detach() / 2), rel=1e-5)


def test_two_cpu_processes_train(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    run = launch([*SETTINGS, "--epochs", "3", "--steps-per-epoch", "10", "--out", str(out)], processes=2, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["max_parameter_difference_between_ranks"] == 0.0
    assert result["mean_loss_over_ranks"][-1] < result["mean_loss_over_ranks"][0]
    assert 0.0 < result["metrics"]["R@1"] <= 1.0


def test_two_cpu_processes_train_on_a_benchmark_folder(tmp_path: Path) -> None:
    """The image path: a fake CUB-200-2011 folder, its loader, DataLoader workers, the small CNN."""
    root = write_cub(tmp_path / "cub", classes=(1, 2, 3, 4, 101, 102), per_class=4)
    out = tmp_path / "result.json"
    run = launch(["--data", "images", "--dataset", "cub200", "--data-dir", str(root), "--model", "small-cnn",
                  "--image-size", "16", "--classes-per-batch", "2", "--samples-per-class", "2", "--embedding-dim", "8",
                  "--epochs", "1", "--steps-per-epoch", "2", "--workers", "1", "--out", str(out)],
                 processes=2, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2 and result["max_parameter_difference_between_ranks"] == 0.0
    first, second = result["first_batches"]
    assert first != second
    assert len(result["mean_loss_over_ranks"]) == 1 and 0.0 < result["metrics"]["R@1"] <= 1.0

