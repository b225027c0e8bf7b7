"""The verdict rule (report/verdicts.py): the replicate is the unit, four verdicts, margins; tested
by its error rates on simulated studies, not by a count of pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib.data.domains import TARGETS
from paperlib.report.claims import COLUMNS, PRIMARY, claims, family
from paperlib.report.table1 import SeriesResults
from paperlib.report.verdicts import (
    EQUIVALENT,
    INTERVAL_LABEL,
    LEVEL,
    MARGIN,
    NOT_REPRODUCED,
    REPRODUCED,
    UNRESOLVED,
    Difference,
    combined,
    compare,
    replicate_interval,
    slope_per_replicate,
)

ROWS = ("a", "b")


def _cells(rng: np.random.Generator, n: int, *, effect: float, replicates: int = 3, shared_sd: float = 1.0,
           cell_sd: float = 2.9, domains: int = 9) -> np.ndarray:
    """n simulated studies of two rows, accuracy[study, replicate, row, domain]: each domain its
    own level (heterogeneity), each replicate a shift shared by every domain it trains (its source
    network and seed), each cell its noise; row 0 is `effect` above row 1."""
    level = rng.normal(60, 15, (n, 1, 1, domains))
    shift = rng.normal(0, shared_sd, (n, replicates, 2, 1))
    noise = rng.normal(0, cell_sd, (n, replicates, 2, domains))
    return level + shift + noise + np.array([effect, 0.0]).reshape(1, 1, 2, 1)


def _frame(cells: np.ndarray) -> pd.DataFrame:
    """One simulated study (cells[replicate, row, domain]) as the claims' long frame."""
    return pd.DataFrame([{"model": ROWS[k], "replicate": r, "domain": f"d{i}", "accuracy": cells[r, k, i]}
                         for r in range(cells.shape[0]) for k in range(2) for i in range(cells.shape[2])])


def _verdicts(cells: np.ndarray, **rule) -> list[str]:
    """The rule on each simulated study: the replicate's statistic is its mean over the domains of
    the paired difference (what `compare` computes; checked on a frame below)."""
    per_replicate = (cells[:, :, 0] - cells[:, :, 1]).mean(axis=2)
    return [replicate_interval(values, **rule).verdict for values in per_replicate]


def _rates(verdicts: list[str]) -> dict[str, float]:
    return {v: verdicts.count(v) / len(verdicts) for v in (REPRODUCED, NOT_REPRODUCED, EQUIVALENT, UNRESOLVED)}


def test_under_no_effect_the_rule_resolves_at_most_the_nominal_rate():
    """Domain heterogeneity and a replicate effect shared across domains, no true difference:
    a directional claim is called reproduced or not reproduced at most 1 - LEVEL of the time
    (plus three Monte-Carlo standard errors). The (replicate, domain) cells as the unit do not
    hold it (about 23% in the same simulation)."""
    rng = np.random.default_rng(20261204)
    n, alpha = 4000, 1 - LEVEL
    cells = _cells(rng, n, effect=0.0)
    resolved = 1 - _rates(_verdicts(cells))[UNRESOLVED]
    assert resolved <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / n)
    differences = (cells[:, :, 0] - cells[:, :, 1]).reshape(n, -1)  # the rule this replaces: a t over the 27 cells
    low, high = stats.ttest_1samp(differences, 0, axis=1).confidence_interval(LEVEL)
    assert np.mean((low > 0) | (high < 0)) > alpha + 0.05


def test_a_clear_effect_is_resolved_either_way():
    rng = np.random.default_rng(1)
    up = _verdicts(_cells(rng, 500, effect=6.0, shared_sd=0.3))
    down = _verdicts(_cells(rng, 500, effect=-6.0, shared_sd=0.3))
    assert _rates(up)[REPRODUCED] > 0.9 and _rates(down)[NOT_REPRODUCED] > 0.9
    below = _verdicts(_cells(rng, 500, effect=6.0, shared_sd=0.3), side=-1)
    assert _rates(below)[NOT_REPRODUCED] > 0.9  # a claim that a is below b, when a is above


def test_a_true_tie_is_called_equivalent_when_the_replicates_are_precise_enough():
    rng = np.random.default_rng(2)
    precise = _verdicts(_cells(rng, 500, effect=0.0, replicates=5, shared_sd=0.05, cell_sd=0.5), side=0, margin=MARGIN)
    assert _rates(precise)[EQUIVALENT] > 0.9
    vague = _verdicts(_cells(rng, 500, effect=0.0), side=0, margin=MARGIN)
    assert _rates(vague)[EQUIVALENT] < 0.2  # an interval that merely holds zero is not "equivalent"
    # a difference just outside the margin is called equivalent at most 5% of the time (TOST)
    n = 4000
    edge = _verdicts(_cells(rng, n, effect=MARGIN, replicates=5, shared_sd=0.05, cell_sd=0.5), side=0, margin=MARGIN)
    assert _rates(edge)[EQUIVALENT] <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n)


