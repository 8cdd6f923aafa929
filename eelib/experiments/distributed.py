"""Training in several processes: torchrun + DistributedDataParallel, each rank its own P × K batch.

Launch one process per CPU share or GPU with torchrun (the launcher shipped with torch)::

    torchrun --standalone --nproc_per_node 2 -m eelib.experiments.distributed --data latent --epochs 3
    torchrun --standalone --nproc_per_node 4 -m eelib.experiments.distributed \\
        --data images --dataset cub200 --data-dir <CUB_200_2011 folder> --model googlenet \\
        --device cuda --workers 4

or from Python, :func:`launch`. Every process builds the same model from the same seed;
:class:`~torch.nn.parallel.DistributedDataParallel` (gloo on CPU, NCCL on GPU) averages the
gradients of the processes after every backward pass, so all ranks take the same optimiser
step and keep identical parameters. Each rank draws its own P × K batches (its sampler is
seeded with ``seed + rank``), so one step sees ``world_size`` batches of the official EE layout:
EE's pairs and mining stay inside each rank's batch, exactly as in a single-process run with
that batch. Rank 0 then evaluates on the unseen classes and writes the result (``--out``).

The batches reach :func:`eelib.experiments.train.fit` through its ``batches`` hook, from
:func:`eelib.experiments.loading.pk_loader`. Data: ``latent``
(:func:`eelib.data.make_latent_classes`, an MLP) or ``images``: a benchmark folder read by
:func:`eelib.experiments.benchmark_folders.load_benchmark` (``--dataset``: CUB-200-2011, CARS196 or SOP,
whose layout :func:`eelib.experiments.loading.write_image_folder` writes) with one of the
runner's image models (``--model``: a small CNN, or a pretrained GoogLeNet or ResNet-18).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from eelib.data import make_latent_classes, split_dataset
from eelib.experiments.arguments import finite_number, int_at_least
from eelib.experiments.benchmark_folders import BENCHMARKS, load_benchmark
from eelib.experiments.loading import endless, pk_loader
from eelib.experiments.models import IMAGE_MODELS, MLPEmbedder, image_embedder
from eelib.experiments.train import embed, fit
from eelib.losses import LOSSES, TRIPLET_MINING, make_loss
from eelib.metrics import evaluate_embeddings


def build_model(data: str, in_dim: int, embedding_dim: int, seed: int, image_model: str = "small-cnn") -> nn.Module:
    """The model of a run, initialised from ``seed`` (identically on every rank)."""
    torch.manual_seed(seed)
    if data == "latent":
        return MLPEmbedder(in_dim, embedding_dim, hidden=(128,))
    return image_embedder(image_model, embedding_dim)


def load_data(args: argparse.Namespace):
    """(train set, train labels, test set, test labels, input dimension) of a run."""
    if args.data == "latent":
        split = split_dataset(*make_latent_classes(seed=0))
        return split.x_train, split.y_train, split.x_test, split.y_test, split.x_train.shape[1]
    train = load_benchmark(args.dataset, args.data_dir, "train", args.image_size)
    test = load_benchmark(args.dataset, args.data_dir, "test", args.image_size)
    return train, train.labels, test, test.labels, 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torchrun ... -m eelib.experiments.distributed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["latent", "images"], default="latent")
    parser.add_argument("--data-dir", type=Path, help="a benchmark folder (for --data images)")
    parser.add_argument("--dataset", choices=list(BENCHMARKS), default="sop",
                        help="the benchmark layout of --data-dir (default sop)")
    parser.add_argument("--model", choices=list(IMAGE_MODELS), default="small-cnn",
                        help="image model for --data images (pretrained ones need torchvision)")
    parser.add_argument("--image-size", type=int_at_least(16), default=64)
    parser.add_argument("--loss", choices=sorted(LOSSES), default="triplet")
    parser.add_argument("--mining", choices=TRIPLET_MINING, default="hardest", help="triplet mining (default hardest)")
    parser.add_argument("--n-synthetic", type=int_at_least(0), default=2, help="EE's synthetic points per pair (default 2)")
    parser.add_argument("--epochs", type=int_at_least(1), default=3)
    parser.add_argument("--steps-per-epoch", type=int_at_least(1), help="default: one pass over the training set per rank")
    parser.add_argument("--classes-per-batch", type=int_at_least(2), default=8)
    parser.add_argument("--samples-per-class", type=int_at_least(2), default=4)
    parser.add_argument("--embedding-dim", type=int_at_least(1), default=32)
    parser.add_argument("--lr", type=finite_number(0, strict=True), default=1e-3)
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    parser.add_argument("--workers", type=int_at_least(0), default=0, help="DataLoader worker processes per rank")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per rank)")
    parser.add_argument("--save-model", type=Path, help="rank 0 writes the trained parameters here")
    parser.add_argument("--out", type=Path, help="rank 0 writes the result (JSON) here")
    args = parser.parse_args(argv)
    if args.data == "images" and args.data_dir is None:
        parser.error("--data images needs --data-dir")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Train under torchrun (the environment gives RANK, WORLD_SIZE, LOCAL_RANK); rank 0 returns the result."""
    args = parse_args(argv)
    if "RANK" not in os.environ:
        raise RuntimeError("run this module under torchrun (or eelib.experiments.distributed.launch): "
                           "RANK, WORLD_SIZE and the rendezvous address come from it")
    cuda = args.device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:  # share the CPUs instead of every rank spinning threads on all of them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    try:
        return _train(args, rank, world, device)
    finally:
        # The DistributedDataParallel wrapper sits in reference cycles, freed only by the cycle
        # collector. Collect them while the process group still exists: freed at interpreter
        # exit, after the group is destroyed, they can abort a rank ("terminate called without
        # an active exception").
        gc.collect()
        dist.destroy_process_group()


