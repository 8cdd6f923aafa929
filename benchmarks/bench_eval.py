"""Evaluation at Stanford Online Products' size: eelib's metrics against pytorch-metric-learning.

Run by hand from the repository root (never collected by pytest); faiss is optional::

    .venv/bin/python benchmarks/bench_eval.py            # SOP size, 10-20 min on 2 busy cores
    .venv/bin/python benchmarks/bench_eval.py --quick    # 1/10 of the size, about a minute

Embeddings: 60,502 × 512 float32 points in 11,316 classes of 2 to 12 samples (SOP's test set
has these counts; its class sizes are drawn here with a mean of 5.35), each a unit-norm
class centre plus Gaussian noise, normalised, so that Recall@1 is neither 0 nor 1. Nothing is
downloaded.

Timed, with peak memory (resident-set growth sampled by a thread; the script re-executes
itself with ``MALLOC_MMAP_THRESHOLD_`` fixed so that freed blocks leave the process):

* eelib: Recall@K (K = 1, 10, 100, 1000, the paper's SOP cut-offs) and MAP@R in one chunked
  pass (:func:`eelib.metrics.retrieval_metrics`);
* PML's ``AccuracyCalculator`` (precision_at_1, mean_average_precision_at_r), with faiss's
  exact ``IndexFlatL2`` when faiss is installed (PML's default), else with its ``CustomKNN``
  in batches;
* NMI: k-means with one cluster per class by :func:`eelib.metrics.kmeans_cluster_ids`
  (``method="torch"``, and ``"faiss"`` when installed; 20 Lloyd iterations each), and PML's
  NMI with its faiss k-means when faiss is installed.

Agreement: R@1 against PML's precision_at_1 and MAP@R against PML's, on the same embeddings
(must agree up to float ties); PML's NMI formula on eelib's own clustering (must equal eelib's).
Writes ``benchmarks/results/eval.md`` and ``eval.json``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from eelib.metrics import kmeans_cluster_ids, retrieval_metrics

RESULTS = Path(__file__).resolve().parent / "results"
SOP_TEST = {"samples": 60_502, "classes": 11_316, "dim": 512}
KS = (1, 10, 100, 1000)
MMAP_THRESHOLD = "131072"


def sop_like(samples: int, classes: int, dim: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm embeddings in ``classes`` classes of 2..12 samples summing to ``samples``."""
    rng = np.random.default_rng(seed)
    sizes = np.full(classes, 2)
    extra = rng.choice(classes, size=samples - 2 * classes, replace=True)  # spread the rest, at most 12 each
    for c in extra:
        sizes[c if sizes[c] < 12 else rng.choice(np.nonzero(sizes < 12)[0])] += 1
    labels = np.repeat(np.arange(classes), sizes)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = centres[labels] + noise / np.sqrt(dim) * rng.standard_normal((samples, dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    order = rng.permutation(samples)
    return torch.from_numpy(points[order]), torch.from_numpy(labels[order])


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measured(fn: Callable[[], object]) -> tuple[object, float, float, float]:
    """``fn()``, its wall and CPU (all threads) seconds and its peak resident-memory growth in GB."""
    baseline = _resident_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    done.set()
    sampler.join()
    return result, seconds, cpu_seconds, (peak[0] - baseline) / 2**30


def pml_calculator(include: tuple[str, ...], kmeans_func=None):
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    knn = None if importlib.util.find_spec("faiss") else CustomKNN(LpDistance(normalize_embeddings=False), batch_size=1024)
    kwargs = {"knn_func": knn} if knn is not None else {}
    if kmeans_func is not None:
        kwargs["kmeans_func"] = kmeans_func
    return AccuracyCalculator(include=include, device=torch.device("cpu"), k="max_bin_count", **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of SOP's size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--noise", type=float, default=2.2, help="within-class noise (default 2.2: R@1 about 0.8)")
    parser.add_argument("--skip-pml-nmi", action="store_true", help="skip PML's own faiss k-means run")
    parser.add_argument("--skip-kmeans", action="store_true", help="retrieval metrics only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD})
    torch.set_num_threads(args.threads)
    scale = 10 if args.quick else 1
    samples, classes = SOP_TEST["samples"] // scale, SOP_TEST["classes"] // scale
    x, y = sop_like(samples, classes, SOP_TEST["dim"], args.noise)
    has_faiss = importlib.util.find_spec("faiss") is not None
    ks = tuple(k for k in KS if k < samples)
    started, load_before = time.perf_counter(), round(os.getloadavg()[0], 1)
    rows, values = [], {}

    def run(name: str, fn: Callable[[], object]) -> object:
        result, seconds, cpu_seconds, gigabytes = measured(fn)
        rows.append({"what": name, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_GB": gigabytes})
        print(f"  {name}: {seconds:.1f} s ({cpu_seconds:.1f} s CPU), {gigabytes:.2f} GB", flush=True)
        return result

    ours = run(f"eelib R@{{{', '.join(map(str, ks))}}} + MAP@R (one chunked pass)",
               lambda: retrieval_metrics(x, y, ks))
    values["eelib"] = ours
    run("eelib R@1 + MAP@R (what PML computes: 12 neighbours)", lambda: retrieval_metrics(x, y, (1,)))
    pml = run(f"PML AccuracyCalculator precision_at_1 + MAP@R ({'faiss IndexFlatL2' if has_faiss else 'CustomKNN'})",
              lambda: pml_calculator(("precision_at_1", "mean_average_precision_at_r")).get_accuracy(x, y))
    values["PML"] = {k: float(v) for k, v in pml.items()}
    clusterings = {}
    for method in () if args.skip_kmeans else ("torch", "faiss") if has_faiss else ("torch",):
        clusterings[method] = run(f"eelib k-means, {classes} clusters, method={method!r}",
                                  lambda method=method: kmeans_cluster_ids(x, classes, method=method))
    from sklearn.metrics import normalized_mutual_info_score

    values["eelib NMI"] = {m: float(normalized_mutual_info_score(y.numpy(), ids)) for m, ids in clusterings.items()}
    if clusterings:
        same = pml_calculator(("NMI",), kmeans_func=lambda _x, _n: torch.as_tensor(clusterings["torch"]))
        values["PML NMI on eelib's torch clustering"] = float(same.get_accuracy(x, y)["NMI"])
    if has_faiss and not (args.skip_pml_nmi or args.skip_kmeans):
        pml_nmi = run("PML NMI with its faiss k-means (niter=20)", lambda: pml_calculator(("NMI",)).get_accuracy(x, y))
        values["PML NMI (its own faiss k-means)"] = float(pml_nmi["NMI"])
    results = {
        "environment": {"date": datetime.date.today().isoformat(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(), "faiss": has_faiss, "samples": samples,
                        "classes": classes, "dim": SOP_TEST["dim"], "noise": args.noise,
                        "load_before": load_before, "load_after": round(os.getloadavg()[0], 1),
                        "seconds": round(time.perf_counter() - started, 1)},
        "timings": rows, "values": values,
    }
    agreement = [
        ["R@1 (eelib) vs precision_at_1 (PML)", values["eelib"]["R@1"], values["PML"]["precision_at_1"]],
        ["MAP@R (eelib) vs mean_average_precision_at_r (PML)", values["eelib"]["MAP@R"],
         values["PML"]["mean_average_precision_at_r"]],
    ]
    if clusterings:
        agreement.append(["NMI of the torch clustering: eelib vs PML's formula", values["eelib NMI"]["torch"],
                          values["PML NMI on eelib's torch clustering"]])
    env = results["environment"]
    lines = [
        "# Evaluation benchmark",
        f"{env['date']}, torch {env['torch']}, {env['threads']} threads, faiss installed: {env['faiss']}; "
        f"{env['samples']} × {env['dim']} embeddings, {env['classes']} classes; load average "
        f"{env['load_before']} before, {env['load_after']} after; {env['seconds']} s in all.",
        "",
        "| what | wall s | CPU s (all threads) | peak memory (GB) |", "|---|---:|---:|---:|",
        *[f"| {r['what']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_GB']:.2f} |" for r in rows],
        "", "| agreement | eelib | PML |", "|---|---:|---:|",
        *[f"| {name} | {a:.6f} | {b:.6f} |" for name, a, b in agreement],
        "", "eelib's values: " + ", ".join(f"{k} {v:.4f}" for k, v in values["eelib"].items())
        + "; NMI: " + ", ".join(f"{m} {v:.4f}" for m, v in values["eelib NMI"].items())
        + ("" if "PML NMI (its own faiss k-means)" not in values
           else f"; PML's own NMI (faiss k-means, another seed) {values['PML NMI (its own faiss k-means)']:.4f}"),
    ]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "eval_quick" if args.quick else "eval_retrieval" if args.skip_kmeans else "eval"
    (args.out / f"{stem}.md").write_text(markdown)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
