"""The plans of the notebook series, the report built from their frames, and the CLI."""

import math

import pandas as pd
import pytest

from paperlib.cli import main
from paperlib.core.readme_blocks import update_readme
from paperlib.data.domains import TARGETS
from paperlib.report.claims import claims
from paperlib.report.table1 import PARTS, SeriesResults, checkpoint_effect, size_column, table1, table1_beside_paper
from paperlib.series import estimate
from paperlib.series.notebooks import NOTEBOOKS, series_plan, series_trainings
from paperlib.series.plans import (
    TABLE1_ROWS,
    class_plan,
    pretrain_config,
    series_a_posteriori_plan,
    svd_plan,
    table1_plan,
    transfer_plan,
    width_dropout_plan,
)
from paperlib.series.reproduce import print_plan
from paperlib.series.running import run_all
from paperlib.series.study import Study


def test_study_and_settings_validate_the_profile():
    with pytest.raises(ValueError, match="smoke, mini, full"):
        Study(profile="huge")
    full = Study(profile="full").settings
    assert (full.image_size, full.crop, full.width, full.pretrain_epochs) == (72, 64, 1.0, 120)
    dry = Study(profile="full", dry_run=True).settings
    assert (dry.image_size, dry.crop, dry.width, dry.limit_batches) == (72, 64, 1.0, 2)


def test_series_plan_is_complete_and_without_duplicates():
    study = Study(profile="mini")
    plan = series_plan(study)
    ids = [c.run_id for _, _, c in plan]
    assert len(ids) == len(set(ids))
    methods = {c.method for _, _, c in plan}
    assert methods == {"scratch", "finetune", "head", "bn", "series", "parallel", "svd", "lora", "parallel_distilled"}
    placements = {c.placement for _, _, c in plan if c.method == "parallel"}
    assert placements == {"all", "early", "mid", "late", "half"}
    assert {n for n, _, _ in plan} == set(NOTEBOOKS) - {"00_data", "08_table1_figure4", "10_your_own_domain"}


def test_adapters_start_from_the_right_pretrained_network():
    study = Study(profile="mini", replicates=1)
    plain, series = pretrain_config(study), pretrain_config(study, adapter="series")
    rows = dict((labels["model"], c) for labels, c in table1_plan(study, list(TABLE1_ROWS), ["dtd"]))
    assert rows["Series Res. adapt."].pretrained == (series,)  # the upstream run, as its spec
    assert rows["Parallel Res. adapt."].pretrained == (plain,)
    assert rows["Parallel (half)"].placement == "half"
    a_post = series_a_posteriori_plan(study, ["dtd"])[0][1]
    assert a_post.method == "series" and a_post.pretrained == (plain,)
    svd = svd_plan(study, targets=["dtd", "svhn"])
    assert all(c.svd_domains == ("dtd", "svhn") and len(c.pretrained) == 2 for _, c in svd)
    with pytest.raises(ValueError, match="Finetuning"):
        table1_plan(study, ["Parallel (everywhere)"])


def test_figure4_plans_vary_what_the_paper_varies():
    study = Study(replicates=1, profile="mini")
    s = study.settings
    wd = width_dropout_plan(study)
    assert len(wd) == len(s.width_factors) * 4
    assert {c.width for _, c in wd} == {s.width * f for f in s.width_factors}
    assert {c.dropout for _, c in wd} == {0.0, 0.5}
    classes = class_plan(study)
    assert sorted(pretrain_config(study, class_fraction=f).class_fraction for f in s.class_fractions) == sorted(
        s.class_fractions)
    assert len(classes) == len(s.class_fractions)
    transfer = transfer_plan(study)
    assert {c.train_fraction for _, c in transfer} == set(s.transfer_fractions)


def test_plan_prints_every_training_and_the_total(capsys, monkeypatch):
    monkeypatch.setattr(estimate, "calibrate_cpu", lambda settings, threads=1, seconds=2.0: 1e9)  # no timing here
    print_plan(Study(profile="smoke"), calibrate=True)
    lines = capsys.readouterr().out.strip().splitlines()
    trainings = len(series_trainings(Study(profile="smoke")))
    assert lines.index(next(line for line in lines if line.startswith("* "))) == trainings + 1  # after the header
    assert int(next(line for line in lines if line.startswith("all ")).split()[1]) == trainings
    assert "calibrated here" in lines[-3] and "1 GFLOP/s" in lines[-3] and "h100" in lines[-2]


