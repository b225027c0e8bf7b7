"""The claims table's rows beyond Table 1 (report/claims.py: `_regularization`, `_figure4`,
`source_strength_claim`, `source_strength_gaps`, `_steps`), checked on SeriesResults frames whose
statistics are known by construction: each replicate's slope against log2 of the factor (width,
class fraction, source images) is planted exactly (the rest of each replicate's curve is noise
orthogonal to a line), each comparison's per-replicate difference is planted and recomputed here
from the planted numbers, and the 90% interval is recomputed from Student's t quantile
(`scipy.stats.t.ppf`), not from the library. The properties: a row's difference and interval are
those of its statistic, its "this run" cell shows the means it names, a trend shows every step's
mean and sign, a verdict follows the sign of the effect and flips when the effect flips, a
comparison judged with a margin shows it (and calls a negligible difference equivalent), and a row
appears only when its runs are there.

The claims' titles, the paper column and the test column are pure wording: they are pinned by the
approval file tests/data/claims_trends_wording.csv (the paper column's quotes were checked by hand
against the paper: sec. 4.1 for dropout at 2.5x width, sec. 4.2 for Places 51.13 vs 47.2 and the
adapters ahead on UCF101 and CIFAR-100, sec. 4.3 for 0.5x to 2.5x and fewer classes). After a
deliberate change of that wording, regenerate the file with
    .venv/bin/python tests/test_claims_trends_properties.py
and review its diff.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib.data.domains import TARGETS
from paperlib.report.claims import claims, source_strength_claim, source_strength_gaps
from paperlib.report.table1 import SeriesResults
from paperlib.report.verdicts import INTERVAL_LABEL, LEVEL, MARGIN

WORDING = Path(__file__).parent / "data" / "claims_trends_wording.csv"
PAR = "Parallel Res. adapt."
REPLICATES = 4
WIDTHS = (0.5, 1.0, 2.5)
CLASS_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
TRANSFER = ("ucf101", "cifar100", "svhn")  # small, medium, large: the order the runs come in
SOURCE_FRACTIONS = (0.0625, 0.25, 1.0)
NUM = r"[+-]?\d+\.\d\d"  # a number shown with two decimals


# ---------------------------------------------------------------- building the frames

def _results(**frames: pd.DataFrame) -> SeriesResults:
    empty = {f.name: pd.DataFrame() for f in dataclasses.fields(SeriesResults)}
    return SeriesResults(**{**empty, **frames})


def _table(results: SeriesResults, long: pd.DataFrame | None = None) -> pd.DataFrame:
    """The claims table of `results` (Table 1's frame: `long`, default none)."""
    if long is None:
        long = pd.DataFrame(columns=["model", "domain", "replicate", "accuracy"])
    ours = pd.DataFrame(columns=["model", "mean", "S"])
    return claims(ours, results, long=long, profile="mini")


def _titles() -> dict[str, str]:
    with WORDING.open(encoding="utf-8") as f:
        return {r["key"]: r["claim"] for r in csv.DictReader(f)}


def _row(table: pd.DataFrame, key: str) -> pd.Series | None:
    """The row of claim `key` (its title from the wording file), None when the table has none."""
    rows = table[table["claim"] == _titles()[key]]
    assert len(rows) <= 1
    return rows.iloc[0] if len(rows) else None


def _trend(rng: np.random.Generator, factors, slopes, *, level: float = 60.0) -> np.ndarray:
    """accuracy[replicate, factor]: replicate r's least-squares slope against log2(factor) is
    exactly slopes[r] (its own intercept, plus noise projected off the line)."""
    x = np.log2(np.asarray(factors, dtype=float))
    design = np.column_stack([np.ones_like(x), x])
    out = []
    for b in slopes:
        noise = rng.normal(0.0, 1.5, len(x))
        noise -= design @ np.linalg.lstsq(design, noise, rcond=None)[0]
        out.append(level + rng.normal(0.0, 3.0) + b * x + noise)
    return np.array(out)


def _width_dropout(rng: np.random.Generator, slopes, *, gain_widest: float, gain_narrowest: float,
                   widths=WIDTHS) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Figure 4a's runs: no-dropout full-data accuracies on the planted trend; the few-image runs
    elsewhere; dropout adds a planted gain per (width, subset, replicate), around `gain_widest`
    at the widest width, `gain_narrowest` at the narrowest and +10 in between (ignored)."""
    full = _trend(rng, widths, slopes)
    gains, rows = {}, []
    for i, w in enumerate(widths):
        for subset in ("full", "few"):
            base = full[:, i] if subset == "full" else rng.normal(35.0, 8.0, len(slopes))
            centre = gain_widest if w == max(widths) else gain_narrowest if w == min(widths) else 10.0
            gains[w, subset] = g = rng.normal(centre, 0.3, len(slopes))
            for r in range(len(slopes)):
                for dropout, acc in ((False, base[r]), (True, base[r] + g[r])):
                    rows.append({"width_factor": w, "dropout": dropout, "subset": subset, "domain": "cifar100",
                                 "method": "parallel", "replicate": r, "accuracy": acc})
    frame = pd.DataFrame(rows)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True), full, gains


def _t_interval(values) -> tuple[float, float, float]:
    """Mean and two-sided LEVEL interval of Student's t over the replicates."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf((1 + LEVEL) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def _assert_statistics(row: pd.Series, expected: list, *, margin: bool) -> None:
    """The row's difference and interval cells are the mean and t interval of each expected
    per-replicate statistic (to the two decimals shown); its margin cell shows MARGIN once per
    statistic where a margin is judged, nothing where none is."""
    diffs, intervals = row["difference"].split("; "), row[INTERVAL_LABEL].split("; ")
    assert len(diffs) == len(intervals) == len(expected)
    for text, interval, values in zip(diffs, intervals, expected):
        mean, low, high = _t_interval(values)
        assert re.fullmatch(NUM, text) and abs(float(text) - mean) <= 0.0051, (text, mean)
        m = re.fullmatch(rf"\[({NUM}), ({NUM})\] \(n = (\d+)\)", interval)
        assert m, interval
        assert abs(float(m[1]) - low) <= 0.0051 and abs(float(m[2]) - high) <= 0.0051, (interval, low, high)
        assert int(m[3]) == len(values)
    assert row["margin"] == ("; ".join([f"±{MARGIN:g}"] * len(expected)) if margin else "")


def _steps_values(text: str, digits: int) -> tuple[list[float], str]:
    """The means and the step signs of a trend's "this run" cell."""
    number = rf"-?\d+\.\d{{{digits}}}"
    m = re.fullmatch(rf"({number}(?: -> {number})*) \(steps ([-+=]*)\)", text)
    assert m, text
    return [float(v) for v in m[1].split(" -> ")], m[2]


def _assert_steps(text: str, means, digits: int) -> None:
    """A trend's cell shows each step's mean (to `digits`) and the sign of each step."""
    shown, signs = _steps_values(text, digits)
    assert np.allclose(shown, means, rtol=0, atol=0.5 * 10 ** -digits + 1e-9), (text, means)
    assert signs == "".join("+" if d > 0 else "-" for d in np.diff(means))


def _verdict(sign: int) -> str:
    return "reproduced" if sign > 0 else "not reproduced"


# ---------------------------------------------------------------- regularization (notebook 04)

@pytest.mark.parametrize("sign", [1, -1])
def test_wider_network_row_is_the_slope_per_doubling(sign):
    """"A wider pretrained network helps" (Fig. 4a) is judged on each replicate's slope of the
    no-dropout full-data accuracy against log2(width), the dropout and few-image runs left out:
    the row's difference and interval are those of the planted slopes, no margin; it shows the
    mean accuracy at each width (two decimals) with each step's sign; the verdict follows the
    slope's sign."""
    rng = np.random.default_rng(11 + sign)
    slopes = sign * rng.uniform(1.0, 2.0, REPLICATES)
    frame, full, _ = _width_dropout(rng, slopes, gain_widest=2.0, gain_narrowest=-1.0)
    row = _row(_table(_results(width_dropout=frame)), "wider")
    _assert_statistics(row, [slopes], margin=False)
    _assert_steps(row["this run"], full.mean(axis=0), 2)
    assert row["verdict"] == _verdict(sign)


@pytest.mark.parametrize("sign", [1, -1])
def test_dropout_row_compares_the_gain_at_the_widest_and_narrowest_widths(sign):
    """"Dropout helps the adapters of a wider pretrained network" (sec. 4.1: effective only at
    2.5x) is two statistics per replicate, each a mean over the full and few-image subsets of the
    paired gain (dropout - none): the widest width's gain minus the narrowest's, and the widest's
    gain itself, both judged with the margin; the row shows the mean gain at each end, and its
    verdict flips when the gains flip (a middle width's gain must not count)."""
    rng = np.random.default_rng(21 + sign)
    frame, _, gains = _width_dropout(rng, rng.uniform(0.5, 1.0, REPLICATES), gain_widest=2.0 * sign,
                                     gain_narrowest=-1.0 * sign)
    wide, narrow = max(WIDTHS), min(WIDTHS)
    over = [(gains[wide, s] - gains[narrow, s]) for s in ("full", "few")]
    row = _row(_table(_results(width_dropout=frame)), "dropout")
    _assert_statistics(row, [np.mean(over, axis=0), np.mean([gains[wide, s] for s in ("full", "few")], axis=0)],
                       margin=True)
    m = re.fullmatch(rf"gain ({NUM}) at the narrowest, ({NUM}) at the widest", row["this run"])
    assert m, row["this run"]
    assert abs(float(m[1]) - np.mean([gains[narrow, s] for s in ("full", "few")])) <= 0.0051
    assert abs(float(m[2]) - np.mean([gains[wide, s] for s in ("full", "few")])) <= 0.0051
    assert row["verdict"] == _verdict(sign)


def test_width_rows_appear_only_with_their_runs():
    """A comparison needs what it compares: the dropout row needs runs with and without dropout at
    two different widths, the wider-network row two widths of no-dropout full-data runs; with
    exactly two widths both rows appear, with one neither does, and a narrowest width with runs of
    one dropout setting only leaves the dropout row out (and the trend row, if its runs lack
    dropout)."""
    rng = np.random.default_rng(3)
    frame, _, _ = _width_dropout(rng, rng.uniform(1.0, 2.0, REPLICATES), gain_widest=2.0, gain_narrowest=-1.0,
                                 widths=(0.5, 2.5))
    both = _table(_results(width_dropout=frame))
    assert _row(both, "dropout") is not None and _row(both, "wider") is not None
    one = _table(_results(width_dropout=frame[frame["width_factor"] == 2.5]))
    assert _row(one, "dropout") is None and _row(one, "wider") is None
    no_dropout = _table(_results(width_dropout=frame[(frame["width_factor"] == 2.5) | ~frame["dropout"]]))
    assert _row(no_dropout, "dropout") is None and _row(no_dropout, "wider") is not None
    only_dropout = _table(_results(width_dropout=frame[(frame["width_factor"] == 2.5) | frame["dropout"]]))
    assert _row(only_dropout, "dropout") is None and _row(only_dropout, "wider") is None
    assert _row(_table(_results()), "dropout") is None and _row(_table(_results()), "wider") is None


@pytest.mark.parametrize("effect, verdict", [(1.5, "reproduced"), (-1.5, "not reproduced"), (0.0, "equivalent")])
def test_uniform_decay_row_is_the_paired_difference_with_parallel(effect, verdict):
    """"Per-domain weight decay helps": per replicate, the mean over the domains that both have
    of Table 1's parallel row minus the run with one decay for every domain (other Table 1 rows
    must not count); judged with the margin, so a negligible difference is "equivalent"; the row
    shows the difference in points. Without the uniform runs, or without the parallel row, no row."""
    rng = np.random.default_rng(int(effect * 10) + 40)
    level = rng.normal(70.0, 10.0, (REPLICATES, len(TARGETS)))
    delta = rng.normal(effect, 0.3 if effect else 0.03, (REPLICATES, len(TARGETS)))
    long = pd.DataFrame([{"model": model, "domain": d, "replicate": r, "accuracy": acc}
                         for r in range(REPLICATES) for j, d in enumerate(TARGETS)
                         for model, acc in ((PAR, level[r, j]), ("Finetuning", level[r, j] - 20.0))])
    uniform = pd.DataFrame([{"model": "Parallel, decay 0.0005 everywhere", "method": "parallel", "domain": d,
                             "replicate": r, "accuracy": level[r, j] - delta[r, j]}
                            for r in range(REPLICATES) for j, d in enumerate(TARGETS) if d != TARGETS[0]])
    row = _row(_table(_results(uniform_decay=uniform), long), "uniform_decay")
    expected = delta[:, 1:].mean(axis=1)  # the first domain has no uniform run: not paired
    _assert_statistics(row, [expected], margin=True)
    m = re.fullmatch(rf"({NUM}) points", row["this run"])
    assert m and abs(float(m[1]) - expected.mean()) <= 0.0051
    assert row["verdict"] == verdict
    assert _row(_table(_results(), long), "uniform_decay") is None
    assert _row(_table(_results(uniform_decay=uniform), long[long["model"] != PAR]), "uniform_decay") is None


# ---------------------------------------------------------------- Figure 4 (notebooks 06, 07)

def _transfer(rng: np.random.Generator, *, scarce: float, large_wins: bool,
              methods=("finetune", "series", "parallel")) -> tuple[pd.DataFrame, dict, dict]:
    """Figure 4c-e's runs, domains in the order small, medium, large: parallel - finetune per
    (domain, replicate) planted around `scarce` at the smallest fraction; at the full data around
    +2 on the first two domains and around -4 on the large one when finetuning wins there (else
    +4); the middle fraction and the series runs anything."""
    fractions = (0.1, 0.25, 1.0)
    planted = {0.1: {d: rng.normal(scarce, 0.4, REPLICATES) for d in TRANSFER},
               1.0: {d: rng.normal(2.0, 0.3, REPLICATES) for d in TRANSFER[:-1]}}
    planted[1.0][TRANSFER[-1]] = rng.normal(-4.0 if large_wins else 4.0, 0.3, REPLICATES)
    accuracy = {}
    for d in TRANSFER:
        for f in fractions:
            ft = rng.normal(50.0 + 20 * f, 5.0, REPLICATES)
            gap = planted[f][d] if f in planted else rng.normal(-8.0, 3.0, REPLICATES)
            accuracy.update({(d, f, "finetune"): ft, (d, f, "parallel"): ft + gap,
                             (d, f, "series"): rng.normal(20.0, 5.0, REPLICATES)})
    rows = [{"domain": d, "fraction": f, "method": m, "replicate": r, "accuracy": accuracy[d, f, m][r]}
            for d in TRANSFER for f in fractions for m in methods for r in range(REPLICATES)]
    return pd.DataFrame(rows), planted, accuracy


@pytest.mark.parametrize("flip", [False, True])
def test_transfer_rows_compare_parallel_and_finetune(flip):
    """Sec. 4.2: at the smallest fraction, parallel - finetune per replicate, mean over the three
    domains (shown as the two methods' mean accuracies); with all the data, one comparison per
    domain, finetune - parallel on the large (last) domain and parallel - finetune on the others,
    each shown as "domain: finetune vs parallel" in the runs' order; every comparison judged with
    the margin. The verdicts flip when adapters lose with scarce data, and when they win on the
    large domain."""
    rng = np.random.default_rng(60 + flip)
    frame, planted, accuracy = _transfer(rng, scarce=-3.0 if flip else 3.0, large_wins=not flip)
    table = _table(_results(transfer=frame))
    scarce = _row(table, "transfer_scarce")
    _assert_statistics(scarce, [np.mean([planted[0.1][d] for d in TRANSFER], axis=0)], margin=True)
    m = re.fullmatch(rf"({NUM}) vs ({NUM})", scarce["this run"])
    assert m, scarce["this run"]
    for shown, method in zip(m.groups(), ("parallel", "finetune")):
        assert abs(float(shown) - np.mean([accuracy[d, 0.1, method] for d in TRANSFER])) <= 0.0051
    assert scarce["verdict"] == _verdict(-1 if flip else 1)

    full = _row(table, "transfer_full")
    claimed = [-planted[1.0][d] if d == TRANSFER[-1] else planted[1.0][d] for d in TRANSFER]
    _assert_statistics(full, claimed, margin=True)
    parts = full["this run"].split("; ")
    assert len(parts) == len(TRANSFER)
    for part, d in zip(parts, TRANSFER):
        m = re.fullmatch(rf"{d}: ({NUM}) vs ({NUM})", part)
        assert m, full["this run"]
        assert abs(float(m[1]) - accuracy[d, 1.0, "finetune"].mean()) <= 0.0051
        assert abs(float(m[2]) - accuracy[d, 1.0, "parallel"].mean()) <= 0.0051
    assert full["verdict"] == _verdict(-1 if flip else 1)


def test_transfer_rows_appear_only_with_both_methods():
    """The transfer rows compare parallel with finetune: with just those two methods both rows
    appear; a smallest fraction without finetuning runs drops the scarce-data row only; without
    transfer runs there is no row."""
    rng = np.random.default_rng(7)
    frame, _, _ = _transfer(rng, scarce=3.0, large_wins=True, methods=("finetune", "parallel"))
    table = _table(_results(transfer=frame))
    assert _row(table, "transfer_scarce") is not None and _row(table, "transfer_full") is not None
    no_ft = frame[~((frame["fraction"] == 0.1) & (frame["method"] == "finetune"))]
    table = _table(_results(transfer=no_ft))
    assert _row(table, "transfer_scarce") is None and _row(table, "transfer_full") is not None
    table = _table(_results())
    assert _row(table, "transfer_scarce") is None and _row(table, "transfer_full") is None


def _classes(rng: np.random.Generator, slopes, fractions=CLASS_FRACTIONS) -> tuple[pd.DataFrame, np.ndarray]:
    acc = _trend(rng, fractions, slopes)
    rows = [{"class_fraction": c, "domain": "cifar100", "method": "parallel", "replicate": r, "accuracy": acc[r, i]}
            for r in range(len(slopes)) for i, c in enumerate(fractions)]
    frame = pd.DataFrame(rows)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True), acc


