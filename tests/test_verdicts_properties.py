"""Properties of the verdict machinery (report/verdicts.py) against independent computations: the
t interval from scipy.stats.t written out, the slope from numpy.polyfit on log2 of the factor, the
family line's numbers from the level, and the texts from the numbers they are given."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib.report.verdicts import (
    EQUIVALENT,
    LEVEL,
    NOT_REPRODUCED,
    REPRODUCED,
    UNRESOLVED,
    VERDICTS,
    Difference,
    compare,
    family_line,
    per_replicate_difference,
    replicate_interval,
    slope_per_replicate,
)


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    """Student's t interval at LEVEL with R - 1 degrees of freedom, written out."""
    r = len(values)
    half = stats.t.ppf((1 + LEVEL) / 2, df=r - 1) * np.std(values, ddof=1) / math.sqrt(r)
    return values.mean() - half, values.mean() + half


def test_the_interval_is_student_t_whatever_the_scale_of_the_spread():
    """Replicates that differ at all (even by 1e-9 points, or by 1e-3 around 1000) get the t
    interval over R - 1 degrees of freedom, not a point: a real spread is never hidden."""
    rng = np.random.default_rng(11)
    for centre, spread in ((0.0, 1e-9), (1000.0, 1e-3), (0.3, 1.0)):
        for r in (2, 3, 5):
            values = centre + spread * rng.normal(size=r)
            d = replicate_interval(list(values), side=-1, margin=0.7)
            low, high = _t_interval(values)
            assert (d.n, d.side, d.margin) == (r, -1, 0.7)
            assert d.mean == pytest.approx(values.mean(), rel=1e-12, abs=1e-15)
            assert d.low == pytest.approx(low, rel=1e-9, abs=spread * 1e-6)
            assert d.high == pytest.approx(high, rel=1e-9, abs=spread * 1e-6)
            assert d.low < d.mean < d.high


def test_missing_replicates_are_left_out_and_the_degenerate_cases_keep_the_claim():
    """NaN replicates are dropped; with none left the statistic and interval are NaN (n = 0), with
    one the mean is that value and the interval NaN (n = 1), with identical values the interval
    is the point; each keeps the claim's side and margin, and few replicates stay unresolved."""
    for side, margin in ((-1, 0.25), (0, 0.5), (1, None)):
        empty = replicate_interval([float("nan"), float("nan")], side=side, margin=margin)
        assert empty.n == 0 and (empty.side, empty.margin) == (side, margin)
        assert all(math.isnan(v) for v in (empty.mean, empty.low, empty.high))
        assert empty.verdict == UNRESOLVED and empty.interval_text() == "no runs"
        one = replicate_interval([float("nan"), 2.5], side=side, margin=margin)
        assert (one.n, one.mean, one.side, one.margin) == (1, 2.5, side, margin)
        assert math.isnan(one.low) and math.isnan(one.high)
        assert one.verdict == UNRESOLVED and one.interval_text() == "one replicate (n = 1)"
        flat = replicate_interval([1.25, 1.25, float("nan"), 1.25], side=side, margin=margin)
        assert (flat.mean, flat.low, flat.high, flat.n, flat.side, flat.margin) == (1.25, 1.25, 1.25, 3, side, margin)
    # a column with missing entries comes out as an object array (None for a missing replicate)
    mixed = replicate_interval(np.array([1.0, None, 2.0, 4.0], dtype=object))
    assert mixed.n == 3 and mixed.mean == pytest.approx(7 / 3)
    assert (mixed.low, mixed.high) == pytest.approx(_t_interval(np.array([1.0, 2.0, 4.0])))
    assert replicate_interval(np.array([], dtype=object)).n == 0
    # the point interval is judged with the claim's own direction
    assert replicate_interval([2.0, 2.0, 2.0], side=-1).verdict == NOT_REPRODUCED
    assert replicate_interval([0.1, 0.1], side=0, margin=0.5).verdict == EQUIVALENT


def test_the_texts_print_the_numbers_they_are_given_with_their_sign():
    """The interval text is the bounds with their sign to two decimals and n; the margin text is
    the margin after ±, and nothing when no margin is judged."""
    rng = np.random.default_rng(12)
    for n in (2, 3, 7):
        low, high = sorted(rng.normal(0, 3, 2))
        text = Difference((low + high) / 2, low, high, n).interval_text()
        m = re.fullmatch(r"\[([+-]\d+\.\d\d), ([+-]\d+\.\d\d)\] \(n = (\d+)\)", text)
        assert m, text
        assert (float(m[1]), float(m[2]), int(m[3])) == (pytest.approx(low, abs=0.005), pytest.approx(high, abs=0.005), n)
    assert Difference(1.0, 0.5, 1.5, 0).interval_text() == "no runs"
    assert Difference(1.0, float("nan"), float("nan"), 1).interval_text() == "one replicate (n = 1)"
    assert Difference(0.0, -1.0, 1.0, 3, margin=None).margin_text() == ""
    assert Difference(0.0, -1.0, 1.0, 3, margin=0.5).margin_text() == "±0.5"
    assert Difference(0.0, -1.0, 1.0, 3, margin=1.25).margin_text() == "±1.25"


def _long_frame(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[int, float]]:
    """Rows (model, replicate, domain, seed, accuracy, top5) with an unbalanced number of rows per
    cell, a cell that only one model has, and a replicate that model b lacks entirely."""
    rows = []
    for r in range(4):
        for i in range(4):
            for model in ("a", "b"):
                if model == "b" and (r == 3 or (r, i) == (0, 2)):
                    continue
                for s in range(1 + (i + r) % 3):
                    rows.append({"model": model, "replicate": r, "domain": f"d{i}", "seed": s,
                                 "accuracy": rng.normal(60, 5), "top5": rng.normal(90, 2)})
    frame = pd.DataFrame(rows)
    return frame, {}