def synthetic_results(gap: float) -> SeriesResults:
    """Frames shaped as running.run_all returns them; parallel beats finetuning by `gap`."""
    models = {"Finetuning": 50.0, "Series Res. adapt.": 51.0, "Parallel Res. adapt.": 50 + gap,
              "Parallel (early)": 45.0, "Parallel (mid)": 47.0, "Parallel (late)": 49.0, "Parallel (half)": 49.5,
              "Parallel SVD": 50 + gap}
    rows = [{"model": m, "domain": d, "replicate": s, "accuracy": acc + i + 0.1 * s} for m, acc in models.items()
            for i, d in enumerate(TARGETS) for s in range(3)]
    pretrain = pd.DataFrame([{"network": n, "width_factor": 1.0, "class_fraction": 1.0, "accuracy": 40.0, "domain":
                              "imagenet12", "replicate": s} for n in ("plain", "series") for s in range(3)])
    apost = pd.DataFrame([{"model": "Series (a posteriori)", "domain": d, "replicate": s, "accuracy": 48.0 + 0.1 * s}
                          for d in TARGETS for s in range(3)])
    uniform = pd.DataFrame([{"model": "uniform", "domain": d, "replicate": s, "accuracy": 48.0} for d in TARGETS
                            for s in range(3)])
    wd = pd.DataFrame([{"width_factor": w, "dropout": p, "subset": s, "replicate": k,
                        "accuracy": 40 + 10 * w + (5 * w - 3) * p + 0.1 * k}
                       for w in (0.5, 1.0, 2.0) for p in (False, True) for s in ("full", "few") for k in range(3)])
    transfer = pd.DataFrame([{"domain": d, "fraction": f, "method": m, "replicate": k,
                              "accuracy": 30 + 20 * f + (5 if m != "finetune" else 0) + 0.1 * k}
                             for d in ("ucf101", "cifar100", "svhn") for f in (0.1, 1.0) for m in ("finetune", "parallel")
                             for k in range(3)])
    classes = pd.DataFrame([{"class_fraction": c, "domain": "cifar100", "replicate": k, "accuracy": 30 + 10 * c + 0.1 * k}
                            for c in (0.25, 1.0) for k in range(3)])
    return SeriesResults(pretrain=pretrain, table1=pd.DataFrame(rows), a_posteriori=apost, uniform_decay=uniform,
                                width_dropout=wd, transfer=transfer, classes=classes)


