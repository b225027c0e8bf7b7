"""The seaborn heatmap of Table 1 against the paper: the differences it draws are ours - paper."""

import numpy as np
import pandas as pd

from paperlib.report.heatmap import table1_differences, table1_heatmap
from paperlib.report.score import PAPER_COLUMNS, paper_table1
from paperlib.report.table1 import table1_beside_paper


def ours_frame():
    paper = paper_table1().set_index("model")
    rows = []
    for i, model in enumerate(["Parallel Res. adapt.", "Finetuning"]):
        row = {"model": model, "params_x": 2.0, "mean": 0.0, "S": 0.0}
        row.update({c: float(paper.loc[model, c]) + i + k for k, c in enumerate(PAPER_COLUMNS)})
        rows.append(row)
    rows[0]["UCF"] = np.nan  # a domain we did not train
    return pd.DataFrame(rows)


def test_differences_are_ours_minus_paper_in_the_papers_order():
    diff = table1_differences(table1_beside_paper(ours_frame()))
    order = list(paper_table1()["model"])
    assert list(diff.index) == sorted(["Parallel Res. adapt.", "Finetuning"], key=order.index)
    assert list(diff.columns) == list(PAPER_COLUMNS)
    assert diff.loc["Finetuning", "ImNet"] == 1.0 and diff.loc["Finetuning", "UCF"] == 10.0
    assert diff.loc["Parallel Res. adapt.", "Airc"] == 1.0 and np.isnan(diff.loc["Parallel Res. adapt.", "UCF"])


def test_heatmap_draws_one_annotated_cell_per_difference():
    fig = table1_heatmap(table1_beside_paper(ours_frame()), profile="smoke")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 2 * len(PAPER_COLUMNS) - 1  # the NaN cell stays blank
    assert "10.0" in texts and "smoke" in fig.axes[0].get_title()


def test_no_common_row_draws_a_note_instead_of_an_empty_grid():
    ours = ours_frame().assign(model="A model the paper does not have")
    fig = table1_heatmap(table1_beside_paper(ours), profile="smoke")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no row of Table 1 in these results"]
