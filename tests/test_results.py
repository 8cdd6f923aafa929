"""The committed results agree with themselves, and every text that states them is generated from them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from eelib.experiments import committed_results
from eelib.experiments.protocol import SECOND_STREAM
from eelib.experiments.inference import VERDICT_RULE
from eelib.experiments.report import (
    aa_sentence,
    changed_keys,
    load,
    loss_sentences,
    multiplicity_sentence,
    previous_run,
    rerun_sentence,
    results_markdown,
    verdict_changes,
    verdict_sentences,
    verdict_table,
)
from eelib.experiments.runner import Config
from eelib.experiments.tables import Tables, aa_paired, ablation_paired, main_paired, read_csv

RESULTS_DIR = Path(str(committed_results()))

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def committed() -> tuple[Tables, dict]:
    return load(RESULTS_DIR)


def test_the_tables_have_the_issue_s_columns() -> None:
    header = (RESULTS_DIR / "per_seed.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "dataset,loss,n_synthetic,seed,recall@1,recall@2,recall@4,recall@8,nmi,f1,map@r"
    header = (RESULTS_DIR / "paired.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ("dataset,loss,n_synthetic,metric,delta,ci_low,ci_high,p_t,p_wilcoxon,p_holm,verdict,fragile,"
                      "n_seeds,wins")


def test_paired_tables_recomputed_from_the_per_seed_tables_agree(committed) -> None:
    tables, _ = committed
    assert tables.paired and tables.paired == main_paired(tables.per_seed)
    assert tables.ablations_paired and tables.ablations_paired == ablation_paired(tables.per_seed,
                                                                                  tables.ablations_per_seed)
    assert tables.aa_paired and tables.aa_paired == aa_paired(tables.per_seed, tables.aa_per_seed)


def _holm_step_down(p: list[float]) -> list[float]:
    """Holm-adjusted p-values written out directly: max over j <= i of (m - j) * p_(j), capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    products = [min(1.0, (len(p) - rank) * p[index]) for rank, index in enumerate(order)]
    adjusted = [0.0] * len(p)
    for rank, index in enumerate(order):
        adjusted[index] = max(products[: rank + 1])
    return adjusted


def _pairs(per_seed: list[dict], treatment: dict, baseline: dict, keys: tuple) -> dict:
    """{(group..., metric): (treatment values, baseline values)} paired by seed, from raw CSV rows."""
    sides: dict = {}
    for row in per_seed:
        for side, selector in ((0, treatment), (1, baseline)):
            if all(str(row[k]) == str(v) for k, v in selector.items()):
                sides.setdefault(tuple(row[k] for k in keys), ({}, {}))[side][row["seed"]] = row
    out = {}
    for group, (a, b) in sides.items():
        if a and b:
            seeds = sorted(a)
            for metric in ("recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r"):
                out[(*group, metric)] = ([float(a[s][metric]) for s in seeds], [float(b[s][metric]) for s in seeds])
    return out


def _check_family_adjustment(rows: list[dict], pairs: dict, keys: tuple) -> int:
    """Recompute p (scipy's paired t-test), Holm within each metric, verdicts and fragility; return the clear count."""
    by_metric: dict = {}
    for key, (a, b) in pairs.items():
        by_metric.setdefault(key[-1], []).append((key, a, b))
    written = {tuple(row[k] for k in keys) + (row["metric"],): row for row in rows}
    assert set(written) == set(pairs)
    clear = 0
    for metric, family in by_metric.items():
        p = []
        for _, a, b in family:
            d = np.subtract(a, b)
            p.append(float(stats.ttest_rel(a, b).pvalue) if d.std() > 0 else float(d.mean() == 0))
        for (key, a, b), raw, adjusted in zip(family, p, _holm_step_down(p)):
            row = written[key]
            assert row["p_t"] == pytest.approx(raw, rel=1e-3, abs=1e-12), key
            assert row["p_holm"] == pytest.approx(adjusted, rel=1e-3, abs=1e-12), key
            mean = float(np.mean(np.subtract(a, b)))
            expected = "no clear effect" if adjusted >= 0.05 else ("helps" if mean > 0 else "hurts")
            assert row["verdict"] == expected, key
            assert row["fragile"] == (0.025 <= adjusted < 0.1), key
            clear += expected != "no clear effect"
    return clear


