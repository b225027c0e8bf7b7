"""The full profile's code path, run for two steps per training on a generated tree in the
real Decathlon layout (real domain names and class counts, 72-pixel images, 64-pixel crops).

Two trees, both in the released form, the second with the labelled test files of the authors'
labels archive beside the stripped ones. On the first, `make test` runs the notebooks whose code
differs at the full profile: the pretraining, the three that hold Table 1's rows (trained in two
phases there: on train for the validation tables, on train+val for the test split), the report
that writes the submissions, and a new domain of your own. On the labelled tree it runs the
pretraining, notebook 02 and the report: Table 1 on the test split, the claims from it, each
submission scored. The others (04, 06, 07, 09) run the same functions at the full profile as at
smoke, where nbval executes them; their full plans are built here without training
(`test_every_notebook_plans_the_full_profile`), and with the labelled tree (marker `slower`,
deselected by `make test`) the whole series trains. The notebooks of the first tree took
3.5 minutes (208 s) on two quiet AMD EPYC cores (`pytest --durations=30`, in `make test`)."""

import json

import pandas as pd
import pytest

from paperlib.core.paths import project_root
from paperlib.data.domains import SOURCE, TARGETS
from paperlib.data.dryrun import write_real_format_tree
from paperlib.data.submission import check_submission
from paperlib.report.score import PAPER_COLUMNS, paper_table1
from paperlib.report.submissions import submission_name
from paperlib.report.test_phase import LABELLED_TITLE
from paperlib.series.notebooks import NOTEBOOKS, TABLE1_PARTS, TEST_PHASE, notebook_plans, series_plan, submission_rows
from paperlib.series.reproduce import run_series
from paperlib.series.study import Study
from paperlib.train.spec import TrainConfig
from paperlib.train.store import load_records

FULL_CODE_PATH = ("00_data", "01_pretrain", "02_series_vs_parallel", "03_placement", "05_svd", "08_table1_figure4",
                  "10_your_own_domain")
TEST_TABLE_PATH = ("00_data", "01_pretrain", "02_series_vs_parallel", "08_table1_figure4")
ALL_METHODS = {"scratch", "finetune", "head", "bn", "series", "parallel", "parallel_distilled", "svd", "lora"}


def _run_full_dry_run(tmp_path, test_labels: bool, only: tuple[str, ...] | None = None):
    root = write_real_format_tree(tmp_path / "decathlon", test_labels=test_labels)
    runs = tmp_path / "runs"
    figures = project_root() / "figures"
    before = {f: f.stat().st_mtime_ns for f in figures.glob("*_full.*")}
    executed = run_series(Study("full", data_root=str(root), dry_run=True), runs_dir=str(runs), progress=False,
                          only=list(only) if only else None)
    assert [p.stem for p in executed] == [n for n in NOTEBOOKS if not only or n in only]
    # a dry run checks a code path: it writes no figure of the profile into the project
    assert {f: f.stat().st_mtime_ns for f in figures.glob("*_full.*")} == before
    records = load_records(runs / "full-dry-run" / "results")
    assert set(records["profile"]) == {"full"}
    assert set(records["width"]) >= {0.5, 1.0, 2.5} and set(records["crop"]) == {64}
    assert set(records["method"]) == (ALL_METHODS if "05_svd" in (only or NOTEBOOKS) else ALL_METHODS - {"svd", "lora"})
    record = json.loads(next((runs / "full-dry-run" / "results" / "full").glob("*.json")).read_text())
    assert record["config"]["train_limit_batches"] == 2 and record["config"]["batch_size"] == 2
    omniglot = records[(records["domain"] == "omniglot") & (records["method"] == "parallel")].iloc[0]
    assert omniglot["params_head"] == 1623 * 256 + 1623  # the real class count reached the model
    # both phases: the validation tables (train -> val) and the server's trainings (train+val -> test)
    adapted = records[records["method"] != "scratch"]
    assert set(adapted["train_split"]) == {"train", "trainval"}
    assert adapted.loc[adapted["train_split"] == "train", "acc_val"].notna().all()
    # one checked submission per Table 1 row whose notebooks ran, covering the ten domains
    study = Study("full", data_root=str(root), dry_run=True)
    ran = {labels["model"] for notebook in TABLE1_PARTS if notebook in (only or NOTEBOOKS)
           for labels, _ in notebook_plans(study, notebook)[TEST_PHASE]}
    assert ran <= set(submission_rows(study)) and {"Finetuning", "Parallel Res. adapt."} <= ran
    subs = runs / "full-dry-run" / "submissions"
    assert sorted(p.name for p in subs.glob("*.json")) == sorted(submission_name(r) for r in ran)
    for path in subs.glob("*.json"):
        report = check_submission(path, root)
        assert report.ok, report.format()
        assert set(report.expected) == {SOURCE, *TARGETS}
        assert set(report.accuracy) == (set(report.expected) if test_labels else set())  # scored where labelled
    # the report's tables: in the dry run's own folder, the test table only where the test split is labelled
    tables = {p.name for p in (runs / "full-dry-run" / "figures").glob("table1_full*")}
    assert tables == {"table1_full_val.md", "table1_full_val.csv"} | (
        {"table1_full_test.md", "table1_full_test.csv"} if test_labels else set())
    return runs, records


