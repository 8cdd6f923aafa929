"""The experiments' account: verdict sentences, Markdown tables and figures, all from the tables.

Every number and verdict in ``results.md``, notebook 09 and the README's results table is
generated here from the tidy tables of :mod:`eelib.experiments.tables` (and the run's
``summary.json``, ``timing.json``, ``memory.csv``), by the one rule of
:mod:`eelib.experiments.inference` (Holm-adjusted within each table's family); nothing is
typed by hand. A results folder may hold the per-seed tables of a previous run of the same
grid (``previous_per_seed.csv``, ``previous_ablations_per_seed.csv``); verdicts that differ
between the two runs are then marked, and listed in ``verdict_changes.csv``. Each ``*_section`` function
returns the Markdown of one part of the account; :func:`write_report` writes them all, and
the figures, into a results folder.
"""

from __future__ import annotations

import json
import re
import statistics as pystats
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from eelib.course.style import DISTANCE_CMAP, apply_course_style, class_color
from eelib.experiments.generators import TripletGenerator
from eelib.experiments.models import count_parameters
from eelib.experiments.protocol import (
    DATASETS,
    GENERATOR_HIDDEN,
    METHODS,
    OCCLUSION_AREAS,
    VARIANTS,
    load_split,
    make_model,
)
from eelib.experiments.inference import (
    ALPHA,
    HELPS,
    HURTS,
    NO_CLEAR_EFFECT,
    VERDICT_RULE,
    adjust_family,
    paired_difference,
)
from eelib.experiments.tables import (
    METRIC_COLUMNS,
    NO_EE,
    WITH_EE,
    Tables,
    ablation_paired,
    main_paired,
    read_csv,
    write_csv,
)

#: The metric the verdicts lead with.
PRIMARY = "recall@1"
VERDICT_COLOURS = {HELPS: "#2a9d8f", HURTS: "#e76f51", NO_CLEAR_EFFECT: "#8d99ae"}
#: The same rule read for a comparison of two variants (the first against the second).
COMPARISON_WORDS = {HELPS: "better", HURTS: "worse", NO_CLEAR_EFFECT: "no clear difference"}

#: Prefix of the per-seed tables of a previous run of the same grid in a results folder.
PREVIOUS_RUN = "previous_"

#: The columns that identify a verdict across runs.
VERDICT_KEY = ("dataset", "loss", "n_synthetic", "variant", "baseline", "metric")


# --- loading ------------------------------------------------------------------------------


