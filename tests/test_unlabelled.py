"""Tables that survive a split without labels: rows kept, the note instead of numbers."""

import math

import pandas as pd

from paperlib.report.unlabelled import accuracy_pivot, difference, format_difference, has_accuracies, table_or_note

NAN = float("nan")


def _runs(accuracies):
    models = ["Finetuning", "Parallel Res. adapt."]
    return pd.DataFrame([{"model": m, "domain": d, "accuracy": a}
                         for m, row in zip(models, accuracies) for d, a in zip(["dtd", "svhn"], row)])


def test_pivot_of_an_unlabelled_split_keeps_every_row():
    runs = _runs([[NAN, NAN], [None, None]])
    assert runs.pivot_table(index="model", columns="domain", values="accuracy").empty  # what failed before
    table = accuracy_pivot(runs)
    assert list(table.index) == ["Finetuning", "Parallel Res. adapt."]
    assert list(table.columns) == ["dtd", "svhn", "mean"]
    assert table.isna().all().all() and not has_accuracies(runs)
    note = table_or_note(table, split="test", submission="runs/full/submissions/finetuning.json")
    assert note == "test labels not available; submission at runs/full/submissions/finetuning.json"
    assert format_difference(table["mean"], "Parallel Res. adapt.", "Finetuning", "parallel - finetuning",
                             split="test").startswith("parallel - finetuning: n/a (test labels not available")
    assert difference(table["mean"], "Series Res. adapt.", "Finetuning") is None  # a row not trained


def test_pivot_of_a_labelled_split_is_the_plain_pivot():
    runs = _runs([[50.0, 90.0], [60.0, NAN]])
    table = accuracy_pivot(runs, order=["Parallel Res. adapt.", "Finetuning"])
    plain = runs.pivot_table(index="model", columns="domain", values="accuracy")
    assert table.loc["Finetuning", "dtd"] == plain.loc["Finetuning", "dtd"] == 50.0
    assert table.loc["Finetuning", "mean"] == 70.0 and math.isnan(table.loc["Parallel Res. adapt.", "mean"])
    assert table_or_note(table, split="test") is table and has_accuracies(runs)
    assert difference(table["dtd"], "Parallel Res. adapt.", "Finetuning") == 10.0
    text = format_difference(table["dtd"], "Parallel Res. adapt.", "Finetuning", "d", split="test")
    assert text == "d: +10.00 points"
