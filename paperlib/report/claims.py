"""The claims table: each claim of the paper, what it says in numbers, what this run shows, the
statistic that tests it with its interval over the replicates, the margin of equivalence where
one is judged, and a four-valued verdict (verdicts.py), from a criterion fixed in the code before
the run; and the family line that says how many claims were judged and what chance alone gives.

Every statistic is computed within each replicate, then judged over the replicates: for a claim
about a mean over the Table 1 domains, the mean over the domains of the paired difference; for a
trend (wider networks, more classes, more source images), the slope against log2 of the factor,
with every step's mean shown beside it. Table 1's claims read `long` (model, domain, replicate,
accuracy: `table1.table1_long`, or the server's test table, one replicate); the others read the
frames of `SeriesResults`.
"""

from __future__ import annotations

import pandas as pd

from paperlib.report.pareto import lora_claim
from paperlib.report.table1 import SeriesResults, table1_long, with_replicate
from paperlib.report.verdicts import (
    INTERVAL_LABEL,
    MARGIN,
    UNIT,
    UNRESOLVED,
    Difference,
    combined,
    compare,
    family_line,
    replicate_interval,
    slope_per_replicate,
)
from paperlib.series.plans import DISTILLED_ROW

SMOKE_VERDICT = "not tested (smoke: numbers mean nothing)"
# "this run": Table 1's means (over the ten domains, as the paper's); "difference": the mean over
# the replicates of each replicate's statistic (over the targets: ImNet is each replicate's one
# network, the same in every row)
COLUMNS = ["claim", "paper", "test", "this run", "difference", INTERVAL_LABEL, "margin", "verdict"]
PRIMARY = "Parallel adapters beat finetuning with 2x instead of 10x the parameters"


class _Table:
    """The rows being written, and the shorthand of Table 1's paired differences."""

    def __init__(self, long: pd.DataFrame, ours: pd.DataFrame, profile: str | None):
        self.long, self.profile, self.rows = long, profile, []
        self.models = set(long["model"]) if len(long) else set()
        self.shown = dict(zip(ours["model"], ours["mean"]))  # Table 1's mean, ImNet included, as the paper's

    def have(self, *models: str) -> bool:
        return all(m in self.models and self.long.loc[self.long["model"] == m, "accuracy"].notna().any()
                   for m in models)

    def mean(self, model: str) -> float:
        """The row's mean as Table 1 shows it (over the ten domains), else over the targets."""
        if model in self.shown and pd.notna(self.shown[model]):
            return float(self.shown[model])
        return float(self.long.loc[self.long["model"] == model, "accuracy"].mean())

    def rows_diff(self, a: str, b: str, *, side: int = 1, margin: float | None = MARGIN) -> Difference:
        """a - b over the Table 1 domains, per replicate."""
        return compare(self.long, "model", a, b, side=side, margin=margin)

    def add(self, claim: str, paper: str, test: str, ours: str, diffs: list[Difference]) -> None:
        if not diffs or any(d.n == 0 for d in diffs):
            verdict = "n/a"  # a compared number is unknown (an unlabelled split)
        else:
            verdict = combined(diffs)
            if verdict == UNRESOLVED and all(d.n == 1 for d in diffs):
                verdict = f"{UNRESOLVED} (one {UNIT})"
        if self.profile == "smoke":
            verdict = SMOKE_VERDICT
        self.rows.append({"claim": claim, "paper": paper, "test": test, "this run": ours,
                          "difference": "; ".join(f"{d.mean:+.2f}" for d in diffs),
                          INTERVAL_LABEL: "; ".join(d.interval_text() for d in diffs),
                          "margin": "; ".join(filter(None, (d.margin_text() for d in diffs))),
                          "verdict": verdict})