def _expected_per_replicate(frame: pd.DataFrame, value: str, within: tuple[str, ...]) -> pd.Series:
    """The paired difference per replicate, computed by hand with dictionaries."""
    cells: dict[tuple, dict[str, list[float]]] = {}
    for row in frame.itertuples(index=False):
        key = (row.replicate, *(getattr(row, w) for w in within))
        cells.setdefault(key, {}).setdefault(row.model, []).append(getattr(row, value))
    per: dict[int, list[float]] = {}
    for key, sides in cells.items():
        if "a" in sides and "b" in sides:
            per.setdefault(key[0], []).append(np.mean(sides["a"]) - np.mean(sides["b"]))
    return pd.Series({r: float(np.mean(v)) for r, v in sorted(per.items())})


def test_the_paired_difference_matches_cells_and_leaves_out_what_one_side_lacks():
    """per_replicate_difference averages the rows of a cell, pairs the cells both sides have, and
    lists only replicates where both sides have a cell; compare passes its column, grouping,
    value and direction through to the interval."""
    rng = np.random.default_rng(13)
    frame, _ = _long_frame(rng)
    got = per_replicate_difference(frame, "model", "a", "b")
    want = _expected_per_replicate(frame, "accuracy", ("domain",))
    assert list(got.index) == [0, 1, 2] and not got.isna().any()
    assert got.to_numpy() == pytest.approx(want.to_numpy())
    for within, value in ((("domain", "seed"), "top5"), ((), "accuracy"), (("domain",), "top5")):
        want = _expected_per_replicate(frame, value, within)
        d = compare(frame, "model", "a", "b", within=within, value=value, side=-1, margin=0.3)
        ref = replicate_interval(want.to_numpy(), side=-1, margin=0.3)
        assert (d.n, d.side, d.margin) == (3, -1, 0.3)
        assert (d.mean, d.low, d.high) == pytest.approx((ref.mean, ref.low, ref.high))


def test_a_trend_is_the_polyfit_slope_against_log2_of_the_factor():
    """slope_per_replicate equals numpy.polyfit(log2 x, value) per replicate, after averaging the
    rows of each `within` group at each x and then the groups (unbalanced rows must not weigh a
    group more); two distinct x make a slope, one makes NaN."""
    rng = np.random.default_rng(14)
    rows = []
    for r in range(3):
        for x in (0.25, 0.5, 1.0, 2.0):
            for g in ("u", "v"):
                for _ in range(1 if g == "u" else 1 + int(x * 4) % 5):
                    rows.append({"replicate": r, "x": x, "subset": g, "gain": rng.normal(3 * np.log2(x) + (g == "v"), 1)})
    frame = pd.DataFrame(rows)
    got = slope_per_replicate(frame, "x", value="gain", within=("subset",))
    for r in range(3):
        part = frame[frame.replicate == r]
        xs = sorted(part.x.unique())
        ys = [np.mean([part[(part.x == x) & (part.subset == g)].gain.mean() for g in ("u", "v")]) for x in xs]
        assert got[r] == pytest.approx(np.polyfit(np.log2(xs), ys, 1)[0])
    plain = slope_per_replicate(frame, "x", value="gain")
    for r in range(3):
        part = frame[frame.replicate == r].groupby("x").gain.mean()
        assert plain[r] == pytest.approx(np.polyfit(np.log2(part.index.to_numpy()), part.to_numpy(), 1)[0])
    two = pd.DataFrame({"replicate": [0, 0, 1], "x": [1, 4, 2], "accuracy": [10, 14, 9]})
    slopes = slope_per_replicate(two, "x")
    assert slopes[0] == pytest.approx(2.0) and math.isnan(slopes[1]) and slopes.dtype == float
    assert slope_per_replicate(two.iloc[:0], "x").dtype == float  # no replicate: still a float series


@pytest.mark.parametrize("verdicts", [
    [],
    [REPRODUCED],
    [REPRODUCED, NOT_REPRODUCED, EQUIVALENT, UNRESOLVED, UNRESOLVED, "not judged", REPRODUCED],
    [EQUIVALENT] * 12,
])
def test_the_family_line_counts_the_claims_and_the_expected_false_calls(verdicts):
    """The family line names how many claims were judged, the count of each verdict, the one-sided
    level of each test (half of 1 - LEVEL: 5%) and, if no effect were real, the expected number of
    false calls: claims judged times 1 - LEVEL."""
    judged = [v for v in verdicts if v in VERDICTS]
    n = len(judged)
    line = family_line(verdicts, primary="C1")
    assert line.startswith(f"{n} claims judged, each on a 90% interval over the replicates ")
    assert "(a one-sided test at 5% each way)" in line
    m = re.search(r"each way\)(.*?)\. Primary: C1\. ", line)
    assert m, line
    if n:
        parts = m[1].removeprefix(": ").split(", ")
        assert m[1].startswith(": ")
        assert {p.split(" ", 1)[1]: int(p.split(" ", 1)[0]) for p in parts} == \
            {v: judged.count(v) for v in VERDICTS if judged.count(v)}
    else:
        assert m[1] == ""
    expected = float(re.search(r"at most about (\d+\.\d) of them", line)[1])
    assert expected == pytest.approx(round(n * (1 - LEVEL), 1))
    assert line.endswith("would still be called reproduced or not reproduced by chance.")