def load(folder: Path) -> tuple[Tables, dict]:
    """The tables and the run summary (``summary.json``, with ``timing`` and ``memory``) of a results folder."""
    tables = Tables.read(folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return tables, summary


def previous_run(folder: Path) -> Tables | None:
    """The previous run's per-seed tables in ``folder`` and their paired tables, or None without them."""
    files = {name: folder / f"{PREVIOUS_RUN}{name}.csv" for name in ("per_seed", "ablations_per_seed")}
    if not files["per_seed"].is_file():
        return None
    previous = Tables(**{name: read_csv(path) for name, path in files.items() if path.is_file()})
    previous.paired = main_paired(previous.per_seed)
    previous.ablations_paired = ablation_paired(previous.per_seed, previous.ablations_per_seed)
    return previous


def _key(row: dict) -> tuple:
    return tuple(row.get(column) for column in VERDICT_KEY)


def verdict_changes(tables: Tables, previous: Tables | None) -> list[dict]:
    """Rows of ``paired.csv`` and ``ablations_paired.csv`` whose verdict differs in the previous run."""
    if previous is None:
        return []
    before = {_key(row): row for row in previous.paired + previous.ablations_paired}
    out = []
    for table, rows in (("paired", tables.paired), ("ablations_paired", tables.ablations_paired)):
        for row in rows:
            old = before.get(_key(row))
            if old is not None and old["verdict"] != row["verdict"]:
                out.append({"table": table} | {k: row.get(k, "") for k in VERDICT_KEY}
                           | {"verdict": row["verdict"], "p_holm": row["p_holm"],
                              "previous_verdict": old["verdict"], "previous_p_holm": old["p_holm"]})
    return out


def changed_keys(changes: Sequence[dict]) -> frozenset:
    """The keys of :func:`verdict_changes`' rows, for the tables that mark them."""
    return frozenset(_key({k: v for k, v in row.items() if v != ""}) for row in changes)


def split_figures(markdown: str) -> tuple[str, list[str]]:
    """A section's text without its ``![…](file)`` lines, and those files (for a notebook to show)."""
    figures = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", markdown, flags=re.MULTILINE)
    text = re.sub(r"\n*^!\[[^\]]*\]\([^)]+\)$", "", markdown, flags=re.MULTILINE)
    return text, figures


# --- formatting ---------------------------------------------------------------------------


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_is(value: float) -> str:
    """``p < 0.001`` or ``p = 0.042``."""
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _ci(row: dict, digits: int = 2) -> str:
    return f"{row['ci_low']:+.{digits}f} … {row['ci_high']:+.{digits}f}"


def describe(row: dict, unit: str = " points", digits: int = 2) -> str:
    """``+1.23 points (95 % CI +0.40 … +2.06, Holm-adjusted p = 0.004, higher in 9 of 10 seeds)`` for a paired row."""
    return (f"{row['delta']:+.{digits}f}{unit} (95 % CI {_ci(row, digits)}, Holm-adjusted {_p_is(row['p_holm'])}"
            f"{', fragile' if row['fragile'] else ''}, higher in {row['wins']} of {row['n_seeds']} seeds)")


def _mark_words(row: dict, changed: frozenset = frozenset()) -> list[str]:
    return (["fragile"] if row["fragile"] else []) + (["changed in the previous run"] if _key(row) in changed else [])


def _marks(row: dict, changed: frozenset = frozenset()) -> str:
    """`` (fragile)``, `` (changed in the previous run)``, both, or nothing."""
    marks = _mark_words(row, changed)
    return f" ({', '.join(marks)})" if marks else ""


def _adjusted(rows: Sequence[dict]) -> list[dict]:
    """Rows that a section states together, Holm-adjusted as one family."""
    return adjust_family(rows, family=())


def _select(rows: Sequence[dict], **match) -> list[dict]:
    return [row for row in rows if all(row[key] == value for key, value in match.items())]


def _one(rows: Sequence[dict], **match) -> dict | None:
    found = _select(rows, **match)
    if len(found) > 1:
        raise ValueError(f"more than one row matches {match}")
    return found[0] if found else None


def _range(low: float, high: float, digits: int = 0) -> str:
    """``"77–98"``, or a single number when both ends agree at the shown precision."""
    a, b = f"{low:.{digits}f}", f"{high:.{digits}f}"
    return a if a == b else f"{a}–{b}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _summary_row(values: Sequence[float], baseline: Sequence[float]) -> dict:
    return paired_difference(values, baseline)._asdict()


def _losses(rows: Sequence[dict]) -> list[str]:
    present = {row["loss"] for row in rows}
    return [method.name for method in METHODS if method.name in present]


def _datasets(rows: Sequence[dict]) -> list[str]:
    present = {row["dataset"] for row in rows}
    return [name for name in DATASETS if name in present] + sorted(present - set(DATASETS))


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    align = align or "|---" * len(header) + "|"
    return "\n".join(["| " + " | ".join(header) + " |", align] + ["| " + " | ".join(r) + " |" for r in rows])


# --- 1. the main verdicts -------------------------------------------------------------------


def verdict_table(tables: Tables, metric: str = PRIMARY, n_synthetic: int = 2, changed: frozenset = frozenset()) -> str:
    """Markdown: Δ, 95 % CI, p (t-test, and Holm-adjusted), wins and verdict of EE (n = 2) per data set and loss."""
    rows = []
    for dataset in _datasets(tables.paired):
        for loss in _losses(tables.paired):
            row = _one(tables.paired, dataset=dataset, loss=loss, n_synthetic=n_synthetic, metric=metric)
            if row is None:
                continue
            rows.append([dataset, loss, f"{row['delta']:+.2f}", _ci(row), _p(row["p_t"]), _p(row["p_holm"]),
                         f"{row['wins']}/{row['n_seeds']}", f"**{row['verdict']}**{_marks(row, changed)}"])
    return _markdown_table(["data set", "loss", f"Δ{metric}", "95 % CI", "p (t-test)", "p (Holm)", "EE higher",
                            "verdict"], rows, "|---|---|---:|---:|---:|---:|---:|---|")


def verdict_counts(tables: Tables, metric: str = PRIMARY, n_synthetic: int = 2,
                   changed: frozenset = frozenset()) -> dict[str, dict[str, list[str]]]:
    """Per data set, the losses (with their marks) for which EE helps, hurts or has no clear effect."""
    out: dict[str, dict[str, list[str]]] = {}
    for dataset in _datasets(tables.paired):
        by_verdict = {HELPS: [], HURTS: [], NO_CLEAR_EFFECT: []}
        for loss in _losses(tables.paired):
            row = _one(tables.paired, dataset=dataset, loss=loss, n_synthetic=n_synthetic, metric=metric)
            if row is not None:
                by_verdict[row["verdict"]].append(loss + _marks(row, changed))
        out[dataset] = by_verdict
    return out


def verdict_sentences(tables: Tables, metric: str = PRIMARY, changed: frozenset = frozenset()) -> str:
    """One sentence per data set: where EE (n = 2) helps, hurts, or has no clear effect."""
    lines = []
    phrases = {HELPS: "helps", HURTS: "hurts", NO_CLEAR_EFFECT: "has no clear effect"}
    for dataset, by_verdict in verdict_counts(tables, metric, changed=changed).items():
        parts = [f"{phrases[word]} for {', '.join(losses)}" for word, losses in by_verdict.items() if losses]
        lines.append(f"- **{dataset}**: EE {'; '.join(parts)} ({metric}).")
    return "\n".join(lines)


def loss_sentences(tables: Tables, metric: str = PRIMARY, changed: frozenset = frozenset()) -> str:
    """One sentence per loss: on which data sets EE (n = 2) helps, hurts, or has no clear effect."""
    by_loss: dict[str, dict[str, list[str]]] = {}
    for dataset in _datasets(tables.paired):
        for loss in _losses(tables.paired):
            row = _one(tables.paired, dataset=dataset, loss=loss, n_synthetic=2, metric=metric)
            if row is not None:
                by_loss.setdefault(loss, {HELPS: [], HURTS: [], NO_CLEAR_EFFECT: []})[row["verdict"]].append(
                    dataset + _marks(row, changed))
    phrases = {HELPS: "helps on", HURTS: "hurts on", NO_CLEAR_EFFECT: "has no clear effect on"}
    lines = []
    for loss in _losses(tables.paired):
        parts = [f"{phrases[word]} {', '.join(datasets)}" for word, datasets in by_loss[loss].items() if datasets]
        lines.append(f"- **{loss}**: EE {'; '.join(parts)}.")
    return "\n".join(lines)


def other_metrics_table(tables: Tables, metrics: Sequence[str] = ("nmi", "f1", "map@r"),
                        changed: frozenset = frozenset()) -> str:
    """Markdown: Δ and verdict of EE (n = 2) on the clustering metrics and MAP@R."""
    rows = []
    for dataset in _datasets(tables.paired):
        for loss in _losses(tables.paired):
            cells = []
            for metric in metrics:
                row = _one(tables.paired, dataset=dataset, loss=loss, n_synthetic=2, metric=metric)
                cells.append("" if row is None else
                             f"{row['delta']:+.2f} ({', '.join([row['verdict'], *_mark_words(row, changed)])})")
            rows.append([dataset, loss, *cells])
    return _markdown_table(["data set", "loss", *[f"Δ{m} (verdict)" for m in metrics]], rows)


def family_counts(rows: Sequence[dict], metric: str = PRIMARY) -> dict:
    """For one metric's family: its size, the rows whose interval excludes 0, and the rows clear after Holm."""
    family = [row for row in rows if row["metric"] == metric]
    return {"size": len(family), "unadjusted": sum(row["p_t"] < ALPHA for row in family),
            "clear": sum(row["verdict"] != NO_CLEAR_EFFECT for row in family),
            "fragile": sum(row["fragile"] for row in family)}


def multiplicity_sentence(tables: Tables, metric: str = PRIMARY) -> str:
    """How many of ``paired.csv``'s comparisons for a metric are clear before and after Holm's adjustment."""
    counts = family_counts(tables.paired, metric)
    m = counts["size"]
    return (f"**Many comparisons at once.** `paired.csv` holds {m} comparisons for {metric} (every data set and "
            f"loss at n = 2, and the n sweep). If EE changed nothing at all, each would still exclude 0 with "
            f"probability {ALPHA:.2f}: about {ALPHA * m:.1f} \"clear\" verdicts would be expected by chance, and at "
            f"least one with probability {1 - (1 - ALPHA) ** m:.0%}. Before adjustment {counts['unadjusted']} of the "
            f"{m} intervals exclude 0; after Holm's adjustment {counts['clear']} verdicts are clear"
            + (f"; {counts['fragile']} of the {m} verdicts {'is' if counts['fragile'] == 1 else 'are'} fragile"
               if counts["fragile"] else "") + ".")


def rerun_sentence(tables: Tables, previous: Tables | None) -> str:
    """How the verdicts compare with the previous run of the grid (empty without one)."""
    if previous is None:
        return ""
    changes = verdict_changes(tables, previous)
    now = {(r["dataset"], r["loss"], r["seed"]): r for r in tables.per_seed if r["n_synthetic"] == 0}
    baseline = [r for r in previous.per_seed if r["n_synthetic"] == 0]
    same = sum(all(now[(r["dataset"], r["loss"], r["seed"])][m] == r[m] for m in ("recall@1", "nmi", "f1", "map@r"))
               for r in baseline if (r["dataset"], r["loss"], r["seed"]) in now)
    listed = "; ".join(f"{r['dataset']} · {r['loss']} · {r['variant'] or 'n = ' + str(r['n_synthetic'])}"
                       f"{' − ' + r['baseline'] if r['baseline'] else ''} · {r['metric']}: {r['previous_verdict']} "
                       f"({_p_is(r['previous_p_holm'])}) → {r['verdict']} ({_p_is(r['p_holm'])})" for r in changes)
    return (f"**A previous run of the same grid** (`{PREVIOUS_RUN}per_seed.csv`, `{PREVIOUS_RUN}ablations_per_seed.csv`: the same configuration and seeds, run with "
            f"the code as it was before EE's mining and the evaluation were rewritten to compute the same formulas "
            f"faster; {same} of its {len(baseline)} runs without EE give exactly the metrics of this run, and the "
            f"runs with EE differ by floating-point rounding that training amplifies). Under the same rule "
            f"{len(changes)} of the {len(tables.paired) + len(tables.ablations_paired)} verdicts of `paired.csv` and "
            f"`ablations_paired.csv` differ between the two runs, marked *changed in the previous run*"
            + (f": {listed}." if changes else "."))


def verdict_section(tables: Tables, previous: Tables | None = None) -> str:
    changed = changed_keys(verdict_changes(tables, previous))
    parts = [
        "## Does EE help? Paired differences over seeds",
        f"**The rule.** {VERDICT_RULE} Seeds pair the runs: the same data, initialisation and batch "
        "order with and without EE. The Wilcoxon signed-rank p-value, a distribution-free view, is in the CSV "
        "tables beside the t-test's.",
        multiplicity_sentence(tables),
        "By data set:", verdict_sentences(tables, changed=changed), "By loss:", loss_sentences(tables, changed=changed),
        "Recall@1 on the unseen classes, EE (n = 2) − without EE, in points:",
        verdict_table(tables, changed=changed),
        "The same comparison on clustering (NMI, F1) and MAP@R (each metric a family of its own):",
        other_metrics_table(tables, changed=changed),
    ]
    sentence = rerun_sentence(tables, previous)
    return "\n\n".join(parts + ([sentence] if sentence else []) + ["![paired differences](paired_differences.png)"])


# --- 1b. the A/A control ----------------------------------------------------------------------


def aa_table(tables: Tables, metric: str = PRIMARY) -> str:
    rows = []
    for dataset in _datasets(tables.aa_paired):
        for loss in _losses(tables.aa_paired):
            row = _one(tables.aa_paired, dataset=dataset, loss=loss, metric=metric)
            if row is not None:
                rows.append([dataset, loss, f"{row['delta']:+.2f}", _ci(row), _p(row["p_t"]), _p(row["p_holm"]),
                             f"{row['wins']}/{row['n_seeds']}", f"**{row['verdict']}**{_marks(row)}"])
    return _markdown_table(["data set", "loss", f"Δ{metric}", "95 % CI", "p (t-test)", "p (Holm)",
                            "second stream higher", "verdict"], rows, "|---|---|---:|---:|---:|---:|---:|---|")


def aa_sentence(tables: Tables) -> str:
    """The A/A control's verdict: how often the pipeline calls an effect where nothing differs."""
    counts = {metric: family_counts(tables.aa_paired, metric) for metric in METRIC_COLUMNS
              if any(r["metric"] == metric for r in tables.aa_paired)}
    primary = counts[PRIMARY]
    unadjusted = sum(c["unadjusted"] for c in counts.values())
    clear = sum(c["clear"] for c in counts.values())
    total = sum(c["size"] for c in counts.values())
    return (f"**Verdict (A/A).** For {PRIMARY}, {primary['unadjusted']} of the {primary['size']} intervals "
            f"exclude 0 before adjustment and {primary['clear']} verdicts are clear after Holm's; over all "
            f"{len(counts)} metrics, {unadjusted} of {total} intervals exclude 0 (chance alone expects about "
            f"{ALPHA * total:.0f}) and {clear} verdicts are clear after adjustment. Every clear verdict here is a "
            "false positive: this is how often the pipeline finds an effect where there is none."
            + _width_sentence(tables))


def _width_sentence(tables: Tables) -> str:
    """How wide the A/A intervals are next to the EE intervals of the same (data set, loss) rows."""
    ratios = []
    for row in _select(tables.aa_paired, metric=PRIMARY):
        ee = _one(tables.paired, dataset=row["dataset"], loss=row["loss"], n_synthetic=2, metric=PRIMARY)
        if ee is not None and ee["ci_high"] > ee["ci_low"]:
            ratios.append((row["ci_high"] - row["ci_low"]) / (ee["ci_high"] - ee["ci_low"]))
    if not ratios:
        return ""
    return (f" Its {PRIMARY} intervals are {pystats.median(ratios):.1f} times as wide as those of EE − without EE "
            "on the same rows (median): a second stream changes the initial weights and the batch order, which "
            "the EE comparison holds fixed within a seed, so the A/A control checks the test's false-positive rate "
            "on noisier comparisons than EE's own.")


def aa_section(tables: Tables) -> str:
    sentence = aa_sentence(tables)
    return "\n\n".join([
        "## The A/A control: the baseline against itself",
        "Each data set's runs without EE are trained again on the same data and seeds, but from a second stream "
        "of initial weights and batch orders (variant `second stream`, `aa_per_seed.csv`), and compared with the "
        "main grid's runs without EE through the same pairing, test and Holm adjustment (`aa_paired.csv`, each "
        "metric a family of its own). Nothing differs but chance.",
        sentence, f"{PRIMARY}, second stream − first stream, in points:", aa_table(tables)])


# --- 2. the data sets: have hard negatives run out? -----------------------------------------


def hard_negative_table(tables: Tables) -> str:
    """Markdown: share of training anchors still violating the margin at the end, without and with EE."""
    rows = []
    for dataset in _datasets(tables.training):
        cells = []
        for n in (0, 2):
            values = [r["hard_anchor_share"] for r in _select(tables.training, dataset=dataset, loss="Triplet†",
                                                              variant="", n_synthetic=n)]
            cells.append(f"{100 * pystats.fmean(values):.1f} %" if values else "")
        spec = DATASETS.get(dataset)
        rows.append([dataset, spec.description if spec else "", str(spec.epochs if spec else ""), *cells])
    return _markdown_table(["data set", "what", "epochs", "Triplet†: anchors still violating the margin",
                            "EE + Triplet†"], rows)


def protocol_section(tables: Tables, summary: dict) -> str:
    config = summary["config"]
    timing = summary.get("run", {})
    lines = [
        "## The protocol",
        f"{config['seeds']} seeds per configuration; seed *s* fixes the data seed, the initialisation and the "
        "batch order of both runs of a pair. Every model is an MLP with an L2-normalised 32-d output, "
        f"trained with Adam (lr {config['lr']:g}, weight decay {config['weight_decay']:g}) on P × K batches "
        "(K = 4; N-pair K = 2), each class a contiguous block (the official layout). Metrics on the unseen "
        "classes, in %.",
        "At the end of training, the share of training anchors whose batch-hard triplet still violates the "
        "margin (0.2) shows whether hard negatives have run out (mean over seeds):",
        hard_negative_table(tables),
    ]
    if timing:
        lines.append(f"The full grid ({timing['runs']} training runs) took {timing['wall_seconds'] / 60:.1f} minutes "
                     f"of wall time and {timing['cpu_seconds'] / 60:.1f} minutes of CPU time with "
                     f"{timing['workers']} worker process(es) × {timing['threads']} torch thread(s) "
                     f"(load average before / after: {timing['load_before']} / {timing['load_after']}).")
    later = summary.get("second_stream_run")
    if later:
        lines.append(f"The {later['runs']} runs of the A/A control's second stream were added afterwards, in a session "
                     f"of their own, without rerunning the grid: {later['wall_seconds'] / 60:.1f} minutes of wall time "
                     f"and {later['cpu_seconds'] / 60:.1f} minutes of CPU time with {later['workers']} worker "
                     f"process(es) × {later['threads']} torch thread(s) on a shared machine (load average before / "
                     f"after: {later['load_before']} / {later['load_after']}).")
    return "\n\n".join(lines)


# --- 3. the n sweep ---------------------------------------------------------------------------


def n_sweep_rows(tables: Tables, loss: str = "Triplet†") -> tuple[str, list[dict]]:
    """(data set, paired rows of R@1 for each n > 0 against n = 0) of the data set with the most n values."""
    counts = {}
    for row in _select(tables.paired, loss=loss, metric=PRIMARY):
        counts.setdefault(row["dataset"], []).append(row)
    dataset = max(counts, key=lambda d: len(counts[d]))
    return dataset, sorted(counts[dataset], key=lambda r: r["n_synthetic"])


def n_sweep_section(tables: Tables, loss: str = "Triplet†") -> str:
    dataset, rows = n_sweep_rows(tables, loss)
    helping = [r["n_synthetic"] for r in rows if r["verdict"] == HELPS]
    hurting = [r["n_synthetic"] for r in rows if r["verdict"] == HURTS]
    best = max(rows, key=lambda r: r["delta"])
    sentence = (f"**Verdict.** On {dataset}, EE + {loss} against n = 0: "
                + (f"helps for n = {', '.join(map(str, helping))}" if helping else "helps for no n")
                + (f", hurts for n = {', '.join(map(str, hurting))}" if hurting else "")
                + f"; the largest mean change is at n = {best['n_synthetic']} ({best['delta']:+.2f} points, "
                f"CI {_ci(best)}).")
    table = _markdown_table(["n", "ΔR@1 vs n = 0", "95 % CI", "p (Holm)", "higher", "verdict"],
                            [[str(r["n_synthetic"]), f"{r['delta']:+.2f}", _ci(r), _p(r["p_holm"]),
                              f"{r['wins']}/{r['n_seeds']}", r["verdict"] + _marks(r)] for r in rows])
    return "\n\n".join(["## The number of synthetic points n", sentence, table, "![n sweep](recall_vs_n.png)"])


# --- 4. ablations: normalisation, HNPM, a generator --------------------------------------------


def ablation_table(tables: Tables, variant: str, changed: frozenset = frozenset()) -> str:
    rows = []
    for row in _select(tables.ablations_paired, variant=variant, metric=PRIMARY):
        rows.append([row["dataset"], row["loss"], f"− {row['baseline']}", f"{row['delta']:+.2f}", _ci(row),
                     _p(row["p_holm"]), f"{row['wins']}/{row['n_seeds']}",
                     COMPARISON_WORDS[row["verdict"]] + _marks(row, changed)])
    return _markdown_table(["data set", "loss", "compared with", "ΔR@1", "95 % CI", "p (Holm)", "higher", "verdict"],
                           rows, "|---|---|---|---:|---:|---:|---:|---|")


def _ablation_sentence(tables: Tables, variant: str, name: str) -> str:
    parts = []
    for row in _select(tables.ablations_paired, variant=variant, metric=PRIMARY):
        against = "EE with normalised points and HNPM" if row["baseline"] == WITH_EE else "training without EE"
        parts.append(f"{row['loss']} on {row['dataset']}, against {against}: "
                     f"{COMPARISON_WORDS[row['verdict']]}, {describe(row)}")
    return f"**Verdict ({name}, R@1).** " + "; ".join(parts) + "."


def normalisation_section(tables: Tables, changed: frozenset = frozenset()) -> str:
    variant = "not normalised"
    return "\n\n".join([
        "## L2-normalising the synthetic points (on vs off, in training)",
        "Variant: " + VARIANTS[variant] + ". Paired with the runs of the same seeds.",
        _ablation_sentence(tables, variant, "synthetic points not normalised"),
        ablation_table(tables, variant, changed), "![ablations](ablations.png)"])


def hnpm_section(tables: Tables, changed: frozenset = frozenset()) -> str:
    variant = "without HNPM"
    return "\n\n".join([
        "## EE without hard negative pair mining",
        "Variant: " + VARIANTS[variant] + " (`eelib.experiments.expansion_analyses.synthetic_as_batch_members`): "
        "synthetic points are anchors, positives and negatives like real samples.",
        _ablation_sentence(tables, variant, "EE without HNPM"), ablation_table(tables, variant, changed)])


def generator_section(tables: Tables, summary: dict, changed: frozenset = frozenset()) -> str:
    variant = "generator"
    timing = summary.get("timing", {})
    steps = {s["method"].split()[0]: s for s in timing.get("steps", [])}
    seconds = {}
    for key, match in ((NO_EE, {"variant": "", "n_synthetic": 0}), (WITH_EE, {"variant": "", "n_synthetic": 2}),
                       (variant, {"variant": variant})):
        values = [r["train_seconds"] for r in _select(tables.training, loss="Triplet†", **match)
                  if r["dataset"] in {x["dataset"] for x in tables.ablations_per_seed}]
        seconds[key] = pystats.fmean(values) if values else float("nan")
    dataset = tables.ablations_per_seed[0]["dataset"]
    spec = DATASETS[dataset]
    model = count_parameters(make_model(spec, len(load_split(dataset, 0).x_train[0])))
    generator = count_parameters(TripletGenerator(spec.embedding_dim, hidden=GENERATOR_HIDDEN))
    cost = (f" Cost: in these runs the generator has {generator:,} parameters next to the model's {model:,}, and a "
            f"training run took {seconds[variant]:.1f} s against {seconds[NO_EE]:.1f} s without EE and "
            f"{seconds[WITH_EE]:.1f} s with EE (mean wall time over seeds, on the machine as loaded during the run)")
    if steps:
        base = steps["triplet"]["ms"]
        cost += (f"; in the timing table (a 128-d model and a 512-wide generator) a training step takes "
                 f"×{steps['EE']['ms'] / base:.2f} (EE) and ×{steps['generator']['ms'] / base:.2f} (generator) the "
                 "time of a plain triplet step")
    cost += "."
    return "\n\n".join([
        "## A DAML-style generator: accuracy next to cost",
        "Variant: " + VARIANTS[variant] + " — written to be timed and trained next to EE, not a reproduction "
        "of DAML or HDML" + (": it trains worse than no generator at all here, so its accuracy says nothing about "
                             "what DAML or HDML reach; only its cost is comparable."
                             if (_one(tables.ablations_paired, variant=variant, baseline=NO_EE, metric=PRIMARY)
                                 or {}).get("verdict") == HURTS else "."),
        _ablation_sentence(tables, variant, "generator instead of EE") + cost,
        ablation_table(tables, variant, changed)])


# --- 5. synthetic share of hardest negatives --------------------------------------------------


def share_rows(tables: Tables, baselines: dict) -> list[dict]:
    """Per data set and loss: the final-epoch synthetic share against the random-vector baseline."""
    out = []
    for dataset in _datasets(tables.synthetic_share):
        for loss in _losses(tables.synthetic_share):
            rows = _select(tables.synthetic_share, dataset=dataset, loss=loss, n_synthetic=2)
            if not rows:
                continue
            last = max(r["epoch"] for r in rows)
            final = [r["share"] for r in sorted(rows, key=lambda r: r["seed"]) if r["epoch"] == last]
            key = f"{dataset}/{loss}"
            random = baselines[key]["random"]
            out.append({"dataset": dataset, "loss": loss, "epoch": last, "mean": pystats.fmean(final),
                        "candidates": baselines[key]["candidates"], "random": random}
                       | _summary_row(final, [random] * len(final)))
    return _adjusted(out)


_SHARE_WORDS = {HELPS: "above", HURTS: "below", NO_CLEAR_EFFECT: "no clear difference"}


def share_section(tables: Tables, summary: dict) -> str:
    rows = share_rows(tables, summary["synthetic_share_baselines"])
    table = _markdown_table(
        ["data set", "loss", "synthetic share, last epoch", "− random vectors (95 % CI)", "candidate pairs",
         "random unit vectors", "p (Holm)", "verdict"],
        [[r["dataset"], r["loss"], f"{100 * r['mean']:.1f} %", f"{100 * r['delta']:+.1f} ({100 * r['ci_low']:+.1f} … "
          f"{100 * r['ci_high']:+.1f})", f"{100 * r['candidates']:.1f} %", f"{100 * r['random']:.1f} %",
          _p(r["p_holm"]), _SHARE_WORDS[r["verdict"]] + _marks(r)] for r in rows])
    above = [f"{r['loss']} on {r['dataset']}{_marks(r)}" for r in rows if r["verdict"] == HELPS]
    below = [r for r in rows if r["verdict"] == HURTS]
    def spread(key: str) -> str:
        return _range(100 * min(r[key] for r in rows), 100 * max(r[key] for r in rows))

    sentence = (f"**Verdict.** At the end of training the hardest negative pair has a synthetic end for "
                f"{spread('mean')} % of the anchors, while {spread('candidates')} % of the candidate pairs have one "
                f"and random unit vectors give {spread('random')} %: the share is "
                f"clearly below the random-vector baseline for {len(below)} of the {len(rows)} (data set, loss) "
                f"pairs and clearly above it for {len(above)}" + (f" ({', '.join(above)})" if above else "")
                + " (one-sample t-tests against the baseline, Holm-adjusted over the table's rows)"
                + ". A high share is what chance gives; only a share above the baseline would mean that "
                "synthetic points are preferentially the hardest negatives.")
    return "\n\n".join(["## How often is the hardest negative synthetic?",
                        "Chance baselines: the share of HNPM's candidate pairs (an expanded set against the "
                        "other classes' points) that have a synthetic end, and the share of hardest pairs with "
                        "a synthetic end when the embeddings are random unit vectors (same batch layout and "
                        "dimension, averaged over random batches).",
                        sentence, table, "![synthetic share](synthetic_share.png)"])


# --- 6. heat maps, like with like -------------------------------------------------------------


def heatmap_rows(tables: Tables) -> list[dict]:
    """EE model − plain model, mean hardest negative distance between classes, last epoch, per measurement."""
    out = []
    for dataset in _datasets(tables.heatmaps):
        rows = _select(tables.heatmaps, dataset=dataset)
        last = max(r["epoch"] for r in rows)
        for measured_with in (0, 2):
            by_model = {n: {r["seed"]: r["mean_negative_distance"] for r in rows
                            if r["n_synthetic"] == n and r["epoch"] == last and r["measured_with"] == measured_with}
                        for n in (0, 2)}
            seeds = sorted(by_model[0])
            out.append({"dataset": dataset, "epoch": last, "measured_with": measured_with,
                        "plain": pystats.fmean(by_model[0].values()), "ee": pystats.fmean(by_model[2].values())}
                       | _summary_row([by_model[2][s] for s in seeds], [by_model[0][s] for s in seeds]))
    return _adjusted(out)


def heatmap_section(tables: Tables) -> str:
    rows = heatmap_rows(tables)
    parts = []
    for r in rows:
        how = "on the originals only" if r["measured_with"] == 0 else "with n = 2 synthetic points for both models"
        direction = {HELPS: "larger", HURTS: "smaller", NO_CLEAR_EFFECT: "not clearly different"}[
            r["verdict"]]
        parts.append(f"measured {how}, the EE model's hardest negative distances between classes are {direction} "
                     f"({r['ee']:.3f} vs {r['plain']:.3f}; {describe(r, unit='', digits=3)})")
    table = _markdown_table(["data set", "measured with", "Triplet†", "EE + Triplet†", "Δ (95 % CI)", "p (Holm)",
                             "verdict"],
                            [[r["dataset"], "originals" if r["measured_with"] == 0 else "n = 2", f"{r['plain']:.3f}",
                              f"{r['ee']:.3f}", f"{r['delta']:+.3f} ({_ci(r, 3)})", _p(r["p_holm"]),
                              COMPARISON_WORDS[r["verdict"]] + _marks(r)] for r in rows])
    return "\n\n".join([
        "## Heat maps: hardest distances between classes, like with like",
        "Both models are measured the same way on the same probe batch (16 training classes × 4): once on "
        "their originals only, once both expanded with n = 2 (`eelib.diagnostics.class_distance_matrix`). "
        "Off-diagonal cells: the closest pair between two classes; the table averages them (last epoch).",
        f"**Verdict ({rows[0]['dataset']}, Triplet†, last epoch).** " + _capitalised("; ".join(parts)) + ".",
        table, "![heat maps](heatmaps.png)", "![mean distances](heatmap_distances.png)"])


# --- 7. synthetic labels ----------------------------------------------------------------------


def label_rows(tables: Tables) -> list[dict]:
    """Synthetic − original query R@1 per model, and the EE model's gap − the plain model's gap."""
    out = []
    for dataset in _datasets(tables.synthetic_labels):
        by_model = {}
        for n in (0, 2):
            rows = sorted(_select(tables.synthetic_labels, dataset=dataset, n_synthetic=n), key=lambda r: r["seed"])
            by_model[n] = rows
            out.append({"dataset": dataset, "model": n, "original": pystats.fmean(r["original"] for r in rows),
                        "synthetic": pystats.fmean(r["synthetic"] for r in rows)}
                       | _summary_row([r["synthetic"] for r in rows], [r["original"] for r in rows]))
        gaps = {n: [r["synthetic"] - r["original"] for r in by_model[n]] for n in (0, 2)}
        out.append({"dataset": dataset, "model": "gap"} | _summary_row(gaps[2], gaps[0]))
    return _adjusted(out)


def labels_section(tables: Tables) -> str:
    rows = label_rows(tables)
    dataset = rows[0]["dataset"]
    plain, ee, gap = (_one(rows, dataset=dataset, model=m) for m in (0, 2, "gap"))
    sentence = (f"**Verdict ({dataset}, Triplet†).** Synthetic points of the unseen classes, used as queries, "
                f"retrieve their inherited class at R@1 {ee['synthetic']:.1f} % against {ee['original']:.1f} % for "
                f"the originals in the EE model ({describe(ee)}), so their labels are right; but the model trained "
                f"without EE shows the same advantage ({plain['synthetic']:.1f} % vs {plain['original']:.1f} %, "
                f"{describe(plain)}), and the EE model's advantage differs from it by {describe(gap)}: "
                + ("training with EE adds to what averaging alone gives."
                   if gap["verdict"] == HELPS else
                   "the advantage comes from averaging two samples of a class; training with EE adds no clear "
                   "advantage to it."))
    table = _markdown_table(["data set", "model", "original queries", "synthetic queries", "synthetic − original",
                             "p (Holm)", "verdict"],
                            [[r["dataset"], "Triplet†" if r["model"] == 0 else "EE + Triplet†", f"{r['original']:.1f}",
                              f"{r['synthetic']:.1f}", f"{r['delta']:+.2f} ({_ci(r)})", _p(r["p_holm"]),
                              COMPARISON_WORDS[r["verdict"]] + _marks(r)] for r in rows if r["model"] != "gap"])
    return "\n\n".join(["## Are the synthetic labels right? (with a control for averaging)",
                        "Each synthetic point of the test classes queries the originals without its two parents; "
                        "the control is the same measurement in the model trained without EE, where the "
                        "synthetic points are the same kind of average.", sentence, table,
                        "![synthetic labels](synthetic_labels.png)"])


# --- 8. occlusion -----------------------------------------------------------------------------


def occlusion_rows(tables: Tables) -> list[dict]:
    """Per image data set, loss and area: EE − plain of the R@1 lost to occlusion (positive: EE loses less)."""
    out = []
    for dataset in _datasets(tables.occlusion):
        for loss in _losses(tables.occlusion):
            drops = {}
            for n in (0, 2):
                rows = _select(tables.occlusion, dataset=dataset, loss=loss, n_synthetic=n)
                clean = {r["seed"]: r["recall@1"] for r in rows if r["area"] == 0}
                drops[n] = {(r["area"], r["seed"]): r["recall@1"] - clean[r["seed"]] for r in rows if r["area"] > 0}
            for area in sorted({a for a, _ in drops[0]}):
                seeds = sorted(s for a, s in drops[0] if a == area)
                out.append({"dataset": dataset, "loss": loss, "area": area,
                            "drop_plain": pystats.fmean(drops[0][(area, s)] for s in seeds),
                            "drop_ee": pystats.fmean(drops[2][(area, s)] for s in seeds)}
                           | _summary_row([drops[2][(area, s)] for s in seeds], [drops[0][(area, s)] for s in seeds]))
    return out


def _direction_sentence(clear: Sequence[dict], size: int) -> str:
    """What the clear occlusion verdicts say together."""
    directions = {r["verdict"] for r in clear}
    if not clear:
        return "These runs show no clear difference in robustness to occlusion."
    if len(directions) > 1:
        return ("The clear verdicts point in opposite directions: these runs do not show EE making the models "
                "more or less robust to occlusion.")
    word = "less" if directions == {HELPS} else "more"
    return (f"EE loses {word} Recall@1 under occlusion for {len(clear)} of the {size} pairs and shows no clear "
            "difference for the others.")


def occlusion_section(tables: Tables) -> str:
    rows = occlusion_rows(tables)
    largest = max(r["area"] for r in rows)
    at_largest = _adjusted([r for r in rows if r["area"] == largest])
    words = {HELPS: "EE loses less", HURTS: "EE loses more", NO_CLEAR_EFFECT: "no clear difference"}

    def listed(selected: Sequence[dict]) -> str:
        return "; ".join(f"{r['loss']} on {r['dataset']} {r['delta']:+.2f} (CI {_ci(r)})" for r in selected)

    excluding = [r for r in at_largest if r["p_t"] < ALPHA]
    clear = [r for r in at_largest if r["verdict"] != NO_CLEAR_EFFECT]
    low, high = min(r["delta"] for r in at_largest), max(r["delta"] for r in at_largest)
    sentence = (f"The change in the Recall@1 lost (EE − without) lies between {low:+.2f} and {high:+.2f} points. "
                f"Before adjustment its interval excludes 0 for {len(excluding)} of the {len(at_largest)} (data set, "
                f"loss) pairs" + (f" ({listed(excluding)})" if excluding else "")
                + f"; after Holm's adjustment over the {len(at_largest)} pairs, {len(clear)} "
                + ("verdict is" if len(clear) == 1 else "verdicts are") + " clear"
                + (f" ({listed(clear)})" if clear else "")
                + ". " + _direction_sentence(clear, len(at_largest)))
    table = _markdown_table(
        ["data set", "loss", "R@1 lost, without EE", "with EE", "Δ (EE − without)", "95 % CI", "p (Holm)", "verdict"],
        [[r["dataset"], r["loss"], f"{r['drop_plain']:+.1f}", f"{r['drop_ee']:+.1f}", f"{r['delta']:+.2f}", _ci(r),
          _p(r["p_holm"]), words[r["verdict"]] + _marks(r)] for r in at_largest],
        "|---|---|---:|---:|---:|---:|---:|---|")
    return "\n\n".join([
        "## Robustness to occlusion",
        "The test images get a blank square covering a share of their area (the same squares for both "
        "models of a seed); the table compares how much Recall@1 each model loses (points; positive Δ: EE "
        "loses less). A model that starts lower has less to lose: read the Δ here next to the clean Δ of "
        "the verdict table. All areas are in `occlusion.csv` and the figure; the verdicts are stated for the "
        "largest area only, whose rows form the family.",
        f"**Verdict (occluded area {100 * largest:.0f} %).** " + sentence,
        table, "![occlusion](occlusion.png)"])


# --- 9. memory and time -----------------------------------------------------------------------


def memory_section(summary: dict, folder: Path) -> str:
    memory = read_csv(folder / "memory.csv")
    at2 = [r["ratio"] for r in memory if r["n_synthetic"] == 2]
    largest = max(r["n_synthetic"] for r in memory)
    at_max = [r["ratio"] for r in memory if r["n_synthetic"] == largest]
    sentence = (f"**Verdict.** A training step with EE (n = 2) needs ×{_range(min(at2), max(at2), 2)} the memory of "
                f"one without (n = {largest}: ×{_range(min(at_max), max(at_max), 1)}), less than the "
                "(1 + n/2)² growth of the expanded distance matrix because the model's own activations do not grow.")
    return "\n\n".join(["## Peak memory of a training step", sentence,
                        (folder / "memory.md").read_text(encoding="utf-8")])


def timing_section(summary: dict, folder: Path) -> str:
    steps = summary["timing"]["steps"]
    base = steps[0]["ms"]
    sentence = (f"**Verdict.** Generating 32 synthetic points takes {summary['timing']['interpolate_32_synthetic_ms']:.3f} ms "
                f"here; a training step with EE costs ×{steps[1]['ms'] / base:.2f} a plain batch-hard step, the "
                f"DAML-style generator's ×{steps[2]['ms'] / base:.2f}.")
    return "\n\n".join(["## Time", sentence, (folder / "timing.md").read_text(encoding="utf-8")])


# --- figures ---------------------------------------------------------------------------------


def _seaborn():
    """seaborn, imported only when a figure is drawn: importing it also imports ipywidgets when that is
    installed, which the runner must not load (tests/test_layers.py)."""
    import seaborn

    return seaborn


def _interval(ax, y: float, row: dict, colour: str) -> None:
    ax.errorbar(row["delta"], y, xerr=[[row["delta"] - row["ci_low"]], [row["ci_high"] - row["delta"]]],
                fmt="D", color=colour, markersize=6, capsize=4, lw=2, zorder=3)


def paired_differences_figure(tables: Tables, out: Path, metric: str = PRIMARY) -> None:
    """Per data set: every seed's difference (dots, seaborn) and the mean with its 95 % CI (diamond)."""
    datasets = _datasets(tables.paired)
    losses = _losses(tables.paired)
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 0.55 * len(losses) + 1.6),
                             sharey=True, squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        per_seed = _select(tables.per_seed, dataset=dataset)
        points = {"loss": [], "difference": []}
        for loss in losses:
            base = {r["seed"]: r[metric] for r in per_seed if r["loss"] == loss and r["n_synthetic"] == 0}
            for r in per_seed:
                if r["loss"] == loss and r["n_synthetic"] == 2:
                    points["loss"].append(loss)
                    points["difference"].append(r[metric] - base[r["seed"]])
        _seaborn().stripplot(data=points, x="difference", y="loss", order=losses, ax=ax, color="0.55", size=4, jitter=0.15)
        for y, loss in enumerate(losses):
            row = _one(tables.paired, dataset=dataset, loss=loss, n_synthetic=2, metric=metric)
            if row is not None:
                _interval(ax, y, row, VERDICT_COLOURS[row["verdict"]])
        ax.axvline(0, color="0.2", lw=1)
        ax.set(title=dataset, xlabel=f"Δ{metric} (EE − without), points", ylabel="")
    handles = [plt.Line2D([], [], marker="D", ls="", color=c, label=v) for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(out / "paired_differences.png", dpi=80)
    plt.close(fig)


def n_sweep_figure(tables: Tables, out: Path) -> None:
    dataset, rows = n_sweep_rows(tables)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for r in rows:
        colour = VERDICT_COLOURS[r["verdict"]]
        ax.errorbar(r["n_synthetic"], r["delta"], yerr=[[r["delta"] - r["ci_low"]], [r["ci_high"] - r["delta"]]],
                    fmt="o", color=colour, capsize=4)
    ax.axhline(0, color="0.2", lw=1)
    ax.set(xscale="log", xticks=[r["n_synthetic"] for r in rows], xticklabels=[r["n_synthetic"] for r in rows],
           xlabel="synthetic points per pair n", ylabel="ΔR@1 vs n = 0 (points)",
           title=f"EE + Triplet† on {dataset}: mean and 95 % CI")
    fig.tight_layout()
    fig.savefig(out / "recall_vs_n.png", dpi=80)
    plt.close(fig)


def ablations_figure(tables: Tables, out: Path) -> None:
    rows = _select(tables.ablations_paired, metric=PRIMARY)
    labels = [f"{r['loss']}: {r['variant']} − {r['baseline']}" for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        _interval(ax, y, r, VERDICT_COLOURS[r["verdict"]])
    ax.axvline(0, color="0.2", lw=1)
    ax.set(yticks=range(len(rows)), yticklabels=labels, xlabel="ΔR@1 (points), mean and 95 % CI",
           title=f"variants of EE on {rows[0]['dataset']}" if rows else "")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / "ablations.png", dpi=80)
    plt.close(fig)


def synthetic_share_figure(tables: Tables, summary: dict, out: Path) -> None:
    datasets = _datasets(tables.synthetic_share)
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.4), sharey=True, squeeze=False)
    baselines = summary["synthetic_share_baselines"]
    for ax, dataset in zip(axes[0], datasets):
        rows = _select(tables.synthetic_share, dataset=dataset, n_synthetic=2)
        data = {"epoch": [r["epoch"] for r in rows], "share": [r["share"] for r in rows],
                "loss": [r["loss"] for r in rows]}
        _seaborn().lineplot(data=data, x="epoch", y="share", hue="loss", hue_order=_losses(rows), errorbar=("ci", 95), ax=ax,
                     legend=ax is axes[0][-1])
        for loss in _losses(rows):
            ax.axhline(baselines[f"{dataset}/{loss}"]["random"], color="0.3", ls=":", lw=1)
        ax.axhline(baselines[f"{dataset}/{_losses(rows)[0]}"]["candidates"], color="0.3", ls="--", lw=1)
        ax.set(title=dataset, ylim=(0, 1), ylabel="share of hardest negatives\nwith a synthetic end")
    _seaborn().move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    fig.suptitle("EE (n = 2), mean and 95 % CI over seeds; dashed: candidate pairs with a synthetic end, "
                 "dotted: random unit vectors", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "synthetic_share.png", dpi=80)
    plt.close(fig)


