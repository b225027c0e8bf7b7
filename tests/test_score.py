"""The Decathlon score gives back Table 1's S column."""

import pytest

from paperlib.report.score import (
    BASELINE_ACCURACY,
    PAPER_COLUMNS,
    decathlon_score,
    decathlon_scores,
    domain_score,
    paper_table1,
    score_table,
)


def test_every_row_of_table1_gives_back_its_S():
    table = score_table(paper_table1())
    assert len(table) == 10
    for _, row in table.iterrows():
        assert abs(row["S_computed"] - row["S"]) <= 3, row["model"]
        assert abs(row["mean_computed"] - row["mean"]) <= 0.01, row["model"]


def test_score_range():
    assert domain_score(100.0, 60.0) == 1000.0
    assert domain_score(60.0, 60.0) == pytest.approx(250.0)  # at the baseline E = Emax / 2
    assert domain_score(20.0, 60.0) == 0.0  # at Emax
    assert domain_score(0.0, 60.0) == 0.0  # max(0, .) clamps
    assert decathlon_score(dict(BASELINE_ACCURACY)) == pytest.approx(2500.0)


def test_bad_input():
    with pytest.raises(KeyError, match="imagenet12"):
        decathlon_scores({"mnist": 99.0})
    with pytest.raises(ValueError, match="percentage"):
        domain_score(101.0, 60.0)


def test_paper_columns_cover_the_ten_domains():
    assert sorted(PAPER_COLUMNS.values()) == sorted(BASELINE_ACCURACY)
