"""Images per second of the image pipeline, on generated image folders.

Run by hand from the repository root (never collected by pytest)::

    .venv/bin/python benchmarks/bench_data.py            # about a minute
    .venv/bin/python benchmarks/bench_data.py --quick

A generated folder in SOP's layout (:func:`eelib.experiments.loading.write_image_folder`,
64 classes × 8 JPEG images of 256 × 256) is read with the official training transform
(random resized crop to 227, flip, normalisation; :class:`eelib.experiments.benchmark_folders.TrainTransform`)
in P × K batches of 32 × 4, in five ways:

* ``gather`` — what :func:`eelib.experiments.train.fit` does with a Dataset ``x``: every image
  decoded and transformed in the training process, one after the other;
* :func:`eelib.experiments.loading.pk_loader` with 0, 1 and 2 worker processes;
* the same with 2 workers and ``pin_memory=True`` (what a GPU run uses).

The number is images delivered per second by the loader alone (no model), over ``--batches``
batches after one warm-up batch; workers overlap loading with training, so on a machine with
spare cores a training step costs at most max(model, loading). Writes
``benchmarks/results/data.md`` and ``data.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from eelib.data import PKSampler
from eelib.experiments.benchmark_folders import TrainTransform, load_benchmark
from eelib.experiments.loading import endless, pk_loader, write_image_folder
from eelib.experiments.train import _gathered  # fit's own in-process loop

RESULTS = Path(__file__).resolve().parent / "results"


def images_per_second(stream, batches: int) -> float:
    next(stream)  # warm-up: workers start, files enter the page cache
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(stream)
        count += images.shape[0]
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer and smaller images")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_classes, size, batches = (16, 160, 3) if args.quick else (64, 256, args.batches)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_image_folder(tmp, n_classes=2 * n_classes, per_class=8, image_size=size)
        data = load_benchmark("sop", root, "train", transform=TrainTransform(227))
        p = min(32, n_classes)
        variants = {
            "gather in the training process (fit without a loader)": _gathered(data, data.labels, PKSampler(data.labels, p, 4)),
            "pk_loader, 0 workers": endless(pk_loader(data, classes_per_batch=p, samples_per_class=4)),
            "pk_loader, 1 worker": endless(pk_loader(data, classes_per_batch=p, samples_per_class=4, workers=1)),
            "pk_loader, 2 workers": endless(pk_loader(data, classes_per_batch=p, samples_per_class=4, workers=2)),
            "pk_loader, 2 workers, pinned memory": endless(pk_loader(data, classes_per_batch=p, samples_per_class=4,
                                                                    workers=2, pin_memory=True)),
        }
        load_before = round(os.getloadavg()[0], 1)
        for name, stream in variants.items():
            rate = images_per_second(stream, batches)
            rows.append({"variant": name, "images_per_second": rate})
            print(f"  {name}: {rate:.0f} images/s", flush=True)
    base = rows[0]["images_per_second"]
    lines = [
        "# Image pipeline benchmark",
        f"{datetime.date.today().isoformat()}, torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads "
        f"{args.threads}, load average {load_before} before; {n_classes} training classes × 8 JPEG images of "
        f"{size} × {size}, TrainTransform(227), batches of {p} × 4, {batches} batches after a warm-up.",
        "", "| variant | images/s | × gather |", "|---|---:|---:|",
        *[f"| {r['variant']} | {r['images_per_second']:.0f} | {r['images_per_second'] / base:.2f} |" for r in rows],
    ]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.md").write_text(markdown)
    (args.out / "data.json").write_text(json.dumps({"rows": rows, "load_before": load_before}, indent=2) + "\n")


if __name__ == "__main__":
    main()
