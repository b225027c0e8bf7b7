"""The full profile's two phases: the validation tables, and Table 1's rows trained on train+val
for the test split: one submission per row, the server's scores back into the test table and the
claims where the test labels are absent, the labelled test split's own table where they are
placed, and a report that survives an unlabelled split."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paperlib.core.paths import project_root
from paperlib.data.domains import SOURCE, TARGETS
from paperlib.data.submission import SubmissionReport
from paperlib.report.claims import claims
from paperlib.report.score import BASELINE_ACCURACY, PAPER_COLUMNS, decathlon_score, paper_table1
from paperlib.report.server_scores import import_server_scores
from paperlib.report.table1 import SeriesResults, table1
from paperlib.report.outputs import outputs_folder, write_outputs
from paperlib.report.test_phase import (
    LABELLED_TITLE,
    TestTable,
    claims_source,
    incomplete_rows,
    submission_scores,
    submissions_summary,
    test_note,
    test_phase_table,
    test_split_labelled,
    test_table,
    write_submissions,
)
from paperlib.series.notebooks import TEST_PHASE, notebook_plans, series_plan, submission_rows
from paperlib.series.plans import TABLE1_ROWS, pretrain_config
from paperlib.series.study import Study


def test_full_trains_a_validation_phase_and_a_test_phase():
    study = Study("full")
    assert not study.settings.test_labels and study.settings.table_split == "val"
    assert "validation" in study.settings.table_title
    plans = notebook_plans(study, "02_series_vs_parallel")
    shown = [c for part in ("table1", "a_posteriori") for _, c in plans[part]]
    assert {(c.train_split, c.eval_splits) for c in shown} == {("train", ("val",))}
    assert {(c.train_split, c.eval_splits) for _, c in plans[TEST_PHASE]} == {("trainval", ("test",))}
    figure4 = [c for _, c in notebook_plans(study, "06_transfer")["transfer"]]
    assert {c.train_split for c in figure4} == {"train"}  # Figure 4 is a validation figure at full
    plain = pretrain_config(study)
    assert plain.eval_splits == ("val", "test")  # ImageNet's test predictions, for every submission
    assert pretrain_config(study, class_fraction=0.5).eval_splits == ("val",)


def test_submission_rows_cover_the_ten_domains_once_per_row():
    study = Study("full")
    rows = submission_rows(study)
    assert set(rows) == {*TABLE1_ROWS, "Parallel SVD", "Series (a posteriori)"}
    for row, configs in rows.items():
        domains = [d for c in configs for d in c.domains]
        assert sorted(domains) == sorted([SOURCE, *TARGETS]), row
        assert all(c.train_split == "trainval" for c in configs[1:])
    assert rows["Series Res. adapt."][0].adapter == "series" and rows["Finetuning"][0].adapter is None
    assert {c.run_id for _, _, c in series_plan(study)} >= {c.run_id for cs in rows.values() for c in cs}


def test_labelled_profiles_keep_their_test_tables():
    for profile in ("smoke", "mini"):
        study = Study(profile)
        assert study.settings.test_labels and study.table_phase == "test"
        assert submission_rows(study) == {}
        assert TEST_PHASE not in notebook_plans(study, "02_series_vs_parallel")
        plans = notebook_plans(study, "03_placement")["table1"]
        assert {(c.train_split, c.eval_splits) for _, c in plans} == {("train", ("val", "test"))}


def _nan_results() -> SeriesResults:
    """The report's frames on an unlabelled split: every accuracy unknown."""
    nan = float("nan")
    rows = [{"model": m, "domain": d, "accuracy": nan} for m in ("Finetuning", "Parallel Res. adapt.")
            for d in TARGETS]
    pretrain = pd.DataFrame([{"network": "plain", "width_factor": 1.0, "class_fraction": 1.0, "accuracy": nan}])
    empty = pd.DataFrame(columns=["model", "domain", "accuracy"])
    transfer = pd.DataFrame([{"domain": d, "fraction": f, "method": m, "accuracy": nan}
                             for d in ("ucf101", "svhn") for f in (0.5, 1.0) for m in ("finetune", "parallel")])
    classes = pd.DataFrame([{"class_fraction": c, "domain": "cifar100", "accuracy": nan} for c in (0.5, 1.0)])
    wd = pd.DataFrame(columns=["width_factor", "dropout", "subset", "accuracy"])
    return SeriesResults(pretrain=pretrain, table1=pd.DataFrame(rows), a_posteriori=empty,
                                uniform_decay=empty, width_dropout=wd, transfer=transfer, classes=classes)


def test_table1_and_claims_on_an_unlabelled_split():
    classes = {"imagenet12": 1000, **{d: 10 for d in TARGETS}}
    results = _nan_results()
    ours = table1(results, classes=classes, width=1.0, profile="full")
    assert list(ours["model"]) == ["Finetuning", "Parallel Res. adapt."]  # rows kept, not dropped
    assert ours[list(PAPER_COLUMNS)].isna().all().all()
    verdicts = set(claims(ours, results, profile="full")["verdict"])
    assert "not reproduced" not in verdicts and "reproduced" not in verdicts  # unknown is n/a, never a verdict


