"""Four-valued verdicts with the replicate as the unit: a claim's statistic, its interval over
the replicates, and what the interval says.

The unit. A replicate is the whole pipeline once more with its own seed (series.study.Study): its
source networks and every adaptation from them. Everything a replicate trains shares that
replicate's sources and seed, so the (replicate, domain) cells of one replicate are not
independent; the replicates are. Each claim's statistic is computed within each replicate (for a
claim about a mean over domains: the mean over its domains of the paired difference; for a trend:
a slope), and the interval is Student's t over the R replicates, with R - 1 degrees of freedom
(`scipy.stats.ttest_1samp`). Not a bootstrap: at R = 3 a bootstrap has ten distinct resamples
and its percentile interval cannot be wider than the observed range, so it resolves what three
replicates cannot; the t interval widens with few replicates (t = 2.92 at two degrees of freedom)
and is exact when the replicate statistics spread normally (a mean over nine domains is close to
that). A claim about nine fixed domains needs no domain sampling: the domains are the claim's.

The rule, fixed here before any run, on the two-sided interval at `LEVEL` (90%), oriented so
that the claim's direction is positive:

- "reproduced": the interval lies above zero (a one-sided test at 5%);
- "not reproduced": it lies below zero; for a claim of equality ("level with"), it lies wholly
  outside the margin, on either side;
- "equivalent": it lies within (-margin, +margin): two one-sided tests at 5% each (TOST), so a
  difference smaller than the margin is shown, not assumed from an interval that holds zero;
- "unresolved": anything else (the replicates cannot tell), or fewer than two replicates.

A directional claim ("a beats b") is judged reproduced or not first, then equivalent; a claim of
equality (`side` 0: "keeps the accuracy", "matches") is reproduced only as "equivalent".
`MARGIN`: half a point of accuracy, the smallest difference the paper's Table 1 reads as an effect
(adapting half the convolutions: -0.67 points) rounded down, so that "equivalent" never hides an
effect of the size the paper reports.

A claim made of several comparisons ("all stages beat each single one") is reproduced when each
is, not reproduced when one is not, equivalent when each is equivalent, unresolved otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.90
MARGIN = 0.5
REPRODUCED, NOT_REPRODUCED, EQUIVALENT, UNRESOLVED = "reproduced", "not reproduced", "equivalent", "unresolved"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, EQUIVALENT, UNRESOLVED)
UNIT = "replicate"


def level_label() -> str:
    """How the interval's level is written in every table and text: "90%"."""
    return f"{LEVEL:.0%}"


INTERVAL_LABEL = f"{level_label()} interval"  # the claims table's column


@dataclass(frozen=True)
class Difference:
    """A claim's statistic over the replicates: its mean, its interval at `LEVEL`, the number of
    replicates `n`, the claim's direction `side` (+1 above zero, -1 below, 0 equal within
    `margin`) and the margin of equivalence (None: none is judged)."""

    mean: float
    low: float
    high: float
    n: int
    side: int = 1
    margin: float | None = None

    @property
    def verdict(self) -> str:
        if self.n < 2 or math.isnan(self.low) or math.isnan(self.high):
            return UNRESOLVED
        low, high = (-self.high, -self.low) if self.side < 0 else (self.low, self.high)
        m = self.margin
        if self.side != 0:
            if low > 0:
                return REPRODUCED
            if high < 0:
                return NOT_REPRODUCED
        if m is not None and -m < low and high < m:
            return EQUIVALENT
        if self.side == 0 and m is not None and (low >= m or high <= -m):
            return NOT_REPRODUCED
        return UNRESOLVED

    def interval_text(self) -> str:
        if self.n == 0:
            return "no runs"
        if self.n < 2:
            return f"one {UNIT} (n = 1)"
        return f"[{self.low:+.2f}, {self.high:+.2f}] (n = {self.n})"

    def margin_text(self) -> str:
        return "" if self.margin is None else f"±{self.margin:g}"


