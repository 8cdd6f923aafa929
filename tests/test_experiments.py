"""`python -m eelib.experiments`: argument checks, safe output, a quick offline run, the benchmark path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_benchmarks import write_cub

from eelib.experiments import committed_results, distributed, runner
from eelib.experiments.protocol import METRICS, SECOND_STREAM, Run, RunResult, execute, training_seed
from eelib.experiments.report import results_markdown
from eelib.experiments.runner import Config, main, parse_args, plan
from eelib.experiments.tables import Tables, aa_paired, ablation_paired, main_paired

RESULTS_DIR = Path(str(committed_results()))

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """main() sets torch's thread count (--threads); keep it from leaking into other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _error(capsys, argv, parse=parse_args) -> str:
    """stderr of ``parse(argv)`` (the runner's parse_args unless given), which must be a usage error (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_help_describes_the_protocol() -> None:
    result = subprocess.run([sys.executable, "-m", "eelib.experiments", "--help"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0
    for flag in ("--quick", "--seeds", "--force", "--workers", "--data-dir", "--device", "--lr", "--weight-decay"):
        assert flag in result.stdout


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds: expected an integer >= 2, got 0"),
    (["--seeds", "1"], "--seeds: expected an integer >= 2, got 1"),
    (["--seeds", "two"], "expected an integer >= 2, got 'two'"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "0"], "--lr: expected a finite number > 0"),
    (["--lr", "nan"], "--lr"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--workers", "0"], "--workers"),
    (["--n-values", "0", "40"], "at most 16"),
    (["--classes-per-batch", "6", "--datasets", "latent", "digits"], "cannot fit digits: it has only 5 training"),
    (["--classes-per-batch", "1"], "--classes-per-batch"),
    (["--datasets", "latent", "--analysis-dataset", "digits"], "must be one of --datasets"),
    (["--device", "toaster"], "not a torch device"),
    (["--data-dir", "somewhere"], "--data-dir and --dataset go together"),
    (["--data-dir", "/no/such/folder", "--dataset", "cub200"], "does not exist"),
])
def test_bad_arguments_are_argparse_errors(capsys, tmp_path, argv, message) -> None:
    assert message in _error(capsys, [*argv, "--out", str(tmp_path / "new")])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is visible")
def test_cuda_without_a_gpu_fails_clearly(capsys, tmp_path) -> None:
    assert "sees no CUDA GPU" in _error(capsys, ["--device", "cuda", "--out", str(tmp_path / "new")])


def test_existing_results_are_never_overwritten_without_force(capsys, tmp_path) -> None:
    message = _error(capsys, ["--quick", "--out", str(RESULTS_DIR)])
    assert "is the committed results" in message and "--force" in message
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("x")
    assert "not empty" in _error(capsys, ["--out", str(tmp_path / "old")])
    assert "is a file" in _error(capsys, ["--out", str(tmp_path / "old" / "keep.txt")])
    assert parse_args(["--out", str(tmp_path / "old"), "--force"]).out == (tmp_path / "old").resolve()


def test_the_default_output_is_a_new_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    out = parse_args([]).out
    assert out.parent == tmp_path / "experiment-runs" and not out.exists()


# The DDP trainer's checks that start no process (its training runs are in test_distributed.py, slow tier).

@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--epochs", "0", "expected an integer >= 1, got 0"),
    ("--samples-per-class", "1", "expected an integer >= 2, got 1"),
    ("--lr", "nan", "expected a finite number > 0, got nan"),
    ("--mining", "hard", "invalid choice: 'hard'"),
])
def test_a_bad_ddp_option_is_a_usage_error_before_any_process_group(option, value, expected, capsys) -> None:
    assert f"argument {option}: {expected}" in _error(capsys, [option, value], parse=distributed.parse_args)


def test_outside_torchrun_the_ddp_error_says_how_to_start(monkeypatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.main(["--data", "latent"])


def test_a_failed_run_leaves_the_old_folder_alone(monkeypatch, tmp_path) -> None:
    old = tmp_path / "out"
    old.mkdir()
    (old / "keep.txt").write_text("x")

    def fail(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(runner, "run_offline", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        main(["--quick", "--out", str(old), "--force", "--no-progress"])
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (old / "keep.txt").read_text() == "x"


def test_the_full_plan_pairs_every_run() -> None:
    runs = plan(Config())
    assert len({r for r in runs}) == len(runs)
    by_key = {}
    for r in runs:
        by_key.setdefault((r.dataset, r.method, r.variant, r.n_synthetic), set()).add(r.seed)
    assert all(seeds == set(range(10)) for seeds in by_key.values())
    for dataset in Config().datasets:
        for method in Config().methods:
            assert (dataset, method, "", 0) in by_key and (dataset, method, "", 2) in by_key
            assert (dataset, method, SECOND_STREAM, 0) in by_key  # the A/A control
    assert {n for (d, m, v, n) in by_key if d == "latent-240" and m == "Triplet†" and not v} == {0, 1, 2, 4, 8}


def test_quick_run_writes_tables_that_agree_with_their_recomputation(tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["--quick", "--methods", "Triplet†", "--datasets", "latent", "digits", "--analysis-dataset",
                 "latent", "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left behind
    for name in ("per_seed.csv", "paired.csv", "ablations_paired.csv", "aa_per_seed.csv", "aa_paired.csv", "training.csv", "synthetic_share.csv",
                 "heatmaps.csv", "synthetic_labels.csv", "occlusion.csv", "memory.csv", "timing.md", "summary.json",
                 "results.md", "paired_differences.png", "heatmaps.png", "synthetic_share.png", "occlusion.png"):
        assert (out / name).is_file(), name
    tables = Tables.read(out)
    assert {(r["dataset"], r["n_synthetic"]) for r in tables.per_seed} == {("latent", 0), ("latent", 2),
                                                                          ("digits", 0), ("digits", 2)}
    assert tables.paired == main_paired(tables.per_seed)
    assert tables.ablations_paired == ablation_paired(tables.per_seed, tables.ablations_per_seed)
    assert tables.aa_paired == aa_paired(tables.per_seed, tables.aa_per_seed)
    assert {(r["dataset"], r["loss"]) for r in tables.aa_paired if r["metric"] == "recall@1"} == {
        ("latent", "Triplet†"), ("digits", "Triplet†")}
    assert {r["variant"] for r in tables.ablations_per_seed} == {"not normalised", "without HNPM", "generator"}
    assert {r["dataset"] for r in tables.occlusion} == {"digits"}  # image data sets only
    summary = runner.json.loads((out / "summary.json").read_text())
    assert (out / "results.md").read_text() == results_markdown(tables, summary, out)


def _result(dataset: str, loss: str, n: int, seed: int, recall: float, variant: str = "") -> RunResult:
    metrics = dict.fromkeys(METRICS, 50.0) | {"recall@1": recall}
    return RunResult(Run(dataset, loss, n, seed, 1, 2, variant=variant), metrics, 0.1, 0.5, 1.0)


def test_tables_pair_runs_by_seed_and_round_trip_through_csv(tmp_path) -> None:
    results = [_result("d", "MS", n, s, 60.0 + s + (2.0 + s if n else 0.0)) for n in (0, 2) for s in range(3)]
    results += [_result("d", "MS", 2, s, 60.0 + s - 1.0, "not normalised") for s in range(3)]
    tables = Tables.from_runs(results[::-1])
    row = next(r for r in tables.paired if r["metric"] == "recall@1")
    assert (row["delta"], row["wins"], row["n_seeds"]) == (3.0, 3, 3)  # differences 2, 3, 4
    ablation = next(r for r in tables.ablations_paired if r["metric"] == "recall@1" and r["baseline"] == "no EE")
    assert ablation["delta"] == -1.0 and ablation["wins"] == 0
    tables.write(tmp_path)
    assert Tables.read(tmp_path) == tables


def test_the_second_stream_changes_initial_weights_and_batches_but_not_the_data() -> None:
    first = Run("latent", "Triplet†", 0, 3, epochs=1, classes_per_batch=8)
    second = Run("latent", "Triplet†", 0, 3, epochs=1, classes_per_batch=8, variant=SECOND_STREAM)
    assert training_seed(first) == 3 and training_seed(second) < 2**32  # torch's CPU generator keeps 32 bits
    runs = plan(Config())
    assert {training_seed(r) for r in runs if r.variant == SECOND_STREAM}.isdisjoint({r.seed for r in runs})
    a, b, again = execute(first), execute(second), execute(second)
    assert a.metrics != b.metrics and b.metrics == again.metrics


def test_real_benchmark_path_on_a_fake_cub_folder(tmp_path: Path) -> None:
    root = write_cub(tmp_path / "data", (1, 2, 3, 4, 101, 102, 103, 104), 4)
    out = tmp_path / "out"
    assert main(["--data-dir", str(root), "--dataset", "cub200", "--model", "small-cnn", "--image-size", "16",
                 "--seeds", "2", "--epochs", "1", "--methods", "Triplet†", "--out", str(out), "--no-progress"]) == 0
    tables = Tables.read(out)
    assert len(tables.per_seed) == 4 and all(0 <= r["recall@1"] <= 100 for r in tables.per_seed)
    assert tables.paired == main_paired(tables.per_seed)
    assert "| cub200 | Triplet† |" in (out / "results.md").read_text()


def test_missing_benchmark_files_are_argument_errors(capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data-dir", str(tmp_path), "--dataset", "cub200", "--out", str(tmp_path / "out"), "--no-progress"])
    assert "images.txt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_error_while_training_on_a_benchmark_is_not_an_argument_error(monkeypatch, tmp_path: Path) -> None:
    """Only reading --data-dir makes a usage error; a failure in training keeps its own error."""
    root = write_cub(tmp_path / "data", (1, 2, 3, 4, 101, 102, 103, 104), 4)

    def diverging(run, **context):
        raise ValueError("the loss is nan at epoch 1, step 1")

    monkeypatch.setattr(runner, "execute", diverging)
    with pytest.raises(ValueError, match="the loss is nan at epoch 1, step 1"):
        main(["--data-dir", str(root), "--dataset", "cub200", "--image-size", "16", "--seeds", "2", "--epochs", "1",
              "--methods", "Triplet†", "--out", str(tmp_path / "out"), "--no-progress"])
    assert not (tmp_path / "out").exists()


def test_quick_config_is_smaller() -> None:
    quick, full = Config.quick(), Config()
    assert quick.seeds < full.seeds and len(plan(quick)) < len(plan(full))
    assert full.seeds >= 10