def heatmaps_figure(tables: Tables, matrices: dict, out: Path) -> None:
    """Seed 0's class × class matrices (rows: model and measurement; columns: epochs), and the means over seeds."""
    epochs = sorted({int(key.split("/")[1]) for key in matrices})
    panels = [(n, m) for m in (0, 2) for n in (0, 2)]
    names = {0: "Triplet†", 2: "EE + Triplet†"}
    measured = {0: "on originals", 2: "with n = 2"}
    dataset = _datasets(tables.heatmaps)[0]
    fig, axes = plt.subplots(len(panels), len(epochs), figsize=(2.6 * len(epochs) + 0.8, 2.5 * len(panels)),
                             squeeze=False)
    for row, (n, measured_with) in enumerate(panels):
        for col, epoch in enumerate(epochs):
            image = axes[row, col].imshow(np.array(matrices[f"{n}/{epoch}/{measured_with}"]), cmap=DISTANCE_CMAP,
                                          vmin=0.0, vmax=2.0)
            axes[row, col].set(xticks=[], yticks=[], title=f"epoch {epoch}" if row == 0 else "")
            axes[row, col].grid(False)
        axes[row, 0].set_ylabel(f"{names[n]}\nmeasured {measured[measured_with]}", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.5, label="hardest distance between two classes")
    fig.suptitle(f"{dataset}, seed 0: hardest distances on a probe batch (red = near, blue = far)")
    fig.savefig(out / "heatmaps.png", dpi=70)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), sharey=True)
    for ax, measured_with in zip(axes, (0, 2)):
        rows = _select(tables.heatmaps, dataset=dataset, measured_with=measured_with)
        data = {"epoch": [r["epoch"] for r in rows], "distance": [r["mean_negative_distance"] for r in rows],
                "model": [names[r["n_synthetic"]] for r in rows]}
        _seaborn().lineplot(data=data, x="epoch", y="distance", hue="model", errorbar=("ci", 95), marker="o", ax=ax,
                     legend=ax is axes[0])
        ax.set(title=f"measured {measured[measured_with]}", ylabel="mean hardest negative distance\nbetween classes")
    fig.suptitle(f"{dataset}: mean over class pairs, mean and 95 % CI over seeds")
    fig.tight_layout()
    fig.savefig(out / "heatmap_distances.png", dpi=80)
    plt.close(fig)