@pytest.mark.parametrize("sign", [1, -1])
def test_classes_row_is_the_slope_per_doubling_of_the_classes(sign):
    """"More pretraining classes give better transfer" (sec. 4.3, Fig. 4b): each replicate's slope
    of the accuracy against log2(class fraction), no margin; the row shows the mean accuracy at
    each fraction, fewest classes first (one decimal), and each step's sign; the verdict follows
    the slope's sign."""
    rng = np.random.default_rng(80 + sign)
    slopes = sign * rng.uniform(1.0, 2.0, REPLICATES)
    frame, acc = _classes(rng, slopes)
    row = _row(_table(_results(classes=frame)), "classes")
    _assert_statistics(row, [slopes], margin=False)
    _assert_steps(row["this run"], acc.mean(axis=0), 1)
    assert row["verdict"] == _verdict(sign)


def test_trend_rows_show_each_step_with_ties():
    """A trend's cell is every step's mean in the factor's order, then the sign of each step: "+"
    up, "-" down, "=" for equal means (the classes at one decimal, the widths at two); means
    planted exactly: 40, 45, 45, 43 over the replicates."""
    rng = np.random.default_rng(5)
    means = np.array([40.0, 45.0, 45.0, 43.0])
    spread = np.array([[-1.0, 2.0, -3.0, 1.0], [0.0, -2.0, 3.0, 0.0], [1.0, 0.0, 0.0, -1.0]])  # sums to 0
    acc = means + spread  # replicate x factor
    classes = pd.DataFrame([{"class_fraction": c, "domain": "cifar100", "replicate": r, "accuracy": acc[r, i]}
                            for r in range(3) for i, c in enumerate(CLASS_FRACTIONS)])
    widths = (0.25, 0.5, 1.0, 2.0)
    rows = []
    for r in range(3):
        for i, w in enumerate(widths):
            for dropout in (False, True):
                for subset in ("full", "few"):
                    value = acc[r, i] if (subset, dropout) == ("full", False) else rng.normal(30.0, 10.0)
                    rows.append({"width_factor": w, "dropout": dropout, "subset": subset, "replicate": r,
                                 "accuracy": value})
    table = _table(_results(classes=classes, width_dropout=pd.DataFrame(rows)))
    assert _row(table, "classes")["this run"] == "40.0 -> 45.0 -> 45.0 -> 43.0 (steps +=-)"
    assert _row(table, "wider")["this run"] == "40.00 -> 45.00 -> 45.00 -> 43.00 (steps +=-)"