def _train(args: argparse.Namespace, rank: int, world: int, device: torch.device) -> dict:
    x_train, y_train, x_test, y_test, in_dim = load_data(args)
    model = build_model(args.data, in_dim, args.embedding_dim, args.seed, args.model).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    dataset = (x_train, y_train) if args.data == "latent" else x_train
    loader = pk_loader(dataset, y_train, classes_per_batch=args.classes_per_batch,
                       samples_per_class=args.samples_per_class, seed=args.seed + rank, workers=args.workers,
                       pin_memory=device.type == "cuda")
    first_batch = next(iter(copy.deepcopy(loader.batch_sampler)))  # the loader's first batch, drawn from a copy
    loss_kwargs = {"mining": args.mining} if args.loss == "triplet" else {}
    loss = make_loss(args.loss, n_synthetic=args.n_synthetic, **loss_kwargs)
    start = time.perf_counter()
    history = fit(ddp, x_train, y_train, loss=loss,
                  epochs=args.epochs, classes_per_batch=args.classes_per_batch,
                  samples_per_class=args.samples_per_class, steps_per_epoch=args.steps_per_epoch, lr=args.lr,
                  seed=args.seed, progress=False, device=device, batches=endless(loader))
    seconds = time.perf_counter() - start
    # every rank must hold the same parameters: the largest difference to rank 0's
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    difference = (flat - reference).abs().max()
    dist.all_reduce(difference, op=dist.ReduceOp.MAX)
    losses = torch.tensor(history.loss, device=device)
    dist.all_reduce(losses)
    batches = [None] * world
    dist.all_gather_object(batches, first_batch)
    if rank != 0:
        return {}
    ks = tuple(k for k in (1, 2, 4, 8) if k < len(y_test))  # Recall@K needs K other samples
    metrics = evaluate_embeddings(embed(model, x_test), y_test, ks=ks)
    result = {
        "world_size": world, "backend": dist.get_backend(), "device": str(device), "seconds": round(seconds, 2),
        "loss": args.loss, "n_synthetic": args.n_synthetic, "epochs": args.epochs,
        "mean_loss_over_ranks": (losses / world).tolist(), "rank0_loss": history.loss,
        "max_parameter_difference_between_ranks": float(difference), "first_batches": batches,
        "metrics": metrics,
    }
    if args.save_model is not None:
        torch.save(model.state_dict(), args.save_model)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "first_batches"}, indent=2))
    return result


def launch(argv: Sequence[str], processes: int = 2, *, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run this module under torchrun on this machine with ``processes`` ranks; returns the finished process.

    Parameters
    ----------
    argv : sequence of str
        Options of this module (see ``--help``).
    processes : int, default 2
    timeout : float, optional
        Seconds before the run is killed.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(processes)}",
               "-m", "eelib.experiments.distributed", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


__all__ = ["build_model", "launch", "main"]


if __name__ == "__main__":
    main()
