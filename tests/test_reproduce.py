"""The full profile's code path, run for two steps per training on a generated tree in the
real Decathlon layout (real domain names and class counts, 72-pixel images, 64-pixel crops).

Two trees. The Decathlon as released (test split stripped of its labels), which `make test` runs
on the notebooks whose code differs at the full profile: the pretraining, the three that hold
Table 1's rows (trained in two phases there: on train for the validation tables, on train+val
for the server's submissions), the report that writes the submissions, and a new domain of
your own. The others (04, 06, 07, 09) run the same functions at the full profile as at smoke,
where nbval executes them; their full plans are built here without training
(`test_every_notebook_plans_the_full_profile`), and with the tree whose test split is labelled
(marker `slower`, deselected by `make test`) the whole series trains. The notebooks above took
3.5 minutes (208 s) on two quiet AMD EPYC cores (`pytest --durations=30`, in `make test`)."""

import json

import pytest

from paperlib.core.paths import project_root
from paperlib.data.domains import SOURCE, TARGETS
from paperlib.data.dryrun import write_real_format_tree
from paperlib.data.submission import check_submission
from paperlib.report.submissions import submission_name
from paperlib.series.notebooks import NOTEBOOKS, notebook_plans, series_plan, submission_rows
from paperlib.series.reproduce import run_series
from paperlib.series.study import Study
from paperlib.train.spec import TrainConfig
from paperlib.train.store import load_records

FULL_CODE_PATH = ("00_data", "01_pretrain", "02_series_vs_parallel", "03_placement", "05_svd", "08_table1_figure4",
                  "10_your_own_domain")


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
    assert set(records["method"]) == {"scratch", "finetune", "head", "bn", "series", "parallel", "parallel_distilled", "svd",
                                      "lora"}
    record = json.loads(next((runs / "full-dry-run" / "results" / "full").glob("*.json")).read_text())
    assert record["config"]["train_limit_batches"] == 2 and record["config"]["batch_size"] == 2
    omniglot = records[(records["domain"] == "omniglot") & (records["method"] == "parallel")].iloc[0]
    assert omniglot["params_head"] == 1623 * 256 + 1623  # the real class count reached the model
    # both phases: the validation tables (train -> val) and the server's trainings (train+val -> test)
    adapted = records[records["method"] != "scratch"]
    assert set(adapted["train_split"]) == {"train", "trainval"}
    assert adapted.loc[adapted["train_split"] == "train", "acc_val"].notna().all()
    # one checked submission per Table 1 row, covering the ten domains
    rows = submission_rows(Study("full", data_root=str(root), dry_run=True))
    subs = runs / "full-dry-run" / "submissions"
    assert sorted(p.name for p in subs.glob("*.json")) == sorted(submission_name(r) for r in rows)
    for path in subs.glob("*.json"):
        report = check_submission(path, root)
        assert report.ok, report.format()
        assert set(report.expected) == {SOURCE, *TARGETS}
    return runs, records


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


@pytest.mark.slow
@pytest.mark.slower
def test_full_dry_run_with_test_labels(tmp_path):
    _, records = _run_full_dry_run(tmp_path, test_labels=True)
    trainval = records[records["train_split"] == "trainval"]
    assert trainval["acc_test"].notna().all()