def test_adjusted_p_values_and_verdicts_recomputed_independently_from_the_per_seed_csv() -> None:
    """scipy's t-test and Holm's step-down written out here, from the raw CSV rows, against every written verdict."""
    per_seed = read_csv(RESULTS_DIR / "per_seed.csv")
    paired = read_csv(RESULTS_DIR / "paired.csv")
    pairs = {}
    for n in sorted({row["n_synthetic"] for row in per_seed} - {0}):
        pairs |= {(d, l, n, m): v for (d, l, m), v in
                  _pairs(per_seed, {"n_synthetic": n}, {"n_synthetic": 0}, ("dataset", "loss")).items()}
    _check_family_adjustment(paired, pairs, ("dataset", "loss", "n_synthetic"))

    ablations = read_csv(RESULTS_DIR / "ablations_per_seed.csv")
    labelled = ablations + [r | {"variant": "no EE" if r["n_synthetic"] == 0 else "EE"} for r in per_seed
                            if r["n_synthetic"] in (0, 2)]
    pairs = {}
    for variant in {r["variant"] for r in ablations}:
        for baseline in ("EE", "no EE"):
            pairs |= {(d, l, variant, baseline, m): v for (d, l, m), v in
                      _pairs(labelled, {"variant": variant}, {"variant": baseline}, ("dataset", "loss")).items()}
    _check_family_adjustment(read_csv(RESULTS_DIR / "ablations_paired.csv"), pairs,
                             ("dataset", "loss", "variant", "baseline"))

    aa = read_csv(RESULTS_DIR / "aa_per_seed.csv")
    labelled = aa + [r | {"variant": ""} for r in per_seed if r["n_synthetic"] == 0]
    pairs = _pairs(labelled, {"variant": SECOND_STREAM}, {"variant": ""}, ("dataset", "loss"))
    _check_family_adjustment(read_csv(RESULTS_DIR / "aa_paired.csv"), pairs, ("dataset", "loss"))


def test_the_a_a_control_covers_every_data_set_and_loss(committed) -> None:
    tables, summary = committed
    full = Config()
    assert {(r["dataset"], r["loss"]) for r in tables.aa_paired} == {(d, m) for d in full.datasets
                                                                       for m in full.methods}
    assert {r["n_seeds"] for r in tables.aa_paired} == {summary["config"]["seeds"]}
    assert {r["variant"] for r in tables.aa_per_seed} == {SECOND_STREAM}


def test_the_committed_run_is_the_full_grid(committed) -> None:
    tables, summary = committed
    full = Config()
    assert summary["config"]["seeds"] >= 10 and summary["config"]["datasets"] == list(full.datasets)
    assert {row["n_seeds"] for row in tables.paired + tables.ablations_paired + tables.aa_paired} == {
        summary["config"]["seeds"]}
    assert {(r["dataset"], r["loss"]) for r in tables.paired} == {(d, m) for d in full.datasets for m in full.methods}


def test_results_md_is_generated_from_the_committed_tables(committed) -> None:
    tables, summary = committed
    assert (RESULTS_DIR / "results.md").read_text(encoding="utf-8") == results_markdown(tables, summary, RESULTS_DIR)


def test_the_readme_states_the_committed_verdicts(committed) -> None:
    tables, _ = committed
    changed = changed_keys(verdict_changes(tables, previous_run(RESULTS_DIR)))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert verdict_table(tables, changed=changed) in readme
    assert verdict_sentences(tables, changed=changed) in readme
    assert loss_sentences(tables, changed=changed) in readme
    assert multiplicity_sentence(tables) in readme
    assert aa_sentence(tables) in readme
    assert rerun_sentence(tables, previous_run(RESULTS_DIR)) in readme
    assert VERDICT_RULE in readme


def test_verdicts_that_changed_in_the_previous_run_are_listed(committed) -> None:
    """verdict_changes.csv holds exactly the verdicts that the previous run's per-seed tables decide otherwise."""
    tables, _ = committed
    previous = Tables(per_seed=read_csv(RESULTS_DIR / "previous_per_seed.csv"),
                      ablations_per_seed=read_csv(RESULTS_DIR / "previous_ablations_per_seed.csv"))
    before = {(r["dataset"], r["loss"], r["n_synthetic"], r["metric"]): r["verdict"]
              for r in main_paired(previous.per_seed)}
    expected = {(r["dataset"], r["loss"], r["n_synthetic"], r["metric"]) for r in tables.paired
                if before[(r["dataset"], r["loss"], r["n_synthetic"], r["metric"])] != r["verdict"]}
    with (RESULTS_DIR / "verdict_changes.csv").open(newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert {(r["dataset"], r["loss"], int(r["n_synthetic"]), r["metric"]) for r in listed
            if r["table"] == "paired"} == expected


def _main_text_markdown(name: str) -> list[str]:
    cells = json.loads((ROOT / name).read_text(encoding="utf-8"))["cells"]
    sources = ["".join(cell["source"]) for cell in cells]
    end = next(i for i, s in enumerate(sources) if s.startswith("## Appendix"))
    return [s for s, cell in zip(sources[:end], cells[:end]) if cell["cell_type"] == "markdown"]


@pytest.mark.parametrize("name", ["notebooks/09_experiments.ipynb", "student/notebooks/09_experiments.ipynb"])
def test_notebook_09_types_no_result_numbers(name) -> None:
    """Its results come from code cells that read the tables; the main text types no measured number."""
    for source in _main_text_markdown(name):
        prose = re.sub(r"\$[^$]*\$|§\s*[\d.,–§ ]+", "", source)  # formulas and section citations
        for paper_figure in ("0.0023 ms", "2.3 µs"):  # the paper's timing, discussed, not a result of ours
            prose = prose.replace(paper_figure, "")
        assert not re.search(r"\d+\.\d+|(?<![\w-])[+−]\d", prose), prose[:200]  # decimals, signed changes
