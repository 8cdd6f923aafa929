"""The committed results agree with themselves, and every text that states them is generated from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eelib.experiments.report import load, loss_sentences, results_markdown, verdict_sentences, verdict_table
from eelib.experiments import committed_results
from eelib.experiments.runner import Config
from eelib.experiments.tables import Tables, ablation_paired, main_paired

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
    assert header == "dataset,loss,n_synthetic,metric,delta,ci_low,ci_high,p_value,n_seeds,wins"


def test_paired_tables_recomputed_from_the_per_seed_tables_agree(committed) -> None:
    tables, _ = committed
    assert tables.paired and tables.paired == main_paired(tables.per_seed)
    assert tables.ablations_paired and tables.ablations_paired == ablation_paired(tables.per_seed,
                                                                                  tables.ablations_per_seed)


def test_the_committed_run_is_the_full_grid(committed) -> None:
    tables, summary = committed
    full = Config()
    assert summary["config"]["seeds"] >= 10 and summary["config"]["datasets"] == list(full.datasets)
    assert {row["n_seeds"] for row in tables.paired + tables.ablations_paired} == {summary["config"]["seeds"]}
    assert {(r["dataset"], r["loss"]) for r in tables.paired} == {(d, m) for d in full.datasets for m in full.methods}


def test_results_md_is_generated_from_the_committed_tables(committed) -> None:
    tables, summary = committed
    assert (RESULTS_DIR / "results.md").read_text(encoding="utf-8") == results_markdown(tables, summary, RESULTS_DIR)


def test_the_readme_states_the_committed_verdicts(committed) -> None:
    tables, _ = committed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert verdict_table(tables) in readme
    assert verdict_sentences(tables) in readme
    assert loss_sentences(tables) in readme


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