def claims(ours: pd.DataFrame, results: SeriesResults, *, profile: str | None = None,
           long: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each claim of the paper (module docstring). `ours`: Table 1 (`table1.table1`, or the
    server's test table) for the numbers shown; `long`: its per-replicate accuracies (default:
    from `results`). At the smoke profile (a few steps on a few images: a code-path check) every
    verdict is SMOKE_VERDICT; the numbers and intervals are still shown."""
    t = _Table(table1_long(results) if long is None else long, ours, profile)
    score = dict(zip(ours["model"], ours["S"]))
    par, ft, ser = "Parallel Res. adapt.", "Finetuning", "Series Res. adapt."

    if t.have(par, ft):
        t.add(PRIMARY, "78.07 vs 76.88 mean", "mean accuracy parallel > finetuning",
              f"{t.mean(par):.2f} vs {t.mean(ft):.2f}", [t.rows_diff(par, ft)])
    if t.have(par, ser):
        t.add("Parallel adapters beat series adapters", "+0.9 mean, +253 S", "mean accuracy parallel > series",
              f"{t.mean(par) - t.mean(ser):+.2f} mean, {score.get(par, float('nan')) - score.get(ser, float('nan')):+.0f} S",
              [t.rows_diff(par, ser)])
    if t.have(ser, "Series (a posteriori)"):
        t.add("Series adapters must be in the network at pretraining", "-1.73 points when added a posteriori",
              "a posteriori < pretrained with them", f"{t.mean('Series (a posteriori)') - t.mean(ser):+.2f} points",
              [t.rows_diff("Series (a posteriori)", ser, side=-1)])
    stages = ["Parallel (early)", "Parallel (mid)", "Parallel (late)"]
    if t.have(par, *stages):
        t.add("Adapting all three stages beats adapting one", "all 78.07 > late 77.40 > mid 76.40 > early 75.32",
              "all > each single stage", ", ".join(f"{r.split('(')[1][:-1]} {t.mean(r):.2f}" for r in stages)
              + f"; all {t.mean(par):.2f}", [t.rows_diff(par, r) for r in stages])
        t.add("Of the single stages, the late one matters most", "late is the best single stage",
              "late > early and late > mid", f"best: {max(stages, key=t.mean)}",
              [t.rows_diff("Parallel (late)", r) for r in stages[:2]])
    if t.have(par, "Parallel (half)"):
        t.add("Adapting every conv beats adapting half of them", "-0.67 mean (and -351 S) for half", "half < all",
              f"{t.mean('Parallel (half)') - t.mean(par):+.2f} points", [t.rows_diff("Parallel (half)", par, side=-1)])
    if t.have(par, "Parallel SVD"):
        t.add("Joint SVD keeps the accuracy with half the adapter parameters", "+0.29 mean at 1.5x",
              f"SVD level with parallel: the interval of SVD - parallel within ±{MARGIN:g}",
              f"{t.mean('Parallel SVD') - t.mean(par):+.2f} points", [t.rows_diff("Parallel SVD", par, side=0)])
    _regularization(t, results, par)
    _figure4(t, results)
    if (row := lora_claim(t.long, ours)) is not None:  # LoRA-conv (peft) at equal budget (pareto.py)
        t.add(*row)
    if t.have(DISTILLED_ROW, ft):
        t.add("Distilled parallel adapters at 2x match finetuning at 10x (beyond the paper)",
              "not in the paper (distillation: Li, Liu and Bilen 2021)",
              f"distilled level with finetuning: the interval within ±{MARGIN:g}",
              f"{t.mean(DISTILLED_ROW):.2f} vs {t.mean(ft):.2f}; parallel {t.mean(par):.2f}" if t.have(par)
              else f"{t.mean(DISTILLED_ROW):.2f} vs {t.mean(ft):.2f}", [t.rows_diff(DISTILLED_ROW, ft, side=0)])
    if (row := source_strength_claim(results.source_strength)) is not None:
        t.add(*row)
    return pd.DataFrame(t.rows, columns=COLUMNS)


def family(table: pd.DataFrame) -> str:
    """The claims table's family line (verdicts.family_line)."""
    return family_line(list(table["verdict"]) if len(table) else [], primary=f'"{PRIMARY}"')


def _steps(means: pd.Series, digits: int = 1) -> str:
    """A trend's means at each step, and the sign of each step."""
    values = list(means.items())
    text = " -> ".join(f"{v:.{digits}f}" for _, v in values)
    signs = "".join("+" if b > a else "-" if b < a else "=" for (_, a), (_, b) in zip(values, values[1:]))
    return f"{text} (steps {signs})"


def _regularization(t: _Table, results: SeriesResults, par: str) -> None:
    ud = with_replicate(results.uniform_decay)
    if len(ud) and t.have(par):
        both = pd.concat([t.long[t.long["model"] == par],
                          ud.assign(model="uniform")[["model", "domain", UNIT, "accuracy"]]])
        d = compare(both, "model", par, "uniform", margin=MARGIN)
        t.add("Per-domain weight decay (larger for small sets) helps", "used for every adapter result",
              "mean with per-domain decay > one decay for all", f"{d.mean:+.2f} points", [d])
    wd = with_replicate(results.width_dropout)
    if not len(wd):
        return
    widest, narrowest = wd["width_factor"].max(), wd["width_factor"].min()
    gains = {}
    for width in (widest, narrowest):
        at = wd[wd["width_factor"] == width].pivot_table(index=[UNIT, "subset"], columns="dropout", values="accuracy")
        if {True, False} <= set(at.columns):
            gains[width] = (at[True] - at[False]).rename("gain").reset_index()
    if len(gains) == 2 and widest != narrowest:
        both = pd.concat([gains[widest].assign(width="widest"), gains[narrowest].assign(width="narrowest")])
        over = compare(both, "width", "widest", "narrowest", within=("subset",), value="gain", margin=MARGIN)
        positive = replicate_interval(gains[widest].groupby(UNIT)["gain"].mean().to_numpy(), margin=MARGIN)
        t.add("Dropout helps the adapters of a wider pretrained network", "effective only at 2.5x width (Fig. 4a)",
              "dropout gain at the widest > at the narrowest, and > 0 (mean over full and few images)",
              f"gain {gains[narrowest]['gain'].mean():+.2f} at the narrowest, {gains[widest]['gain'].mean():+.2f} at "
              "the widest", [over, positive])
    full = wd[(wd["subset"] == "full") & ~wd["dropout"].astype(bool)]
    if full["width_factor"].nunique() >= 2:
        means = full.groupby("width_factor")["accuracy"].mean()
        d = replicate_interval(slope_per_replicate(full, "width_factor").to_numpy())
        t.add("A wider pretrained network helps", "accuracy grows from 0.5x to 2.5x (Fig. 4a)",
              "slope of accuracy against log2(width) > 0 (no dropout, full data; points per doubling)",
              _steps(means, 2), [d])


def _figure4(t: _Table, results: SeriesResults) -> None:
    tr = with_replicate(results.transfer)
    if len(tr):
        low = tr[tr["fraction"] == tr["fraction"].min()]
        if {"parallel", "finetune"} <= set(low["method"]):
            d = compare(low, "method", "parallel", "finetune", margin=MARGIN)
            means = low.groupby("method")["accuracy"].mean()
            t.add("Adapters beat finetuning when data is scarce (transfer)", "Fig. 4c-e, small fractions",
                  "parallel > finetune at the smallest fraction (mean over the three domains)",
                  f"{means['parallel']:.2f} vs {means['finetune']:.2f}", [d])
        full = tr[tr["fraction"] == tr["fraction"].max()]
        if {"parallel", "finetune"} <= set(full["method"]):
            order = list(tr["domain"].drop_duplicates())  # small, medium, large
            diffs = [compare(full[full["domain"] == d], "method", *(("finetune", "parallel") if d == order[-1]
                                                                   else ("parallel", "finetune")), within=(),
                             margin=MARGIN) for d in order]
            means = full.groupby(["domain", "method"])["accuracy"].mean()
            t.add("Finetuning wins only on a large dataset with all its data",
                  "Places: 51.13 vs 47.2; adapters ahead on UCF101 and CIFAR-100",
                  "with all the data, finetune > parallel on the large domain, parallel > finetune on the others",
                  "; ".join(f"{d}: {means[d, 'finetune']:.2f} vs {means[d, 'parallel']:.2f}" for d in order), diffs)
    cl = with_replicate(results.classes)
    if len(cl) and cl["class_fraction"].nunique() >= 2:
        means = cl.groupby("class_fraction")["accuracy"].mean().sort_index()
        t.add("More pretraining classes give better transfer", "accuracy decreases steadily with fewer classes (Fig. 4b)",
              "slope of accuracy against log2(classes) > 0 (points per doubling)", _steps(means),
              [replicate_interval(slope_per_replicate(cl, "class_fraction").to_numpy())])


def source_strength_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Notebook 09: parallel minus finetuning accuracy per source fraction (rows) and target
    (columns), averaged over the replicates, from rows with source_fraction, domain, method, accuracy."""
    wide = frame.pivot_table(index=["source_fraction", "domain"], columns="method", values="accuracy")
    if not {"parallel", "finetune"} <= set(wide.columns):
        return pd.DataFrame()
    gap = (wide["parallel"] - wide["finetune"]).unstack("domain")
    return gap[list(frame["domain"].drop_duplicates())]


def source_strength_claim(frame: pd.DataFrame) -> tuple[str, str, str, str, list[Difference]] | None:
    """The claims-table row of notebook 09 (beyond the paper; criterion fixed before any result):
    the gap parallel - finetuning grows with the source images: per replicate, the slope of the
    gap (mean over the targets) against log2 of the source fraction, above zero."""
    gaps = source_strength_gaps(frame) if len(frame) else pd.DataFrame()
    if len(gaps) < 2:
        return None
    wide = with_replicate(frame).pivot_table(index=["source_fraction", "domain", UNIT], columns="method",
                                             values="accuracy")
    gap = (wide["parallel"] - wide["finetune"]).rename("accuracy").reset_index()
    slope = replicate_interval(slope_per_replicate(gap, "source_fraction", within=("domain",)).to_numpy())
    mean = gaps.mean(axis=1).sort_index()
    return ("Adapters catch up with finetuning as the source grows (beyond the paper)",
            "the paper's source is ImageNet (1.28M images); it does not vary it",
            "slope of the gap parallel - finetuning (mean over the three targets) against log2(source images) > 0",
            " -> ".join(f"{f:g}: {g:+.2f}" for f, g in mean.items()), [slope])


__all__ = ["COLUMNS", "PRIMARY", "SMOKE_VERDICT", "claims", "family", "source_strength_claim",
           "source_strength_gaps"]
