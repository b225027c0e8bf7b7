"""The Decathlon score: its constants are the benchmark's, and it gives back Table 1's S column."""

import csv
from pathlib import Path

import pytest

from paperlib.report.score import (
    BASELINE_ACCURACY,
    DOMAIN_ORDER,
    PAPER_COLUMNS,
    decathlon_score,
    decathlon_scores,
    domain_score,
    paper_table1,
    score_table,
)

DATA = Path(__file__).resolve().parent / "data"
ROUNDING = 0.005  # Table 1 prints accuracies to two decimals and S to an integer


def _transcribed_baseline() -> dict[str, float]:
    """The baseline row as transcribed in tests/data (its header comment names the source)."""
    lines = [line for line in (DATA / "decathlon_baseline.csv").read_text().splitlines() if not line.startswith("#")]
    (row,) = csv.DictReader(lines)
    return {PAPER_COLUMNS[column]: float(value) for column, value in row.items()}


def test_baseline_constants_are_the_transcribed_row_exactly():
    assert dict(BASELINE_ACCURACY) == _transcribed_baseline()


def test_every_row_of_table1_gives_back_its_printed_S():
    """S is monotone in each accuracy: each printed S lies between the S of the printed accuracies
    less and plus their rounding, give or take S's own rounding (half a point). A baseline
    constant a few hundredths off moves most rows outside."""
    table = paper_table1()
    assert len(table) == 10
    for _, row in table.iterrows():
        accs = {domain: row[column] for column, domain in PAPER_COLUMNS.items()}
        low = decathlon_score({d: max(0.0, a - ROUNDING) for d, a in accs.items()})
        high = decathlon_score({d: min(100.0, a + ROUNDING) for d, a in accs.items()})
        assert low - 0.5 <= row["S"] <= high + 0.5, (row["model"], low, high, row["S"])
    computed = score_table(table)
    # the mean of rounded accuracies is off by at most their rounding, the printed mean by its own
    assert (computed["mean_computed"] - computed["mean"]).abs().max() <= 2 * ROUNDING + 1e-9
    assert computed["S_computed"].tolist() == pytest.approx(computed["S"].tolist(), abs=3)


def test_a_domain_scores_250_at_the_baseline_1000_when_perfect_0_at_twice_its_error():
    """alpha_d = 1000 / Emax^2 and Emax = 2 x the baseline's error (sec. 4.1, [23])."""
    for baseline in (51.2, 60.0, 97.53):
        e_max = 2 * (100 - baseline)
        assert domain_score(100.0, baseline) == pytest.approx(1000.0)
        assert domain_score(baseline, baseline) == pytest.approx(250.0)
        assert domain_score(100 - e_max, baseline) == pytest.approx(0.0, abs=1e-9)
        assert domain_score(100 - e_max / 4, baseline) == pytest.approx(1000.0 * (3 / 4) ** 2)
    assert domain_score(20.0, 60.0) == 0.0  # at Emax
    assert domain_score(0.0, 60.0) == 0.0  # max(0, .) clamps
    assert decathlon_score(dict(BASELINE_ACCURACY)) == pytest.approx(2500.0)


def test_a_custom_baseline_is_used():
    accs = {"svhn": 90.0, "dtd": 50.0}
    baseline = {"svhn": 90.0, "dtd": 75.0}
    assert decathlon_scores(accs, baseline) == pytest.approx({"svhn": 250.0, "dtd": 0.0})
    assert decathlon_score(accs, baseline) == pytest.approx(250.0)
    assert decathlon_score(accs) == pytest.approx(sum(domain_score(a, BASELINE_ACCURACY[d]) for d, a in accs.items()))


def test_bad_input():
    with pytest.raises(KeyError, match=r"no baseline for \['mnist'\]; known domains: aircraft, cifar100, "):
        decathlon_scores({"mnist": 99.0})
    for bad in (101.0, -0.5):
        with pytest.raises(ValueError, match="percentage"):
            domain_score(bad, 60.0)
    assert domain_score(0.0, 60.0) == 0.0 and domain_score(100.0, 60.0) == 1000.0  # the ends are valid


def test_paper_columns_cover_the_ten_domains_in_table1_order():
    assert list(PAPER_COLUMNS.values()) == list(DOMAIN_ORDER)
    assert sorted(PAPER_COLUMNS.values()) == sorted(BASELINE_ACCURACY)
