"""At the smoke profile the claims table gives no verdicts: its numbers mean nothing."""

from __future__ import annotations

import dataclasses

import pandas as pd

from paperlib.data.domains import TARGETS
from paperlib.report.claims import claims
from paperlib.report.table1 import SeriesResults


def test_smoke_claims_are_not_tested():
    ours = pd.DataFrame({"model": ["Parallel Res. adapt.", "Finetuning", "Series Res. adapt."],
                         "mean": [1.0, 0.5, 0.7], "S": [10.0, 5.0, 7.0]})
    frames = {f.name: pd.DataFrame() for f in dataclasses.fields(SeriesResults)}
    frames["classes"] = pd.DataFrame(columns=["class_fraction", "domain", "accuracy"])
    level = dict(zip(ours["model"], ours["mean"]))
    frames["table1"] = pd.DataFrame([{"model": m, "domain": d, "replicate": s, "accuracy": level[m] + i}
                                     for m in level for i, d in enumerate(TARGETS) for s in range(2)])
    results = SeriesResults(**frames)
    mini = claims(ours, results, profile="mini")
    smoke = claims(ours, results, profile="smoke")
    assert len(mini) == len(smoke) >= 2 and set(mini["verdict"]) == {"reproduced"}
    assert set(smoke["verdict"]) == {"not tested (smoke: numbers mean nothing)"}
    assert list(smoke["this run"]) == list(mini["this run"])  # the numbers are still shown