def test_classes_row_needs_two_class_fractions():
    """A slope needs two points: two class fractions give the row, one gives none."""
    rng = np.random.default_rng(9)
    frame, _ = _classes(rng, rng.uniform(1.0, 2.0, REPLICATES), fractions=(0.5, 1.0))
    assert _row(_table(_results(classes=frame)), "classes") is not None
    assert _row(_table(_results(classes=frame[frame["class_fraction"] == 1.0])), "classes") is None


# ---------------------------------------------------------------- source strength (notebook 09)

def _source(rng: np.random.Generator, slopes, *, fractions=SOURCE_FRACTIONS,
            methods=("finetune", "parallel", "bn")) -> tuple[pd.DataFrame, np.ndarray]:
    """Notebook 09's runs: gap[domain, fraction, replicate] = parallel - finetune, whose mean over
    the targets follows replicate r's planted slope against log2(fraction) (per-target parts sum
    to zero over the targets); finetune and bn anything."""
    mean_gap = _trend(rng, fractions, slopes, level=-3.0)  # replicate x fraction
    parts = rng.normal(0.0, 2.0, (len(TRANSFER), len(fractions), len(slopes)))
    gap = mean_gap.T[None] + parts - parts.mean(axis=0, keepdims=True)  # domain x fraction x replicate
    rows = []
    for i, f in enumerate(fractions):
        for j, d in enumerate(TRANSFER):
            for r in range(len(slopes)):
                ft = rng.normal(60.0, 8.0)
                values = {"finetune": ft, "parallel": ft + gap[j, i, r], "bn": rng.normal(30.0, 5.0)}
                rows += [{"source_fraction": f, "domain": d, "method": m, "replicate": r, "accuracy": values[m]}
                         for m in methods]
    return pd.DataFrame(rows), gap


