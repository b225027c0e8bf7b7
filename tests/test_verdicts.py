"""The three-valued verdict rule (report.verdicts) on constructed cases, and the claims table that
uses it: a clear win, a clear loss and a tie with noise each get their verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib.data.domains import TARGETS
from paperlib.report.claims import COLUMNS, claims
from paperlib.report.table1 import SeriesResults
from paperlib.report.verdicts import (
    LEVEL,
    NOT_REPRODUCED,
    REPRODUCED,
    UNRESOLVED,
    combined,
    paired_difference,
    paired_on,
)



def test_a_clear_win_a_clear_loss_and_a_tie_with_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(70, 5, size=27)  # 3 seeds x 9 domains
    noise = rng.normal(0, 0.3, size=27)
    assert paired_difference(base + 2 + noise, base).verdict == REPRODUCED
    assert paired_difference(base - 2 + noise, base).verdict == NOT_REPRODUCED
    assert paired_difference(base + noise - noise.mean(), base).verdict == UNRESOLVED
    # the claim's side: "a < b" is reproduced by a clear loss of a
    assert paired_difference(base - 2 + noise, base, side=-1).verdict == REPRODUCED
    # a threshold: "within half a point of b, or better"
    assert paired_difference(base - 0.2 + 0.01 * noise, base, shift=0.5).verdict == REPRODUCED
    assert paired_difference(base - 1.0 + 0.01 * noise, base, shift=0.5).verdict == NOT_REPRODUCED


def test_the_interval_is_the_paired_t_interval():
    a, b = np.array([71.0, 72.5, 70.2]), np.array([70.0, 70.5, 70.4])
    d = paired_difference(a, b)
    diff = a - b
    half = stats.t.ppf(0.5 + LEVEL / 2, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
    assert (d.mean, d.n) == (pytest.approx(diff.mean()), 3)
    assert (d.low, d.high) == (pytest.approx(diff.mean() - half), pytest.approx(diff.mean() + half))
    # three seeds with one that disagrees: the wide t interval (t = 2.92) leaves it unresolved
    assert d.verdict == UNRESOLVED


def test_one_pair_or_none_cannot_resolve():
    assert paired_difference([75.0], [70.0]).verdict == UNRESOLVED
    assert paired_difference([75.0, float("nan")], [70.0, 71.0]).n == 1
    assert paired_difference([], []).n == 0
    exact = paired_difference([75.0, 76.0], [70.0, 71.0])  # no spread: the interval is the point
    assert (exact.low, exact.high, exact.verdict) == (5.0, 5.0, REPRODUCED)


def test_a_claim_of_several_comparisons():
    win = paired_difference([3.0, 3.1, 2.9], [0.0, 0.0, 0.0])
    loss = paired_difference([-3.0, -3.1, -2.9], [0.0, 0.0, 0.0])
    tie = paired_difference([0.5, -0.4, 0.1], [0.0, 0.0, 0.0])
    assert combined([win, win]) == REPRODUCED
    assert combined([win, tie]) == UNRESOLVED
    assert combined([win, tie, loss]) == NOT_REPRODUCED


def test_pairs_are_matched_by_seed_and_domain():
    frame = pd.DataFrame([{"model": m, "seed": s, "domain": d, "accuracy": 50.0 + (3 if m == "a" else 0) + s + i}
                          for m in ("a", "b") for s in range(3) for i, d in enumerate(("x", "y"))])
    d = paired_on(frame.sample(frac=1.0, random_state=1), "model", "a", "b", keys=("seed", "domain"))
    assert (d.mean, d.low, d.high, d.n) == (3.0, 3.0, 3.0, 6)  # shuffled rows, the same pairs


def _results(table1: pd.DataFrame) -> SeriesResults:
    empty = pd.DataFrame()
    return SeriesResults(pretrain=empty, table1=table1, a_posteriori=empty, uniform_decay=empty,
                         width_dropout=empty, transfer=empty, classes=empty)


@pytest.mark.parametrize("gap, verdict", [(2.0, REPRODUCED), (-2.0, NOT_REPRODUCED), (0.0, UNRESOLVED)])
def test_the_claims_table_shows_the_difference_its_interval_and_the_verdict(gap, verdict):
    rng, rows = np.random.default_rng(1), []
    for seed in range(3):
        for i, d in enumerate(TARGETS):
            ft = 60.0 + i + rng.normal(0, 1.0)
            rows += [{"model": "Finetuning", "domain": d, "seed": seed, "accuracy": ft},
                     {"model": "Parallel Res. adapt.", "domain": d, "seed": seed,
                      "accuracy": ft + gap + rng.normal(0, 0.2) + (1.5 * (seed - 1) if gap == 0 else 0)}]
    frame = pd.DataFrame(rows)
    ours = frame.groupby("model", as_index=False)["accuracy"].mean().rename(columns={"accuracy": "mean"})
    ours["S"] = 0.0
    table = claims(ours, _results(frame), profile="mini")
    assert list(table.columns) == COLUMNS
    row = table[table["claim"].str.startswith("Parallel adapters beat finetuning")].iloc[0]
    assert row["verdict"] == verdict
    assert row["90% interval"].startswith("[") and "(n = 27)" in row["90% interval"]
    assert float(row["difference"]) == pytest.approx(gap, abs=0.3)
    smoke = claims(ours, _results(frame), profile="smoke")
    assert set(smoke["verdict"]) == {"not tested (smoke: numbers mean nothing)"}
    assert list(smoke["90% interval"]) == list(table["90% interval"])  # the numbers are still shown
