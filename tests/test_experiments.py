"""The plans of the notebook series, the report built from their frames, and the CLI."""

import math

import pandas as pd
import pytest

from paperlib import cli, experiments as ex, report
from paperlib.reproduce import NOTEBOOKS, print_plan
from paperlib.series import series_plan


def test_study_and_settings_validate_the_profile():
    with pytest.raises(ValueError, match="smoke, mini, full"):
        ex.Study(profile="huge")
    full = ex.Study(profile="full").settings
    assert (full.image_size, full.crop, full.width, full.pretrain_epochs) == (72, 64, 1.0, 120)
    dry = ex.Study(profile="full", dry_run=True).settings
    assert (dry.image_size, dry.crop, dry.width, dry.limit_batches) == (72, 64, 1.0, 2)


def test_series_plan_is_complete_and_without_duplicates():
    study = ex.Study(profile="mini")
    plan = series_plan(study)
    ids = [c.run_id for _, _, c in plan]
    assert len(ids) == len(set(ids))
    methods = {c.method for _, _, c in plan}
    assert methods == {"scratch", "finetune", "head", "bn", "series", "parallel", "svd", "lora"}
    placements = {c.placement for _, _, c in plan if c.method == "parallel"}
    assert placements == {"all", "early", "mid", "late", "half"}
    assert {n for n, _, _ in plan} == set(NOTEBOOKS) - {"00_data", "08_table1_figure4", "10_your_own_domain"}


def test_adapters_start_from_the_right_pretrained_network():
    study = ex.Study(profile="mini")
    plain, series = ex.pretrain_config(study), ex.pretrain_config(study, adapter="series")
    rows = dict((labels["model"], c) for labels, c in ex.table1_plan(study, list(ex.TABLE1_ROWS), ["dtd"]))
    assert rows["Series Res. adapt."].pretrained == (series,)  # the upstream run, as its spec
    assert rows["Parallel Res. adapt."].pretrained == (plain,)
    assert rows["Parallel (half)"].placement == "half"
    a_post = ex.series_a_posteriori_plan(study, ["dtd"])[0][1]
    assert a_post.method == "series" and a_post.pretrained == (plain,)
    svd = ex.svd_plan(study, targets=["dtd", "svhn"])
    assert all(c.svd_domains == ("dtd", "svhn") and len(c.pretrained) == 2 for _, c in svd)
    with pytest.raises(ValueError, match="Finetuning"):
        ex.table1_plan(study, ["Parallel (everywhere)"])


def test_figure4_plans_vary_what_the_paper_varies():
    study = ex.Study(profile="mini")
    s = study.settings
    wd = ex.width_dropout_plan(study)
    assert len(wd) == len(s.width_factors) * 4
    assert {c.width for _, c in wd} == {s.width * f for f in s.width_factors}
    assert {c.dropout for _, c in wd} == {0.0, 0.5}
    classes = ex.class_plan(study)
    assert sorted(ex.pretrain_config(study, class_fraction=f).class_fraction for f in s.class_fractions) == sorted(
        s.class_fractions)
    assert len(classes) == len(s.class_fractions)
    transfer = ex.transfer_plan(study)
    assert {c.train_fraction for _, c in transfer} == set(s.transfer_fractions)


def test_plan_prints_every_training_and_the_total(capsys):
    print_plan("smoke")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(series_plan(ex.Study(profile="smoke"))) + 2  # header and total
    assert "GPU-hours" in lines[-1]


def synthetic_results(gap: float) -> report.SeriesResults:
    """Frames shaped as experiments.run_all returns them; parallel beats finetuning by `gap`."""
    models = {"Finetuning": 50.0, "Series Res. adapt.": 51.0, "Parallel Res. adapt.": 50 + gap,
              "Parallel (early)": 45.0, "Parallel (mid)": 47.0, "Parallel (late)": 49.0, "Parallel (half)": 49.5,
              "Parallel SVD": 50 + gap}
    rows = [{"model": m, "domain": d, "accuracy": acc + i} for m, acc in models.items() for i, d in enumerate(ex.TARGETS)]
    pretrain = pd.DataFrame([{"network": n, "width_factor": 1.0, "class_fraction": 1.0, "accuracy": 40.0, "domain":
                              "imagenet12"} for n in ("plain", "series")])
    apost = pd.DataFrame([{"model": "Series (a posteriori)", "domain": d, "accuracy": 48.0} for d in ex.TARGETS])
    uniform = pd.DataFrame([{"model": "uniform", "domain": d, "accuracy": 48.0} for d in ex.TARGETS])
    wd = pd.DataFrame([{"width_factor": w, "dropout": p, "subset": s, "accuracy": 40 + 10 * w + (5 * w - 3) * p}
                       for w in (0.5, 1.0, 2.0) for p in (False, True) for s in ("full", "few")])
    transfer = pd.DataFrame([{"domain": d, "fraction": f, "method": m, "accuracy": 30 + 20 * f + (5 if m != "finetune" else 0)}
                             for d in ("ucf101", "cifar100", "svhn") for f in (0.1, 1.0) for m in ("finetune", "parallel")])
    classes = pd.DataFrame([{"class_fraction": c, "domain": "cifar100", "accuracy": 30 + 10 * c} for c in (0.25, 1.0)])
    return report.SeriesResults(pretrain=pretrain, table1=pd.DataFrame(rows), a_posteriori=apost, uniform_decay=uniform,
                                width_dropout=wd, transfer=transfer, classes=classes)


