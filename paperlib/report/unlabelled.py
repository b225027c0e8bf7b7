"""Tables of accuracies that survive a split without labels (the Decathlon's stripped test split).

On the released Decathlon every test accuracy is None (NaN in the frames): only the challenge's
server knows the labels. A plain `pivot_table` then drops every row and column, and looking a row
up raises KeyError. These helpers keep the table's shape (NaN cells), and give the notebooks and
the report one sentence to show instead of numbers: the labels are not available, the predictions
are in the submission file at PATH.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd


def unlabelled_note(split: str, submission: str | Path | None = None) -> str:
    """The sentence shown where accuracies on an unlabelled split would be."""
    where = (f"submission at {submission}" if submission is not None
             else "predictions are stored; write the submission with paperlib.submissions.write_row_submissions")
    return f"{split} labels not available; {where}"


def has_accuracies(frame: pd.DataFrame, column: str = "accuracy") -> bool:
    """True when at least one accuracy of `column` is known (not NaN / None)."""
    return column in frame and bool(pd.to_numeric(frame[column], errors="coerce").notna().any())


def accuracy_pivot(runs: pd.DataFrame, *, index: str = "model", columns: str = "domain",
                   values: str = "accuracy", order: Sequence[str] | None = None,
                   add_mean: bool = True) -> pd.DataFrame:
    """`runs.pivot_table(index, columns, values)`, the mean over a cell's runs (its seeds), that
    keeps every row and column even when their accuracies are all unknown, in first-seen order
    (or `order`); the mean is NaN unless every domain of the row is known (a mean over some
    domains would not be comparable)."""
    rows = list(order) if order is not None else list(dict.fromkeys(runs[index]))
    cols = list(dict.fromkeys(runs[columns]))
    numeric = runs.assign(**{values: pd.to_numeric(runs[values], errors="coerce")})
    table = (numeric.pivot_table(index=index, columns=columns, values=values, aggfunc="mean", dropna=False)
             .reindex(index=rows, columns=cols))
    table.columns.name = columns
    if add_mean:
        table["mean"] = table[cols].mean(axis=1, skipna=False)
    return table


def table_or_note(table: pd.DataFrame, *, split: str, submission: str | Path | None = None,
                  columns: Sequence[str] | None = None) -> pd.DataFrame | str:
    """The table when it holds an accuracy, else the note (for `display` in a notebook)."""
    cells = table[list(columns)] if columns is not None else table
    known = pd.DataFrame(cells).apply(pd.to_numeric, errors="coerce").notna().to_numpy().any()
    return table if known else unlabelled_note(split, submission)


def difference(values: Mapping[str, float] | pd.Series, a: str, b: str) -> float | None:
    """values[a] - values[b], or None where either is missing or unknown."""
    x, y = values.get(a), values.get(b)
    if x is None or y is None or pd.isna(x) or pd.isna(y):
        return None
    return float(x) - float(y)


def format_difference(values: Mapping[str, float] | pd.Series, a: str, b: str, label: str, *,
                      split: str, submission: str | Path | None = None) -> str:
    """"LABEL: +1.23 points", or "LABEL: n/a (<the note>)" where the accuracies are unknown."""
    d = difference(values, a, b)
    return f"{label}: {d:+.2f} points" if d is not None else f"{label}: n/a ({unlabelled_note(split, submission)})"
