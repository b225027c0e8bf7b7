"""How much of what the tables show is noise, measured rather than guessed (beyond the paper): the
rows adapted from a second seed of the source network, and the float32 twins of rows the series
trained under bf16 (notebook 09 trains both, notebook 08 and the README show them)."""

from __future__ import annotations

import pandas as pd

from paperlib.data.domains import SOURCE
from paperlib.report.table1 import SeriesResults, table1_long, table1_long_of
from paperlib.report.verdicts import paired_on


def _row_spread(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Per model: the mean over the targets for each seed, then its mean and spread over the seeds."""
    per_seed = frame[frame["domain"].ne(SOURCE)].groupby(["model", "seed"], sort=False)["accuracy"].mean()
    stats = per_seed.groupby("model", sort=False).agg(["mean", "std"])
    return stats.rename(columns={"mean": label, "std": f"sd {label}"})


def _with_rows_of(results: SeriesResults, twins: pd.DataFrame) -> pd.DataFrame:
    """The series' own Table 1 runs of the models in `twins`."""
    ours = table1_long(results)
    return ours[ours["model"].isin(set(twins["model"]))]


def source_seed_table(results: SeriesResults) -> pd.DataFrame:
    """The rows adapted from the source network's second seed beside the same rows from the
    first (each the mean over the targets; mean and standard deviation over the adaptation
    seeds), the two sources' difference and its 90% interval paired by (adaptation seed, domain):
    whether the source's seed moves a row by more than its adaptations' spread."""
    columns = ["model", "source 0", "sd source 0", "source 1", "sd source 1", "1 - 0", "90% interval"]
    if not len(results.source_seed):
        return pd.DataFrame(columns=columns)
    second = table1_long_of(results.source_seed)
    first = _with_rows_of(results, second)
    out = pd.concat([_row_spread(first, "source 0"), _row_spread(second, "source 1")], axis=1).reset_index().round(2)
    both = pd.concat([first.assign(source=0), second.assign(source=1)])
    diffs = [paired_on(both[both["model"] == m], "source", 1, 0, keys=("seed", "domain")) for m in out["model"]]
    out["1 - 0"] = [round(d.mean, 2) for d in diffs]
    out["90% interval"] = [d.interval_text() for d in diffs]
    return out[columns]


def precision_table(results: SeriesResults) -> pd.DataFrame:
    """The float32 twins of the Finetuning and Parallel rows (and of their source network) beside
    the series' bf16 rows: each row's mean and spread over the seeds, and the bf16 - float32
    difference paired by (seed, domain) with its 90% interval (verdicts.py). The precision's
    effect is inside the seed noise when that interval contains zero."""
    columns = ["model", "bf16", "sd bf16", "float32", "sd float32", "bf16 - float32", "90% interval"]
    if not len(results.precision):
        return pd.DataFrame(columns=columns)
    twins = table1_long_of(results.precision)
    ours = _with_rows_of(results, twins)
    out = pd.concat([_row_spread(ours, "bf16"), _row_spread(twins, "float32")], axis=1).reset_index().round(2)
    both = pd.concat([ours.assign(precision="bf16"), twins.assign(precision="float32")])
    diffs = [paired_on(both[both["model"] == m], "precision", "bf16", "float32", keys=("seed", "domain"))
             for m in out["model"]]
    out["bf16 - float32"] = [round(d.mean, 2) for d in diffs]
    out["90% interval"] = [d.interval_text() for d in diffs]
    return out[columns]


__all__ = ["precision_table", "source_seed_table"]