def replicate_interval(values: Sequence[float], *, side: int = 1, margin: float | None = None) -> Difference:
    """The mean of one statistic per replicate (NaN: that replicate lacks it, left out) with its
    t interval over the replicates (module docstring)."""
    d = np.asarray(values, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    if n == 0:
        return Difference(float("nan"), float("nan"), float("nan"), 0, side, margin)
    mean = float(d.mean())
    if n == 1:
        return Difference(mean, float("nan"), float("nan"), 1, side, margin)
    if np.allclose(d, d[0], rtol=0, atol=1e-12):  # no spread: the interval is the point
        return Difference(mean, mean, mean, n, side, margin)
    low, high = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=LEVEL)
    return Difference(mean, float(low), float(high), n, side, margin)


def per_replicate_difference(frame: pd.DataFrame, column: str, a: object, b: object, *,
                             within: Sequence[str] = ("domain",), value: str = "accuracy") -> pd.Series:
    """For each replicate, the mean over `within` (the claim's domains, say) of the paired
    difference a - b of the rows where `column` is a and b; cells that one side lacks are left
    out, several rows of one cell averaged."""
    keys = [UNIT, *within]
    sides = [frame[frame[column] == x].groupby(keys)[value].mean() for x in (a, b)]
    both = pd.concat(sides, axis=1, keys=["a", "b"], join="inner").dropna()
    return (both["a"] - both["b"]).groupby(level=UNIT).mean()


def compare(frame: pd.DataFrame, column: str, a: object, b: object, *, within: Sequence[str] = ("domain",),
            value: str = "accuracy", side: int = 1, margin: float | None = MARGIN) -> Difference:
    """a - b per replicate (`per_replicate_difference`), with its interval over the replicates."""
    return replicate_interval(per_replicate_difference(frame, column, a, b, within=within, value=value).to_numpy(),
                              side=side, margin=margin)


def slope_per_replicate(frame: pd.DataFrame, x: str, *, value: str = "accuracy",
                        within: Sequence[str] = ()) -> pd.Series:
    """For each replicate, the least-squares slope of `value` against log2 of `x` (points per
    doubling), after averaging over `within` at each x: a trend as one number per replicate."""
    cells = frame.groupby([UNIT, x])[value].mean().reset_index() if not within else \
        frame.groupby([UNIT, *within, x])[value].mean().groupby([UNIT, x]).mean().reset_index()

    def slope(group: pd.DataFrame) -> float:
        if group[x].nunique() < 2:
            return float("nan")
        return float(np.polyfit(np.log2(group[x].astype(float)), group[value].astype(float), 1)[0])

    return pd.Series({r: slope(g) for r, g in cells.groupby(UNIT)}, dtype=float)


def combined(differences: Iterable[Difference]) -> str:
    """The verdict of a claim made of several comparisons (module docstring)."""
    verdicts = [d.verdict for d in differences]
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    if verdicts and all(v == EQUIVALENT for v in verdicts):
        return EQUIVALENT
    return UNRESOLVED


def family_line(verdicts: Sequence[str], *, primary: str) -> str:
    """What the claims table is as a family: how many claims were judged, at what level, which is
    primary, and how many false calls to expect if no effect were real (each directional claim
    is falsely called reproduced or not reproduced with probability 1 - LEVEL at most)."""
    judged = [v for v in verdicts if v in VERDICTS]
    n = len(judged)
    counts = ", ".join(f"{judged.count(v)} {v}" for v in VERDICTS if judged.count(v))
    return (f"{n} claims judged, each on a {level_label()} interval over the {UNIT}s "
            f"(a one-sided test at {(1 - LEVEL) / 2:.0%} each way){': ' + counts if counts else ''}. Primary: "
            f"{primary}. If no effect were real, at most about {(1 - LEVEL) * n:.1f} of them would still be called "
            "reproduced or not reproduced by chance.")


__all__ = ["EQUIVALENT", "INTERVAL_LABEL", "LEVEL", "MARGIN", "NOT_REPRODUCED", "REPRODUCED", "UNIT", "UNRESOLVED", "VERDICTS",
           "Difference", "combined", "compare", "family_line", "level_label", "per_replicate_difference",
           "replicate_interval", "slope_per_replicate"]