def test_source_strength_gaps_are_parallel_minus_finetune_per_fraction_and_target():
    """Notebook 09's table: one row per source fraction (ascending), one column per target in the
    runs' order, each the mean over the replicates of parallel - finetune; without finetuning
    runs there is no gap to show (an empty frame)."""
    rng = np.random.default_rng(90)
    frame, gap = _source(rng, rng.uniform(0.5, 1.5, REPLICATES))
    gaps = source_strength_gaps(frame)
    assert list(gaps.columns) == list(TRANSFER)
    assert list(gaps.index) == list(SOURCE_FRACTIONS)
    np.testing.assert_allclose(gaps.to_numpy(), gap.mean(axis=2).T, rtol=0, atol=1e-9)
    two = source_strength_gaps(frame[frame["method"] != "bn"])
    np.testing.assert_allclose(two.to_numpy(), gap.mean(axis=2).T, rtol=0, atol=1e-9)
    assert source_strength_gaps(frame[frame["method"] != "finetune"]).empty


@pytest.mark.parametrize("sign", [1, -1])
def test_source_strength_claim_is_the_slope_of_the_gap(sign):
    """The notebook-09 row (beyond the paper): each replicate's slope of the gap parallel -
    finetune, mean over the targets, against log2(source fraction), no margin; the row shows the
    mean gap at each fraction ("fraction: gap", ascending); the verdict follows the slope's sign
    and the claims table carries the row."""
    rng = np.random.default_rng(100 + sign)
    slopes = sign * rng.uniform(1.0, 2.0, REPLICATES)
    frame, gap = _source(rng, slopes)
    claim, paper, test, ours, diffs = source_strength_claim(frame)
    assert len(diffs) == 1
    mean, low, high = _t_interval(slopes)
    assert (diffs[0].mean, diffs[0].low, diffs[0].high, diffs[0].n) == pytest.approx((mean, low, high, REPLICATES))
    parts = ours.split(" -> ")
    assert len(parts) == len(SOURCE_FRACTIONS)
    for part, f, g in zip(parts, SOURCE_FRACTIONS, gap.mean(axis=(0, 2))):
        m = re.fullmatch(rf"([0-9.]+): ({NUM})", part)
        assert m and float(m[1]) == f and abs(float(m[2]) - g) <= 0.0051, ours
    row = _row(_table(_results(source_strength=frame)), "source_strength")
    assert (row["claim"], row["paper"], row["test"], row["this run"]) == (claim, paper, test, ours)
    _assert_statistics(row, [slopes], margin=False)
    assert row["verdict"] == _verdict(sign)