def test_table1_and_claims_from_frames():
    classes = {"imagenet12": 100, **{d: 10 for d in ex.TARGETS}}
    results = synthetic_results(gap=2.0)
    ours = report.table1(results, classes=classes, width=0.25, profile="mini")
    assert list(ours["model"])[:3] == ["Finetuning", "Series Res. adapt.", "Parallel Res. adapt."]
    finetune = ours[ours["model"] == "Finetuning"].iloc[0]
    assert finetune["S"] == pytest.approx(250 * 10, rel=1e-6)  # each domain at its own baseline scores 250
    assert finetune["ImNet"] == 40.0 and not math.isnan(finetune["params_x"])
    verdicts = dict(zip(*report.claims(ours, results)[["claim", "verdict"]].T.values))
    assert verdicts["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] == "reproduced"
    assert verdicts["Adapting all three stages beats adapting one"] == "reproduced"
    assert verdicts["Dropout helps the adapters of a wider pretrained network"] == "reproduced"
    assert verdicts["Finetuning wins only on a large dataset with all its data"] == "not reproduced"  # never wins
    worse = report.table1(synthetic_results(gap=-2.0), classes=classes, width=0.25, profile="mini")
    flipped = dict(zip(*report.claims(worse, synthetic_results(gap=-2.0))[["claim", "verdict"]].T.values))
    assert flipped["Parallel adapters beat finetuning with 2x instead of 10x the parameters"] == "not reproduced"
    beside = report.table1_beside_paper(ours)
    assert set(beside["source"]) == {"paper", "ours"} and len(beside[beside["source"] == "paper"]) == 10


def test_size_column_at_the_papers_scale():
    from paperlib.data.facts import decathlon_counts

    sizes = report.size_column(1.0, {d: c["classes"] for d, c in decathlon_counts().items()})
    assert sizes["Finetuning"] == 10 and sizes["Parallel Res. adapt."] == 2 and sizes["Series Res. adapt."] == 2
    assert sizes["Parallel (half)"] == 1.5 and sizes["Parallel SVD"] == 1.5


def test_readme_block_is_replaced_and_missing_markers_are_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- begin:mini-results -->\nold\n<!-- end:mini-results -->\nend\n")
    assert report.update_readme(readme, "mini-results", "| a |\n|---|\n| 1 |")
    assert readme.read_text() == "intro\n<!-- begin:mini-results -->\n| a |\n|---|\n| 1 |\n<!-- end:mini-results -->\nend\n"
    readme.write_text("nothing")
    with pytest.raises(ValueError, match="begin:mini-results"):
        report.update_readme(readme, "mini-results", "x")


def test_cli_dispatch(capsys):
    assert cli.main(["--help"]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_notebook_on_its_own_trains_what_it_starts_from(tmp_path):
    """SVD alone: prepares the data, pretrains, trains the parallel adapters it compresses, then itself."""
    study = ex.Study(profile="smoke", data_root=str(tmp_path / "data"), results_dir=str(tmp_path / "results"),
                     workers=1)  # the serial path (its progress messages)
    messages = []
    frame = ex.run_all(study, ex.svd_plan(study, targets=["dtd", "svhn"]), progress=messages.append)
    assert list(frame["domain"]) == ["dtd", "svhn"] and frame["accuracy"].notna().all()
    assert sum("first training" in m for m in messages) == 3  # the source network, then two adapters
    assert len(list((tmp_path / "results" / "smoke").glob("*.json"))) == 5


def test_the_series_is_declared_once_and_the_report_reads_its_parts():
    from paperlib.params import PlacementParams, ReportParams
    from paperlib.series import SERIES, notebook_plans

    study = ex.Study(profile="mini")
    assert tuple(SERIES) == NOTEBOOKS
    for name, parts in report.PARTS.items():
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
    effect = report.checkpoint_effect(results, "test").set_index("model")
    expected_last = t[t["model"] == "Parallel Res. adapt."]["accuracy"].mean()
    assert effect.loc["Parallel Res. adapt.", "last epoch"] == pytest.approx(expected_last, abs=0.01)
    assert effect.loc["Finetuning", "best - last"] == pytest.approx(1.0)
    assert effect.loc["Series (a posteriori)", "best - last"] == pytest.approx(-2.0)
    assert effect.loc["Parallel SVD", "best - last"] == 0.0
