"""How much of what the tables show is noise, measured rather than guessed (beyond the paper): the
rows adapted from a second seed of the source network, and the twins of rows the series trained
in the other precision (notebook 09 trains both, notebook 08 and the README show them)."""

from __future__ import annotations

import pandas as pd

from paperlib.data.domains import SOURCE
from paperlib.report.table1 import SeriesResults, table1_long, table1_long_of
from paperlib.report.verdicts import INTERVAL_LABEL, paired_on


def _row_spread(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Per model: the mean over the targets for each seed, then its mean and spread over the seeds."""
    per_seed = frame[frame["domain"].ne(SOURCE)].groupby(["model", "seed"], sort=False)["accuracy"].mean()
    stats = per_seed.groupby("model", sort=False).agg(["mean", "std"])
    return stats.rename(columns={"mean": label, "std": f"sd {label}"})


def _with_rows_of(results: SeriesResults, twins: pd.DataFrame) -> pd.DataFrame:
    """The series' own Table 1 runs of the models in `twins`."""
    ours = table1_long(results)
    return ours[ours["model"].isin(set(twins["model"]))]


def _beside_the_series(results: SeriesResults, frame: pd.DataFrame, labels: tuple[str, str], difference: str, *,
                       frame_first: bool) -> pd.DataFrame:
    """The runs of `frame` beside the series' own Table 1 runs of the same models: each side's mean
    and spread over the seeds (columns `labels`, `frame`'s first if `frame_first`), and the
    difference labels[0] - labels[1] paired by (seed, domain) with its 90% interval."""
    columns = ["model", labels[0], f"sd {labels[0]}", labels[1], f"sd {labels[1]}", difference, INTERVAL_LABEL]
    if not len(frame):
        return pd.DataFrame(columns=columns)
    twins = table1_long_of(frame)
    ours = _with_rows_of(results, twins)
    a, b = (twins, ours) if frame_first else (ours, twins)
    out = pd.concat([_row_spread(a, labels[0]), _row_spread(b, labels[1])], axis=1).reset_index().round(2)
    both = pd.concat([a.assign(side=0), b.assign(side=1)])
    diffs = [paired_on(both[both["model"] == m], "side", 0, 1, keys=("seed", "domain")) for m in out["model"]]
    out[difference] = [round(d.mean, 2) for d in diffs]
    out[INTERVAL_LABEL] = [d.interval_text() for d in diffs]
    return out[columns]


def source_seed_table(results: SeriesResults) -> pd.DataFrame:
    """The rows adapted from the source network's second seed beside the same rows from the
    first (each the mean over the targets; mean and standard deviation over the adaptation
    seeds), the two sources' difference and its 90% interval paired by (adaptation seed, domain):
    whether the source's seed moves a row by more than its adaptations' spread."""
    out = _beside_the_series(results, results.source_seed, ("source 1", "source 0"), "1 - 0", frame_first=True)
    return out[["model", "source 0", "sd source 0", "source 1", "sd source 1", "1 - 0", INTERVAL_LABEL]]


def precision_table(results: SeriesResults) -> pd.DataFrame:
    """The twins of the Finetuning and Parallel rows (and of their source network) in the other
    precision (notebook 09, `precision_plan`) beside the series' own rows: each row's mean and
    spread over the seeds in bf16 and in float32, and the bf16 - float32 difference paired by
    (seed, domain) with its 90% interval (verdicts.py). The precision's effect is inside the seed
    noise when that interval contains zero."""
    twins = results.precision
    twins_are_bf16 = bool(len(twins)) and set(twins["precision"]) == {"bf16"}
    return _beside_the_series(results, twins, ("bf16", "float32"), "bf16 - float32", frame_first=twins_are_bf16)


__all__ = ["precision_table", "source_seed_table"]