def test_source_strength_claim_needs_two_fractions_and_both_methods():
    """The slope needs two source fractions with parallel and finetune runs: two fractions of just
    those two methods give the row, one fraction, no finetuning or no runs give none."""
    rng = np.random.default_rng(110)
    frame, _ = _source(rng, rng.uniform(1.0, 2.0, REPLICATES), fractions=(0.25, 1.0), methods=("finetune", "parallel"))
    row = source_strength_claim(frame)
    assert row is not None and row[4][0].n == REPLICATES
    assert source_strength_claim(frame[frame["source_fraction"] == 1.0]) is None
    assert source_strength_claim(frame[frame["method"] == "parallel"]) is None
    assert source_strength_claim(frame.iloc[:0]) is None


# ---------------------------------------------------------------- wording (approval file)

def _all_rows() -> pd.DataFrame:
    """A claims table holding every row of this file's claims, and only those (Table 1's frame
    holds the parallel row alone)."""
    rng = np.random.default_rng(0)
    width, _, _ = _width_dropout(rng, rng.uniform(1.0, 2.0, REPLICATES), gain_widest=2.0, gain_narrowest=-1.0)
    transfer, _, _ = _transfer(rng, scarce=3.0, large_wins=True)
    classes, _ = _classes(rng, rng.uniform(1.0, 2.0, REPLICATES))
    source, _ = _source(rng, rng.uniform(1.0, 2.0, REPLICATES))
    long = pd.DataFrame([{"model": PAR, "domain": d, "replicate": r, "accuracy": 70.0 + r + j}
                         for r in range(REPLICATES) for j, d in enumerate(TARGETS)])
    uniform = long.assign(model="uniform decay", accuracy=long["accuracy"] - 1.0)
    return _table(_results(uniform_decay=uniform, width_dropout=width, transfer=transfer, classes=classes,
                           source_strength=source), long)


def test_claims_wording_is_approved():
    """The titles, the paper's quotes and the tests of these claims, in the table's order, are
    those approved in tests/data/claims_trends_wording.csv (wording only: the numbers and
    verdicts are the property tests above). Regenerate after a deliberate change (module
    docstring)."""
    with WORDING.open(encoding="utf-8") as f:
        approved = [(r["claim"], r["paper"], r["test"]) for r in csv.DictReader(f)]
    table = _all_rows()
    assert list(zip(table["claim"], table["paper"], table["test"])) == approved


if __name__ == "__main__":  # regenerate the approval file (module docstring)
    keys = ["uniform_decay", "dropout", "wider", "transfer_scarce", "transfer_full", "classes", "source_strength"]
    rows = _all_rows()
    assert len(rows) == len(keys)
    with WORDING.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "claim", "paper", "test"])
        writer.writerows([k, r["claim"], r["paper"], r["test"]] for k, (_, r) in zip(keys, rows.iterrows()))
    print(f"wrote {WORDING}")
