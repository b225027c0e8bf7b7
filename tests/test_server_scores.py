"""The evaluation server's scores, read back: JSON or CSV, validated, filling the test table and
choosing the claims' source."""

import json

import pandas as pd
import pytest

from paperlib.cli import main as paperlib_main
from paperlib.core.errors import DataError
from paperlib.report.score import DOMAIN_ORDER, PAPER_COLUMNS, paper_table1
from paperlib.report.server_scores import (
    claims_source,
    import_server_scores,
    load_imported_scores,
    read_server_scores,
    test_table_from_server_scores,
)

ROWS = ["Finetuning", "Series Res. adapt.", "Parallel Res. adapt."]


def _paper_rows():
    """The paper's Table 1 rows as a server would return them (accuracies; S left out)."""
    paper = paper_table1().set_index("model")
    return {m: {d: float(paper.loc[m, c]) for c, d in PAPER_COLUMNS.items()} for m in ROWS}


def test_json_scores_fill_the_test_table(tmp_path):
    rows = _paper_rows()
    rows["Parallel Res. adapt."]["S"] = 3412
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(rows))
    table = test_table_from_server_scores(read_server_scores(path), {"Finetuning": 10})
    assert list(table.columns) == ["model", "params_x", *PAPER_COLUMNS, "mean", "S"]
    assert list(table["model"]) == ROWS and table["params_x"].iloc[0] == 10 and table["params_x"].isna().sum() == 2
    paper = paper_table1().set_index("model")
    for _, row in table.iterrows():  # the accuracies as given, the mean and S as the paper prints them
        assert row[list(PAPER_COLUMNS)].tolist() == paper.loc[row["model"], list(PAPER_COLUMNS)].tolist()
        assert row["mean"] == pytest.approx(paper.loc[row["model"], "mean"], abs=0.01)
        assert row["S"] == pytest.approx(float(paper.loc[row["model"], "S"]), abs=3)
    assert table.set_index("model").loc["Parallel Res. adapt.", "S"] == 3412  # the server's S kept


def test_csv_with_headers_and_file_names(tmp_path):
    rows = _paper_rows()
    lines = ["# copied from the server's page", "model," + ",".join(PAPER_COLUMNS) + ",S"]
    lines += [f"{name}," + ",".join(str(rows[m][d]) for d in PAPER_COLUMNS.values()) + ",1234"
              for name, m in (("finetuning.json", "Finetuning"), ("series-res-adapt", "Series Res. adapt."))]
    parallel = rows["Parallel Res. adapt."]
    lines.append("Parallel Res. adapt.," + ",".join(str(parallel[d]) for d in PAPER_COLUMNS.values()))
    path = tmp_path / "scores.csv"
    path.write_text("\n".join(lines) + "\n")
    scores = read_server_scores(path)
    assert list(scores["model"]) == ROWS and scores["S"].tolist()[:2] == [1234, 1234]
    assert pd.isna(scores["S"].iloc[2])  # no S on the line: computed in the test table
    assert test_table_from_server_scores(scores)["S"].iloc[2] == pytest.approx(3412, abs=3)
    assert scores.iloc[0][list(DOMAIN_ORDER)].tolist() == [rows["Finetuning"][d] for d in DOMAIN_ORDER]


@pytest.mark.parametrize("edit, message", [
    (lambda r: {"Parallel (quarter)": r["Finetuning"]}, "unknown row 'Parallel (quarter)'"),
    (lambda r: {"Finetuning": {k: v for k, v in r["Finetuning"].items() if k != "dtd"}}, "lacks dtd"),
    (lambda r: {"Finetuning": {k: v / 100 for k, v in r["Finetuning"].items()}}, "looks like fractions"),
    (lambda r: {"Finetuning": dict(r["Finetuning"], dtd="high")}, "dtd = 'high' is not a number"),
    (lambda r: {"Finetuning": dict(r["Finetuning"], dtd=101)}, "dtd = 101.0 is not a top-1 accuracy"),
    (lambda r: {"Finetuning": dict(r["Finetuning"], mnist=3)}, "unknown field(s) ['mnist']"),
    (lambda r: {"Finetuning": dict(r["Finetuning"], DTD=50)}, "gives dtd twice"),
    (lambda r: [{"model": "Finetuning", **r["Finetuning"]}] * 2, "row 'Finetuning' is given twice"),
    (lambda r: [1, 2], "expected an object keyed by row"),
    (lambda r: {}, "hold no row"),
])
def test_bad_scores_are_one_line_errors(tmp_path, edit, message):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(edit(_paper_rows())))
    with pytest.raises(DataError) as err:
        read_server_scores(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_csv_header_and_short_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("row,ImNet\nFinetuning,60\n")
    with pytest.raises(DataError, match="must start with \"model\""):
        read_server_scores(path)
    path.write_text("model,ImNet,Airc\nFinetuning,60,50,40\n")
    with pytest.raises(DataError, match="line 2 has more fields than the header"):
        read_server_scores(path)
    path.write_text("model,ImNet,Airc\nFinetuning,60\n")
    with pytest.raises(DataError, match="row 'Finetuning' lacks aircraft, cifar100"):
        read_server_scores(path)


def test_claims_use_test_scores_when_imported_else_validation(tmp_path):
    validation = pd.DataFrame({"model": ROWS, "mean": [70.0, 71.0, 72.0]})
    source = claims_source(validation, None)
    assert source.split == "val" and source.table is validation and "validation table" in source.note
    assert "paperlib report --server-scores" in source.note
    assert load_imported_scores(tmp_path / "results") is None
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(_paper_rows()))
    import_server_scores(path, tmp_path / "results")
    scores, origin = load_imported_scores(tmp_path / "results")
    pd.testing.assert_frame_equal(scores, read_server_scores(path))
    test = test_table_from_server_scores(scores)
    source = claims_source(validation, test, scores_file=origin)
    assert source.split == "test" and source.table is test and str(path) in source.note


def test_report_command_imports_and_writes_the_test_table(tmp_path, monkeypatch, capsys):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(_paper_rows()))
    monkeypatch.chdir(tmp_path)
    assert paperlib_main(["report", "--server-scores", str(path), "--no-sizes"]) == 0
    assert (tmp_path / "results" / "full" / "server-scores.json").is_file()
    table = pd.read_csv(tmp_path / "figures" / "table1_full_test.csv")
    ours = table[table["source"] == "ours"]
    assert list(ours["model"]) == ROWS and ours["S"].notna().all()
    assert "evaluation server" in (tmp_path / "figures" / "table1_full_test.md").read_text()
    path.write_text("{}")
    assert paperlib_main(["report", "--server-scores", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