def test_server_scores_fill_the_test_table_and_the_claims(tmp_path):
    study = Study("full", results_dir=str(tmp_path / "results"))
    validation = pd.DataFrame({"model": ["Finetuning"], "mean": [1.0], "S": [1.0]})
    before = claims_source(study, validation)
    assert before.split == "val" and before.table is validation and "validation table" in before.note
    assert test_table(study) is None
    assert "test labels not available; submission at" in test_note(study)
    paper = paper_table1().set_index("model")
    rows = {m: {c: float(paper.loc[m, c]) for c in PAPER_COLUMNS} for m in ("Finetuning", "Parallel Res. adapt.")}
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(rows))
    import_server_scores(scores, study.store.root, "full")
    table, source = test_table(study)
    assert source == str(scores) and list(table["model"]) == list(rows)
    assert table.set_index("model").loc["Parallel Res. adapt.", "Airc"] == paper.loc["Parallel Res. adapt.", "Airc"]
    after = claims_source(study, validation)
    assert after.split == "test" and "evaluation server" in after.note
    table = claims(after.table, _nan_results(), profile="full", long=after.long).set_index("claim")
    headline = table.loc["Parallel adapters beat finetuning with 2x instead of 10x the parameters"]
    # the server's scores are one run per row: one replicate, whose difference is shown but not judged
    assert headline["verdict"] == "unresolved (one replicate)" and float(headline["difference"]) > 0


def test_smoke_claims_use_its_own_test_table(tmp_path):
    study = Study("smoke", results_dir=str(tmp_path))
    table = pd.DataFrame({"model": ["Finetuning"], "mean": [1.0], "S": [1.0]})
    source = claims_source(study, table)
    assert source.split == "test" and source.table is table


def test_rows_with_missing_trainings_are_listed_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(Study, "bind", lambda self, config: config)  # no data to bind to: specs as planned
    study = Study("full", results_dir=str(tmp_path / "results"), dry_run=True)
    assert set(incomplete_rows(study)) == set(submission_rows(study))
    assert write_submissions(study) == {}
    summary = submissions_summary(study, {})
    assert "Parallel SVD" in summary and "not in the store" in summary
    assert study.submissions_dir == tmp_path / "submissions"  # a dry run's store has its submissions beside it


def _paper_rows(models) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's Table 1 rows of `models` as a test table and its (model, domain, seed) accuracies."""
    paper = paper_table1()
    table = paper[paper["model"].isin(models)].reset_index(drop=True)
    long = pd.DataFrame([{"model": r["model"], "domain": d, "replicate": 0, "accuracy": float(r[c])}
                         for _, r in table.iterrows() for c, d in PAPER_COLUMNS.items() if d != SOURCE])
    return table, long


def test_the_labelled_test_table_is_what_the_claims_use(tmp_path):
    study = Study("full", data_root=str(tmp_path / "data"), results_dir=str(tmp_path / "results"))
    assert not test_split_labelled(study)  # nothing prepared: no labels known
    assert test_phase_table(study, _nan_results(), {}) is None and test_phase_table(Study("smoke"), _nan_results(), {}) is None
    table, long = _paper_rows(["Finetuning", "Parallel Res. adapt."])
    test = TestTable(table, long, LABELLED_TITLE, "labels")
    validation = pd.DataFrame({"model": ["Finetuning"], "mean": [1.0], "S": [1.0]})
    source = claims_source(study, validation, test=test)
    assert source.split == "test" and source.table is table and source.long is long
    assert "labelled test split" in source.note and "validation runs" in source.note
    verdicts = dict(zip(*claims(source.table, _nan_results(), profile="full", long=source.long)[["claim", "verdict"]].T.values))
    assert verdicts["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] != "n/a"
    assert "paperlib data labels --root" in test_note(study)


def test_submissions_are_scored_where_the_test_split_is_labelled(tmp_path):
    rng = np.random.default_rng(11)
    accuracy = {d: float(rng.uniform(20, 99)) for d in (SOURCE, *TARGETS)}
    written = {"Parallel Res. adapt.": (tmp_path / "parallel-res-adapt.json",
                                        SubmissionReport(tmp_path, tmp_path, accuracy=accuracy)),
               "Finetuning": (tmp_path / "finetuning.json", SubmissionReport(tmp_path, tmp_path))}
    scores = submission_scores(written)
    assert list(scores["model"]) == ["Parallel Res. adapt."]  # the unlabelled one is not scored
    row = scores.iloc[0]
    assert row["S"] == decathlon_score(accuracy, BASELINE_ACCURACY)
    assert row["mean"] == np.mean(list(accuracy.values())) and row["Airc"] == accuracy["aircraft"]


def test_a_dry_run_writes_its_tables_beside_its_store_and_the_test_table_apart(tmp_path):
    assert outputs_folder(Study("full")) == outputs_folder(Study("mini")) == project_root() / "figures"
    assert outputs_folder(Study("full", dry_run=True)) is None
    study = Study("full", dry_run=True, results_dir=str(tmp_path / "full-dry-run" / "results"))
    assert outputs_folder(study) == tmp_path / "full-dry-run" / "figures"
    ours, _ = _paper_rows(["Finetuning"])
    test, _ = _paper_rows(["Finetuning", "Parallel Res. adapt."])
    fig = plt.figure()
    written = write_outputs(study, ours, fig, pd.DataFrame(),
                            test=(test, LABELLED_TITLE), readme=tmp_path / "README.md")
    plt.close(fig)
    names = sorted(p.name for p in written)
    assert names == ["fig4_full.pdf", "fig4_full.png", "table1_full_test.csv", "table1_full_test.md",
                     "table1_full_val.csv", "table1_full_val.md"]
    assert all(p.parent == tmp_path / "full-dry-run" / "figures" for p in written)
    md = (tmp_path / "full-dry-run" / "figures" / "table1_full_test.md").read_text()
    assert LABELLED_TITLE in md and "the paper's baseline" in md and md.count("| Parallel Res. adapt. | ours") == 1
