"""The GPU check in one command: EE on the device, the loss benchmarks, a short image training.

    .venv/bin/python benchmarks/gpu_check.py            # a few minutes on a GPU
    .venv/bin/python benchmarks/gpu_check.py --quick    # about a minute

Without a CUDA device it prints why it skipped and exits with status 0, so it can sit in any
script. On a GPU it runs, and prints one table at the end:

1. exactness on the device: EE's mined matrix (:func:`eelib.pairs.hardest_pair_matrix`, values
   and gradients) and every loss with n = 2 on ``cuda`` against the CPU in float64, on the
   official layout and on a shuffled one with odd class sizes; then the compiled mining kernel
   (:func:`eelib.pairs.use_compiled_mining`, Triton on a GPU) against the eager one on the
   device, values and gradients, to 1e-12 in float64 and 1e-6 in float32 (relative to the
   largest entry); a step of every loss, with and without EE, under CUDA's sync debug mode
   "error" (no call may make the host wait), and the mixed-precision tests, whose CUDA float16
   cases run only here;
2. the loss benchmarks on the device (``bench_losses.py --device cuda --compiled``: eelib,
   eelib + EE (n = 2) eager and compiled, and PML, B ∈ {1024, 4096}, D = 512, times
   synchronised, peak memory from ``torch.cuda.max_memory_allocated``);
3. a short training on generated image folders
   (:func:`eelib.experiments.loading.write_image_folder`) with ``--device cuda``: the runner's
   benchmark path (``python -m eelib.experiments --data-dir ... --device cuda --quick``) and
   DistributedDataParallel with NCCL over every visible GPU
   (:mod:`eelib.experiments.distributed`, DataLoader workers, pinned memory).

Each step's exit status and wall time are in the table; the step outputs are kept in ``--out``
(default: a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def exactness_on_device(device: str) -> str:
    """Largest difference between ``device`` and cpu (float64) for the mined matrix and every loss."""
    from eelib.data import random_batch
    from eelib.distances import squared_distances_from_gram
    from eelib.losses import LOSSES
    from eelib.pairs import hardest_pair_matrix, segment_layout

    worst = 0.0
    for sizes, shuffle in (([4] * 16, False), ([3, 5, 2, 4, 6, 3], True)):
        x, y = random_batch(sizes, 32, seed=1, shuffle=shuffle, norm_range=(0.5, 1.5))
        for measure in ("squared_distance", "inner_product"):
            results = []
            for device in ("cpu", device):
                leaf = x.to(device).requires_grad_(True)
                gram = leaf @ leaf.T
                base = squared_distances_from_gram(gram) if measure == "squared_distance" else gram
                mined = hardest_pair_matrix(gram, base, segment_layout(y.to(device)), n_synthetic=2,
                                            normalize_synthetic=True, measure=measure)
                (grad,) = torch.autograd.grad(mined.sum(), leaf)
                results.append((mined.detach().cpu(), grad.cpu()))
            worst = max(worst, float((results[0][0] - results[1][0]).abs().max()),
                        float((results[0][1] - results[1][1]).abs().max()))
        if not shuffle:
            for name, loss in LOSSES.items():
                if name == "npair":
                    xp, yp = random_batch([2] * 16, 32, seed=2)
                    values = [loss(xp.to(d), yp.to(d), n_synthetic=2).item() for d in ("cpu", device)]
                else:
                    values = [loss(x.to(d), y.to(d), n_synthetic=2).item() for d in ("cpu", device)]
                worst = max(worst, abs(values[0] - values[1]))
    if worst > 1e-9:
        raise AssertionError(f"{device} and cpu differ by {worst:.3g} (float64)")
    return f"max |{device} - cpu| = {worst:.2g}"


def compiled_equals_eager(device: str) -> str:
    """Largest relative difference between the compiled and the eager mining kernel on ``device``."""
    from eelib import pairs
    from eelib.data import random_batch
    from eelib.distances import squared_distances_from_gram

    def mined_and_gradient(x, y, measure):
        leaf = x.to(device).requires_grad_(True)
        gram = leaf @ leaf.T
        base = squared_distances_from_gram(gram) if measure == "squared_distance" else gram
        mined = pairs.hardest_pair_matrix(gram, base, pairs.segment_layout(y.to(device)), n_synthetic=2,
                                           normalize_synthetic=True, measure=measure)
        weights = torch.randn(mined.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(0)).to(device)
        (grad,) = torch.autograd.grad((mined * weights).sum(), leaf)
        return mined.detach(), grad

    worst = {}
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        for sizes, shuffle in (([4] * 64, False), ([3, 5, 2, 4, 6, 3] * 8, True)):
            x, y = random_batch(sizes, 64, seed=1, shuffle=shuffle, norm_range=(0.5, 1.5), dtype=dtype)
            for measure in ("squared_distance", "inner_product"):
                pairs.use_compiled_mining(False)
                eager = mined_and_gradient(x, y, measure)
                pairs.use_compiled_mining(True)
                try:
                    compiled = mined_and_gradient(x, y, measure)
                finally:
                    pairs.use_compiled_mining(False)
                for a, b in zip(eager, compiled):
                    error = float((a - b).abs().max()) / (float(a.abs().max()) or 1.0)
                    worst[dtype] = max(worst.get(dtype, 0.0), error)
                    if error > tolerance:
                        raise AssertionError(f"compiled and eager mining differ by {error:.3g} ({dtype}, {measure})")
    return ", ".join(f"{dtype}: {error:.2g}" for dtype, error in worst.items())


def no_synchronisation_on_device(device: str) -> str:
    """A forward + backward step of every loss, with and without EE, under CUDA's sync debug mode "error".

    :func:`torch.cuda.set_sync_debug_mode` raises on any call that makes the host wait for the
    device (a copy back, ``.item()``, a data-dependent shape): the GPU-side counterpart of
    tests/test_host_syncs.py's count. Each configuration runs once first, outside the mode
    (the first call initialises cuBLAS and the caching allocator).
    """
    from eelib.data import random_batch
    from eelib.losses import LOSS_MODULES

    checked = []
    for name, loss_type in LOSS_MODULES.items():
        sizes = [2] * 32 if name == "npair" else [4, 3, 4, 2, 5] * 8
        x, y = random_batch(sizes, 64, seed=0, dtype=torch.float32, shuffle=True)
        x, y = x.to(device), y.to(device)
        for n_synthetic in (0, 2):
            loss = loss_type(n_synthetic=n_synthetic)
            leaf = x.clone().requires_grad_(True)
            loss(leaf, y).backward()
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                loss(leaf, y).backward()
            finally:
                torch.cuda.set_sync_debug_mode("default")
            checked.append(f"{name} n={n_synthetic}")
    torch.cuda.synchronize()
    return f"{len(checked)} steps without a synchronisation ({', '.join(checked)})"


def outcome(done: subprocess.CompletedProcess) -> tuple[str, str]:
    """A finished step's status for the table ("ok" or its exit code) and the end of its output."""
    return "ok" if done.returncode == 0 else f"exit {done.returncode}", (done.stdout + done.stderr)[-4000:]