def synthetic_labels_figure(tables: Tables, out: Path) -> None:
    rows = [r for r in label_rows(tables) if r["model"] != "gap"]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    width = 0.38
    for i, r in enumerate(rows):
        for j, (kind, value) in enumerate((("original", r["original"]), ("synthetic", r["synthetic"]))):
            ax.bar(i + (j - 0.5) * width, value, width, color=class_color(j), label=kind if i == 0 else None)
            ax.text(i + (j - 0.5) * width, value / 2, f"{value:.1f}", ha="center", fontsize=8)
    ax.set(xticks=range(len(rows)), xticklabels=["Triplet†" if r["model"] == 0 else "EE + Triplet†" for r in rows],
           ylabel="Recall@1 (%) against the originals", ylim=(0, 100), title="queries: original vs synthetic points")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "synthetic_labels.png", dpi=80)
    plt.close(fig)


def occlusion_figure(tables: Tables, out: Path) -> None:
    datasets = _datasets(tables.occlusion)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = _select(tables.occlusion, dataset=dataset, loss="Triplet†")
        data = {"area (%)": [100 * r["area"] for r in rows], "R@1": [r["recall@1"] for r in rows],
                "model": ["EE + Triplet†" if r["n_synthetic"] else "Triplet†" for r in rows]}
        _seaborn().lineplot(data=data, x="area (%)", y="R@1", hue="model", errorbar=("ci", 95), marker="o", ax=ax)
        ax.set(title=f"{dataset}: occluded test images", xticks=[100 * a for a in OCCLUSION_AREAS])
    fig.tight_layout()
    fig.savefig(out / "occlusion.png", dpi=80)
    plt.close(fig)


