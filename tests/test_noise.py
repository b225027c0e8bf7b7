"""The noise tables (report.noise) on constructed runs: the second source's rows and the twins in
the other precision beside the series' own rows, with the paired difference and its interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paperlib.data.domains import TARGETS
from paperlib.report.noise import precision_table, source_seed_table
from paperlib.report.table1 import SeriesResults

EMPTY = pd.DataFrame()


def _runs(models, shift, rng):
    return pd.DataFrame([{"model": m, "domain": d, "seed": s, "accuracy": 60 + 3 * i + shift + rng.normal(0, 0.2)}
                         for m in models for i, d in enumerate(TARGETS) for s in range(3)])


def _results(rng, **frames) -> SeriesResults:
    table1 = _runs(["Finetuning", "Parallel Res. adapt.", "Series Res. adapt."], 0.0, rng)
    return SeriesResults(pretrain=EMPTY, table1=table1, a_posteriori=EMPTY, uniform_decay=EMPTY,
                         width_dropout=EMPTY, transfer=EMPTY, classes=EMPTY, **frames)


def _mean_over_targets(frame, model):
    return frame[frame["model"] == model].groupby("seed")["accuracy"].mean()


def test_the_second_source_beside_the_first_with_the_difference_1_minus_0():
    rng = np.random.default_rng(0)
    results = _results(rng, source_seed=_runs(["Finetuning", "Parallel Res. adapt."], 1.0, rng))
    out = source_seed_table(results)
    assert list(out.columns) == ["model", "source 0", "sd source 0", "source 1", "sd source 1", "1 - 0",
                                 "90% interval"]
    assert list(out["model"]) == ["Finetuning", "Parallel Res. adapt."]  # only the rows both sources have
    for _, row in out.iterrows():
        first, second = _mean_over_targets(results.table1, row["model"]), _mean_over_targets(results.source_seed,
                                                                                             row["model"])
        assert row["source 0"] == round(first.mean(), 2) and row["sd source 0"] == round(first.std(), 2)
        assert row["source 1"] == round(second.mean(), 2)
        assert row["1 - 0"] == round((second - first).mean(), 2) and 0.8 < row["1 - 0"] < 1.2
        assert row["90% interval"].startswith("[+") and row["90% interval"].endswith("(n = 27)")


@pytest.mark.parametrize("twins", ["float32", "bf16"])
def test_bf16_beside_float32_whichever_the_twins_are(twins):
    shift = 0.5 if twins == "float32" else -0.5  # float32 half a point higher either way
    rng = np.random.default_rng(1)
    results = _results(rng, precision=_runs(["Parallel Res. adapt."], shift, rng).assign(precision=twins))
    out = precision_table(results)
    assert list(out.columns) == ["model", "bf16", "sd bf16", "float32", "sd float32", "bf16 - float32",
                                 "90% interval"]
    assert list(out["model"]) == ["Parallel Res. adapt."]
    assert -0.7 < out["bf16 - float32"].iloc[0] < -0.3 and out["90% interval"].iloc[0].startswith("[-")
    assert out["float32"].iloc[0] > out["bf16"].iloc[0]


def test_without_the_runs_the_tables_are_empty_with_their_columns():
    results = _results(np.random.default_rng(2))
    assert len(source_seed_table(results)) == 0 and "1 - 0" in source_seed_table(results).columns
    assert len(precision_table(results)) == 0 and "bf16 - float32" in precision_table(results).columns