def test_table1_and_claims_from_frames():
    classes = {"imagenet12": 100, **{d: 10 for d in TARGETS}}
    results = synthetic_results(gap=2.0)
    ours = table1(results, classes=classes, width=0.25, profile="mini")
    assert list(ours["model"])[:3] == ["Finetuning", "Series Res. adapt.", "Parallel Res. adapt."]
    finetune = ours[ours["model"] == "Finetuning"].iloc[0]
    # each domain at its own baseline scores 250 (the replicates, either side of their mean, average close to it)
    assert finetune["S"] == pytest.approx(250 * 10, abs=0.1) and finetune["replicates"] == 3 and finetune["mean_sd"] > 0
    assert finetune["ImNet"] == 40.0 and not math.isnan(finetune["params_x"])
    verdicts = dict(zip(*claims(ours, results)[["claim", "verdict"]].T.values))
    assert verdicts["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] == "reproduced"
    assert verdicts["Adapting all three stages beats adapting one"] == "reproduced"
    assert verdicts["Dropout helps the adapters of a wider pretrained network"] == "reproduced"
    assert verdicts["Finetuning wins only on a large dataset with all its data"] == "not reproduced"  # never wins
    worse = table1(synthetic_results(gap=-2.0), classes=classes, width=0.25, profile="mini")
    flipped = dict(zip(*claims(worse, synthetic_results(gap=-2.0))[["claim", "verdict"]].T.values))
    assert flipped["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] == "not reproduced"
    beside = table1_beside_paper(ours)
    assert set(beside["source"]) == {"paper", "ours"} and len(beside[beside["source"] == "paper"]) == 10


def test_size_column_at_the_papers_scale():
    from paperlib.data.facts import decathlon_counts

    sizes = size_column(1.0, {d: c["classes"] for d, c in decathlon_counts().items()})
    assert sizes["Finetuning"] == 10 and sizes["Parallel Res. adapt."] == 2 and sizes["Series Res. adapt."] == 2
    assert sizes["Parallel (half)"] == 1.5 and sizes["Parallel SVD"] == 1.5


def test_readme_block_is_replaced_and_missing_markers_are_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- begin:mini-results -->\nold\n<!-- end:mini-results -->\nend\n")
    assert update_readme(readme, "mini-results", "| a |\n|---|\n| 1 |")
    assert readme.read_text() == "intro\n<!-- begin:mini-results -->\n| a |\n|---|\n| 1 |\n<!-- end:mini-results -->\nend\n"
    readme.write_text("nothing")
    with pytest.raises(ValueError, match="begin:mini-results"):
        update_readme(readme, "mini-results", "x")


def test_cli_dispatch(capsys):
    assert main(["--help"]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_notebook_on_its_own_trains_what_it_starts_from(tmp_path):
    """SVD alone: prepares the data, pretrains, trains the parallel adapters it compresses, then itself."""
    study = Study(replicates=1, profile="smoke", data_root=str(tmp_path / "data"), results_dir=str(tmp_path / "results"),
                     workers=1)  # the serial path (its progress messages)
    messages = []
    frame = run_all(study, svd_plan(study, targets=["dtd", "svhn"]), progress=messages.append)
    assert list(frame["domain"]) == ["dtd", "svhn"] and frame["accuracy"].notna().all()
    assert sum("first training" in m for m in messages) == 3  # the source network, then two adapters
    assert len(list((tmp_path / "results" / "smoke").glob("*.json"))) == 5


def test_the_series_is_declared_once_and_the_report_reads_its_parts():
    from paperlib.series.notebooks import SERIES, notebook_plans
    from paperlib.series.params import PlacementParams, ReportParams

    study = Study(replicates=1, profile="mini")
    assert tuple(SERIES) == NOTEBOOKS
    for name, parts in PARTS.items():
        for notebook, part in parts:
            assert part in notebook_plans(study, notebook), f"report.{name} reads a part {notebook} does not run"
    # an ablation is a parameter of its notebook: the plan follows it
    late = notebook_plans(study, "03_placement", PlacementParams(placements=("late",), targets=("dtd",)))
    assert [c.placement for _, c in late["table1"]] == ["all", "late"]
    with pytest.raises(TypeError, match="PlacementParams"):
        notebook_plans(study, "03_placement", ReportParams())


def test_checkpoint_effect_compares_last_and_best_on_validation_per_row():
    results = synthetic_results(gap=2.0)
    t = results.table1
    t["acc_test"] = t["accuracy"]
    t["acc_best_test"] = t["accuracy"] + t["model"].map({"Finetuning": 1.0}).fillna(0.0)
    results.a_posteriori["acc_test"] = results.a_posteriori["accuracy"]
    results.a_posteriori["acc_best_test"] = results.a_posteriori["accuracy"] - 2.0
    effect = checkpoint_effect(results, "test").set_index("model")
    expected_last = t[t["model"] == "Parallel Res. adapt."]["accuracy"].mean()
    assert effect.loc["Parallel Res. adapt.", "last epoch"] == pytest.approx(expected_last, abs=0.01)
    assert effect.loc["Finetuning", "best - last"] == pytest.approx(1.0)
    assert effect.loc["Series (a posteriori)", "best - last"] == pytest.approx(-2.0)
    assert effect.loc["Parallel SVD", "best - last"] == 0.0


def test_plan_of_some_notebooks_counts_their_runs_and_the_upstream_runs_they_need(capsys, monkeypatch):
    monkeypatch.setattr(estimate, "calibrate_cpu", lambda settings, threads=1, seconds=2.0: 1e9)  # no timing here
    study = Study(profile="smoke")
    only = ["03_placement"]
    print_plan(study, only=only, calibrate=True)
    lines = capsys.readouterr().out.strip().splitlines()
    own = [c for notebook, _, c in series_plan(study) if notebook in only]
    planned = series_trainings(study, only)
    assert {c.run_id for _, _, c in planned} >= {c.run_id for c in own}
    assert any(c.method == "scratch" for _, _, c in planned)  # the source network it starts from
    assert {notebook for notebook, _, _ in planned} == set(only)
    assert int(next(line for line in lines if line.startswith("all ")).split()[1]) == len(planned)
    assert len(planned) < len(series_trainings(study))
    with pytest.raises(ValueError, match="unknown notebook"):
        print_plan(study, only=["03_placment"])
