"""Table 1 against the paper, per model and domain, as a seaborn heatmap (pure frames in).

The cell of model m and domain d is our top-1 accuracy minus the paper's (points): blue where we
are above the paper, red below, white where they agree. At the `mini` and `smoke` profiles the
MiniDecathlon's accuracies live on another scale, so the map shows the pattern across domains
and models (which rows fall short where), not a verdict on the paper's numbers.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)  # headless by default; a notebook's inline backend still wins
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from paperlib.report.score import PAPER_COLUMNS  # noqa: E402


def table1_differences(beside: pd.DataFrame) -> pd.DataFrame:
    """Ours minus the paper, in accuracy points: one row per Table 1 model that both have (in the
    paper's order), one column per domain (Table 1's headers); NaN where either is missing.

    `beside` is `report.table1_beside_paper`'s frame (a "source" column of "paper" / "ours")."""
    columns = list(PAPER_COLUMNS)
    paper = beside[beside["source"] == "paper"].drop_duplicates("model").set_index("model")[columns]
    ours = beside[beside["source"] == "ours"].drop_duplicates("model").set_index("model")[columns]
    models = [m for m in paper.index if m in ours.index]
    diff = ours.loc[models].apply(pd.to_numeric, errors="coerce") - paper.loc[models].apply(pd.to_numeric, errors="coerce")
    diff.index.name, diff.columns.name = "model", "domain"
    return diff


def table1_heatmap(beside: pd.DataFrame, *, profile: str, ax: plt.Axes | None = None) -> plt.Figure:
    """Heatmap of `table1_differences`, annotated with the differences, centred at zero."""
    diff = table1_differences(beside)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.75 * diff.shape[1], 1.2 + 0.45 * max(1, len(diff))))
    if diff.empty:  # nothing of Table 1 trained yet: say so rather than draw an empty grid
        ax.text(0.5, 0.5, "no row of Table 1 in these results", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax.figure
    finite = diff.to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(finite))) if np.isfinite(finite).any() else 1.0
    sns.heatmap(diff.astype(float), ax=ax, cmap="RdBu", center=0.0, vmin=-limit, vmax=limit, annot=True,
                fmt=".1f", linewidths=0.5, cbar_kws={"label": "ours - paper (points)"})
    ax.set_title(f"Table 1, ours minus the paper ({profile} profile)")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.figure.tight_layout()
    return ax.figure


__all__ = ["table1_differences", "table1_heatmap"]