def run(command: list[str], timeout: float) -> tuple[str, str]:
    return outcome(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller benchmark and training")
    parser.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    parser.add_argument("--device", default="cuda",
                        help="default cuda; cpu runs the same steps without a GPU (slow), to try the script")
    args = parser.parse_args()
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: skipped, no CUDA device is visible to torch "
              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count() if device.startswith("cuda") else 1
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    print(f"gpu_check on {gpus} × {name}, torch {torch.__version__}; outputs in {out}")
    rows = []

    def step(name: str, fn) -> None:
        start = time.perf_counter()
        try:
            status, detail = fn()
        except Exception as error:  # the table reports every step, failed or not
            status, detail = "FAILED", f"{type(error).__name__}: {error}"
        rows.append((name, status, time.perf_counter() - start, detail.strip().splitlines()[-1][:100] if detail else ""))
        print(f"[{status}] {name} ({rows[-1][2]:.0f} s)\n{detail}\n", flush=True)

    step(f"EE and the losses on {device} equal the CPU (float64)", lambda: ("ok", exactness_on_device(device)))
    step(f"compiled mining on {device} equals the eager kernel", lambda: ("ok", compiled_equals_eager(device)))
    if device.startswith("cuda"):
        step(f"a loss step on {device} never waits for the device", lambda: ("ok", no_synchronisation_on_device(device)))
        tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_mixed_precision.py",
                 "tests/test_host_syncs.py"]
        step("mixed precision (float16 autocast on CUDA) and host-sync tests", lambda: run(tests, 900))
    sizes = ["1024"] if args.quick else ["1024", "4096"]
    bench = [sys.executable, "benchmarks/bench_losses.py", "--device", device, "--sizes", *sizes, "--dims", "512",
             "--compiled", "--out", str(out / "losses")]
    step(f"loss benchmarks on {device} (eelib, eelib + EE, PML)", lambda: run(bench, 1800))
    from eelib.experiments.distributed import launch
    from eelib.experiments.loading import write_image_folder

    images = write_image_folder(out / "images", n_classes=32 if args.quick else 64, per_class=8, image_size=96)
    runner = [sys.executable, "-m", "eelib.experiments", "--data-dir", str(images), "--dataset", "sop",
              "--device", device, "--quick", "--model", "small-cnn", "--image-size", "64",
              "--classes-per-batch", "8", "--out", str(out / "runner")]
    step(f"runner on generated images, --device {device}", lambda: run(runner, 1800))
    ddp = ["--data", "images", "--data-dir", str(images), "--device", device, "--workers", "2", "--epochs", "2",
           "--image-size", "64", "--out", str(out / "ddp.json")]
    step(f"DistributedDataParallel on {gpus} {device} process(es), DataLoader workers",
         lambda: outcome(launch(ddp, processes=gpus, timeout=1800)))
    print("| step | status | seconds | last line |\n|---|---|---:|---|")
    for name, status, seconds, last in rows:
        print(f"| {name} | {status} | {seconds:.0f} | {last} |")
    losses_md = out / "losses" / "losses.md"
    if losses_md.exists():
        print("\n" + losses_md.read_text())
    if (out / "ddp.json").exists():
        result = json.loads((out / "ddp.json").read_text())
        print(f"DDP: world size {result['world_size']}, R@1 {result['metrics']['R@1']:.3f}, {result['seconds']} s")
    return 0 if all(status == "ok" for _, status, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