# --- the whole account -------------------------------------------------------------------------


def sections(tables: Tables, summary: dict, folder: Path) -> list[str]:
    """The Markdown sections of ``results.md``, in order (those whose tables are empty are left out)."""
    previous = previous_run(folder)
    changed = changed_keys(verdict_changes(tables, previous))
    parts = [protocol_section(tables, summary), verdict_section(tables, previous)]
    if tables.aa_paired:
        parts.append(aa_section(tables))
    if len({r["n_synthetic"] for r in tables.per_seed}) > 2:
        parts.append(n_sweep_section(tables))
    variants = {r["variant"] for r in tables.ablations_per_seed}
    if "not normalised" in variants:
        parts.append(normalisation_section(tables, changed))
    if "without HNPM" in variants:
        parts.append(hnpm_section(tables, changed))
    if tables.synthetic_share:
        parts.append(share_section(tables, summary))
    if tables.heatmaps:
        parts.append(heatmap_section(tables))
    if tables.synthetic_labels:
        parts.append(labels_section(tables))
    if "generator" in variants:
        parts.append(generator_section(tables, summary, changed))
    if tables.occlusion:
        parts.append(occlusion_section(tables))
    parts += [memory_section(summary, folder), timing_section(summary, folder)]
    return parts


def results_markdown(tables: Tables, summary: dict, folder: Path) -> str:
    header = ("# Results of `python -m eelib.experiments`\n\nGenerated by `eelib.experiments.report` from the "
              "tables in this folder (`per_seed.csv`, `paired.csv`, `ablations_*.csv`, …); every number and "
              "verdict below is computed from them.")
    return "\n\n".join([header, *sections(tables, summary, folder)]) + "\n"


