"""At the smoke profile the claims table gives no verdicts: its numbers mean nothing."""

from __future__ import annotations

import dataclasses

import pandas as pd

from paperlib import report


def test_smoke_claims_are_not_tested():
    ours = pd.DataFrame({"model": ["Parallel Res. adapt.", "Finetuning", "Series Res. adapt."],
                         "mean": [1.0, 0.5, 0.7], "S": [10.0, 5.0, 7.0]})
    frames = {f.name: pd.DataFrame() for f in dataclasses.fields(report.SeriesResults)}
    frames["classes"] = pd.DataFrame(columns=["class_fraction", "domain", "accuracy"])
    results = report.SeriesResults(**frames)
    mini = report.claims(ours, results, profile="mini")
    smoke = report.claims(ours, results, profile="smoke")
    assert len(mini) == len(smoke) >= 2 and set(mini["verdict"]) == {"reproduced"}
    assert set(smoke["verdict"]) == {"not tested (smoke: numbers mean nothing)"}
    assert list(smoke["this run"]) == list(mini["this run"])  # the numbers are still shown
