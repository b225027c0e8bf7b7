"""The full profile without test labels: the validation and test phases, one submission per
Table 1 row, the server's scores back into the test table and the claims, and a report that
survives an unlabelled split."""

import json

import pandas as pd

from paperlib.data.domains import SOURCE, TARGETS
from paperlib.report.claims import claims
from paperlib.report.score import PAPER_COLUMNS, paper_table1
from paperlib.report.server_scores import import_server_scores
from paperlib.report.table1 import SeriesResults, table1
from paperlib.report.test_phase import (
    claims_source,
    incomplete_rows,
    submissions_summary,
    test_note,
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
    verdicts = dict(zip(*claims(after.table, _nan_results(), profile="full", long=after.long)[["claim", "verdict"]].T.values))
    assert verdicts["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] == "reproduced"


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
