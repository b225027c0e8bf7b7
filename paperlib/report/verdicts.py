"""Three-valued verdicts: a claim's difference with its interval, and what the interval says.

Each claim is tested by a difference (parallel minus finetuning, say) computed per seed, and per
domain as well where the claim is about a mean over domains: the pairs share everything but what
the claim compares (the same source network, data, seed and domain), so the noise that both sides
share cancels. The verdict rule, fixed here before any run:

- the 90% interval of the mean paired difference lies on the claim's side of zero: "reproduced";
- it lies on the other side: "not reproduced";
- it contains zero (or there is one pair: no interval): "unresolved", the runs cannot tell.

A claim made of several comparisons ("all stages beat each single one") is reproduced when each of
them is, not reproduced when one of them is not, unresolved otherwise.

The interval is the paired t interval (`scipy.stats.ttest_1samp` on the differences), not a
bootstrap over seeds: with the MiniDecathlon's three seeds a bootstrap has ten distinct resamples
and its percentile interval cannot be wider than the observed range of the mean, so it would
call a difference resolved that three runs cannot resolve; the t interval widens with few pairs
(t = 2.92 at two degrees of freedom). Its assumption, differences spread about normally, is the
weaker one at three pairs, and where the pairs run over domains (n = 9 x seeds) the interval is
about the claim over these domains. 90%: a two-sided 90% interval on the claim's side of zero
is a one-sided test at 5%.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.90
INTERVAL_LABEL = f"{LEVEL:.0%} interval"  # every table column and text that names the interval
REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "unresolved"


@dataclass(frozen=True)
class Difference:
    """The mean of paired differences, its interval at `LEVEL` and the number of pairs; `side`:
    +1 when the claim says the difference is above zero, -1 below."""

    mean: float
    low: float
    high: float
    n: int
    side: int = 1

    @property
    def verdict(self) -> str:
        if self.n < 2 or math.isnan(self.low) or math.isnan(self.high):
            return UNRESOLVED
        low, high = (self.low, self.high) if self.side > 0 else (-self.high, -self.low)
        return REPRODUCED if low > 0 else NOT_REPRODUCED if high < 0 else UNRESOLVED

    def interval_text(self) -> str:
        if self.n == 0:
            return "no pairs"
        if self.n < 2:
            return f"one pair (n = {self.n})"
        return f"[{self.low:+.2f}, {self.high:+.2f}] (n = {self.n})"


def paired_difference(a: Sequence[float], b: Sequence[float], *, side: int = 1, shift: float = 0.0) -> Difference:
    """The mean of a - b + `shift` over the pairs (a[i], b[i]) where both are known, with its
    paired t interval (module docstring). `shift` moves a threshold into zero: "within half a
    point of b" is a - b + 0.5 > 0."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = (x - y + shift)[~(np.isnan(x) | np.isnan(y))]
    n = len(d)
    if n == 0:
        return Difference(float("nan"), float("nan"), float("nan"), 0, side)
    mean = float(d.mean())
    if n == 1:
        return Difference(mean, float("nan"), float("nan"), 1, side)
    if np.allclose(d, d[0], rtol=0, atol=1e-12):  # no spread: the interval is the point
        return Difference(mean, mean, mean, n, side)
    low, high = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=LEVEL)
    return Difference(mean, float(low), float(high), n, side)


def paired_on(frame: pd.DataFrame, column: str, a: object, b: object, *, keys: Sequence[str],
              value: str = "accuracy", side: int = 1, shift: float = 0.0) -> Difference:
    """`paired_difference` of the rows where `column` is a and b, paired on `keys` (seed, and
    domain where the claim is about a mean over domains); several rows of one key are averaged."""
    sides = [frame[frame[column] == x].groupby(list(keys))[value].mean() for x in (a, b)]
    both = pd.concat(sides, axis=1, keys=["a", "b"], join="inner")
    return paired_difference(both["a"].to_numpy(), both["b"].to_numpy(), side=side, shift=shift)


def combined(differences: Iterable[Difference]) -> str:
    """The verdict of a claim made of several comparisons (module docstring)."""
    verdicts = [d.verdict for d in differences]
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else UNRESOLVED


__all__ = ["INTERVAL_LABEL", "LEVEL", "NOT_REPRODUCED", "REPRODUCED", "UNRESOLVED", "Difference", "combined", "paired_difference",
           "paired_on"]