@pytest.mark.parametrize("low, high, side, margin, verdict", [
    (1.0, 2.0, 1, MARGIN, REPRODUCED),
    (0.1, 0.3, 1, MARGIN, REPRODUCED),  # above zero, and within the margin: the claim's direction holds
    (-2.0, -1.0, 1, MARGIN, NOT_REPRODUCED),
    (-0.3, 0.4, 1, MARGIN, EQUIVALENT),
    (-0.3, 0.4, 1, None, UNRESOLVED),
    (-1.0, 2.0, 1, MARGIN, UNRESOLVED),
    (-2.0, -1.0, -1, MARGIN, REPRODUCED),
    (1.0, 2.0, -1, MARGIN, NOT_REPRODUCED),
    (-0.3, 0.4, 0, MARGIN, EQUIVALENT),
    (0.6, 2.0, 0, MARGIN, NOT_REPRODUCED),
    (-2.0, -0.6, 0, MARGIN, NOT_REPRODUCED),
    (0.2, 0.8, 0, MARGIN, UNRESOLVED),
])
def test_the_four_verdicts_on_constructed_intervals(low, high, side, margin, verdict):
    assert Difference((low + high) / 2, low, high, 3, side, margin).verdict == verdict


def test_the_interval_is_student_t_over_the_replicates():
    values = [1.0, 2.0, 4.0]
    d = replicate_interval(values)
    low, high = stats.t.interval(LEVEL, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert (d.n, d.mean) == (3, pytest.approx(7 / 3)) and (d.low, d.high) == (pytest.approx(low), pytest.approx(high))
    assert replicate_interval([2.0]).verdict == UNRESOLVED and replicate_interval([]).n == 0


def test_each_replicate_is_one_value_whatever_its_domains():
    """The statistic is the mean over a replicate's domains; rows are matched by (replicate, domain)."""
    rng = np.random.default_rng(3)
    cells = _cells(rng, 1, effect=1.0)[0]
    frame = _frame(cells)
    d = compare(frame.sample(frac=1.0, random_state=4), "model", "a", "b")
    assert d == replicate_interval((cells[:, 0] - cells[:, 1]).mean(axis=1), margin=MARGIN)
    wide = frame.pivot_table(index=["replicate", "domain"], columns="model", values="accuracy")
    per = (wide["a"] - wide["b"]).groupby(level="replicate").mean()
    assert d.n == 3 and d.mean == pytest.approx(per.mean())


def test_a_trend_is_one_slope_per_replicate():
    frame = pd.DataFrame([{"replicate": r, "x": x, "accuracy": 50 + (2 + r) * np.log2(x)}
                          for r in range(3) for x in (0.25, 0.5, 1.0)])
    assert list(slope_per_replicate(frame, "x")) == pytest.approx([2.0, 3.0, 4.0])


def test_a_claim_of_several_comparisons():
    win, loss = Difference(3, 2, 4, 3), Difference(-3, -4, -2, 3)
    tie, level = Difference(0, -1, 1, 3, margin=MARGIN), Difference(0, -0.2, 0.2, 3, margin=MARGIN)
    assert combined([win, win]) == REPRODUCED
    assert combined([win, tie]) == UNRESOLVED
    assert combined([win, tie, loss]) == NOT_REPRODUCED
    assert combined([level, level]) == EQUIVALENT


def _results(table1: pd.DataFrame) -> SeriesResults:
    empty = pd.DataFrame()
    return SeriesResults(pretrain=empty, table1=table1, a_posteriori=empty, uniform_decay=empty,
                         width_dropout=empty, transfer=empty, classes=empty)


@pytest.mark.parametrize("gap, verdict", [(2.0, REPRODUCED), (-2.0, NOT_REPRODUCED), (0.0, EQUIVALENT),
                                          (0.0, UNRESOLVED)])
def test_the_claims_table_shows_interval_margin_verdict_and_family(gap, verdict):
    rng = np.random.default_rng(5)
    noisy = verdict == UNRESOLVED
    rows = []
    for r in range(3):
        shift = 3.0 * (r - 1) if noisy else 0.0
        for i, d in enumerate(TARGETS):
            ft = 60.0 + i + rng.normal(0, 1.0)
            rows += [{"model": "Finetuning", "domain": d, "replicate": r, "accuracy": ft},
                     {"model": "Parallel Res. adapt.", "domain": d, "replicate": r,
                      "accuracy": ft + gap + shift + rng.normal(0, 0.05)}]
    frame = pd.DataFrame(rows)
    ours = frame.groupby("model", as_index=False)["accuracy"].mean().rename(columns={"accuracy": "mean"})
    ours["S"] = 0.0
    table = claims(ours, _results(frame), profile="mini")
    assert list(table.columns) == COLUMNS and INTERVAL_LABEL == "90% interval"
    row = table[table["claim"] == PRIMARY].iloc[0]
    assert row["verdict"] == verdict
    assert row[INTERVAL_LABEL].startswith("[") and "(n = 3)" in row[INTERVAL_LABEL] and row["margin"] == f"±{MARGIN:g}"
    assert float(row["difference"]) == pytest.approx(gap, abs=0.3)
    line = family(table)
    assert line.startswith("1 claims judged, each on a 90% interval") and PRIMARY in line and "at most about 0.1 of them" in line
    smoke = claims(ours, _results(frame), profile="smoke")
    assert set(smoke["verdict"]) == {"not tested (smoke: numbers mean nothing)"}
    assert list(smoke[INTERVAL_LABEL]) == list(table[INTERVAL_LABEL])  # the numbers are still shown
    assert family(smoke).startswith("0 claims judged")