def write_report(folder: Path, tables: Tables, summary: dict, matrices: dict) -> None:
    """Figures and ``results.md`` into ``folder`` (which already holds the tables and costs)."""
    apply_course_style()
    paired_differences_figure(tables, folder)
    if len({r["n_synthetic"] for r in tables.per_seed}) > 2:
        n_sweep_figure(tables, folder)
    if tables.ablations_paired:
        ablations_figure(tables, folder)
    if tables.synthetic_share:
        synthetic_share_figure(tables, summary, folder)
    if matrices:
        heatmaps_figure(tables, matrices, folder)
    if tables.synthetic_labels:
        synthetic_labels_figure(tables, folder)
    if tables.occlusion:
        occlusion_figure(tables, folder)
    changes = verdict_changes(tables, previous_run(folder))
    if changes:
        write_csv(folder / "verdict_changes.csv", changes, list(changes[0]))
    (folder / "results.md").write_text(results_markdown(tables, summary, folder), encoding="utf-8")


__all__ = ["PREVIOUS_RUN", "PRIMARY", "aa_section", "aa_sentence", "changed_keys", "describe", "family_counts", "load",
           "loss_sentences", "multiplicity_sentence", "previous_run", "rerun_sentence", "results_markdown", "sections", "split_figures",
           "verdict_changes", "verdict_counts", "verdict_section", "verdict_table", "write_report"]