def _assert_reports_the_labelled_test_split(runs, records):
    """Table 1 on the test split from the test phase's own runs, beside the validation table, and
    the claims from it, as the report notebook shows and writes them."""
    assert records.loc[records["train_split"] == "trainval", "acc_test"].notna().all()
    report = (runs / "full-dry-run" / "08_table1_figure4.ipynb").read_text()
    assert "validation split (trained on train, evaluated on val" in report
    assert f"Table 1, top-1 accuracy (%) on the {LABELLED_TITLE}" in report
    assert "claims on Table 1 from the test split" in report and "test labels not available" not in report
    assert "on the labelled test split mean" in report  # each submission scored locally
    test = pd.read_csv(runs / "full-dry-run" / "figures" / "table1_full_test.csv")
    ours = test[test["source"] == "ours"].set_index("model")
    assert ours.loc["Parallel Res. adapt.", list(PAPER_COLUMNS)].notna().all() and ours["S"].notna().all()
    assert (test["source"] == "paper").sum() == len(paper_table1())  # beside the paper's own rows


def test_every_notebook_plans_the_full_profile():
    """The plans of every notebook at the full profile (its own sizes, fractions and epochs, from
    the Decathlon's counts), for both phases and the dry run, without data."""
    for dry_run in (False, True):
        study = Study("full", dry_run=dry_run)
        plan = series_plan(study)
        assert {n for n, _, _ in plan} == set(NOTEBOOKS) - {"00_data", "08_table1_figure4", "10_your_own_domain"}
        assert {c.train_split for _, _, c in plan if c.method != "scratch"} == {"train", "trainval"}
        widths = {c.width for n, _, c in plan if n == "04_regularization"}
        assert widths == {0.5, 1.0, 2.5}
        fractions = {c.train_fraction for _, c in notebook_plans(study, "06_transfer")["transfer"]}
        assert fractions == set(study.settings.transfer_fractions)
        for notebook in NOTEBOOKS:
            for part in notebook_plans(study, notebook).values():
                assert all(TrainConfig.from_dict(c.to_dict()) == c for _, c in part)


@pytest.mark.slow
def test_full_dry_run_on_the_released_decathlon(tmp_path):
    runs, records = _run_full_dry_run(tmp_path, test_labels=False, only=FULL_CODE_PATH)
    assert records["acc_test"].isna().all()  # no test labels: no test accuracy anywhere
    report = (runs / "full-dry-run" / "08_table1_figure4.ipynb").read_text()
    assert "test labels not available; submission at" in report
    assert "claims from the validation table" in report
    assert "validation split (trained on train, evaluated on val" in report
    assert LABELLED_TITLE not in report


@pytest.mark.slow
def test_full_dry_run_reports_table1_on_the_labelled_test_split(tmp_path):
    _assert_reports_the_labelled_test_split(*_run_full_dry_run(tmp_path, test_labels=True, only=TEST_TABLE_PATH))


@pytest.mark.slow
@pytest.mark.slower
def test_full_dry_run_with_test_labels(tmp_path):
    _assert_reports_the_labelled_test_split(*_run_full_dry_run(tmp_path, test_labels=True))
