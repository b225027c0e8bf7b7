"""Issue 9: the frozen-feature rows of Table 1 (method "head", BN adaptation), notebook 09's plan,
claim and figure, and notebook 01's source curve."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from paperlib.data.domains import TARGETS
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import freeze_norm_statistics, parameter_roles, set_trainable
from paperlib.report.verdicts import combined
from paperlib.report.claims import source_strength_claim, source_strength_gaps
from paperlib.report.plots import accuracy_curve, source_strength
from paperlib.report.table1 import PARTS, size_column
from paperlib.series.cost import source_images
from paperlib.series.notebooks import SERIES, notebook_plans
from paperlib.series.plans import TABLE1_ROWS, pretrain_config
from paperlib.series.study import Study
from paperlib.train.run_data import stratified_subset


def test_head_trains_only_the_domains_head_and_keeps_the_source_statistics():
    model = ResNet26.build([("imagenet12", 12), ("svhn", 10)], width=0.125)
    roles = parameter_roles(model)
    names = set_trainable(model, "head", "svhn")
    assert names and all(roles[n] == ("head", "svhn") for n in names)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(names)
    bn_names = set_trainable(model, "bn", "svhn")
    assert set(names) < set(bn_names) and {roles[n][0] for n in bn_names} == {"norm", "head"}
    # a frozen feature extractor in training mode normalises with, and keeps, the running statistics
    model.train()
    freeze_norm_statistics(model)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.randn(4, 3, 32, 32) * 3 + 1, "svhn")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert any(m.training for m in model.modules())  # the rest stays in training mode (dropout)


@pytest.mark.parametrize("profile", ["mini", "full"])
def test_the_frozen_feature_rows_are_in_every_table1(profile):
    study = Study(replicates=1, profile=profile)
    assert TABLE1_ROWS["Feature extractor"][0] == "head" and TABLE1_ROWS["BN adaptation"][0] == "bn"
    table1 = notebook_plans(study, "02_series_vs_parallel")["table1"]
    for row, method in (("Feature extractor", "head"), ("BN adaptation", "bn")):
        runs = [c for labels, c in table1 if labels["model"] == row]
        assert [c.domains[0] for c in runs] == list(TARGETS) and {c.method for c in runs} == {method}
        assert all(c.pretrained == (pretrain_config(study),) and c.adapter is None for c in runs)


def test_frozen_rows_are_the_smallest_in_the_size_column():
    from paperlib.data.facts import decathlon_counts

    sizes = size_column(1.0, {d: c["classes"] for d, c in decathlon_counts().items()})
    assert sizes["Feature extractor"] == 1 and sizes["BN adaptation"] <= sizes["Parallel Res. adapt."]
    assert set(TABLE1_ROWS) <= set(sizes)


@pytest.mark.parametrize("profile", ["smoke", "mini", "full"])
def test_source_strength_plan_is_sources_by_targets_by_methods(profile):
    study = Study(replicates=1, profile=profile)
    plan = notebook_plans(study, "09_source_strength")["source_strength"]
    assert len(plan) == len({c.run_id for _, c in plan}) == 3 * 3 * 3
    assert {c.domains[0] for _, c in plan} == set(study.settings.transfer_domains)
    assert {c.method for _, c in plan} == {"finetune", "parallel", "bn"}
    nets = {c.pretrained[0].train_fraction: c.pretrained[0] for _, c in plan}
    assert sorted(nets) == [1 / 16, 1 / 4, 1.0]
    assert nets[1.0] == pretrain_config(study)  # the full source is notebook 01's network
    assert {n.epochs for n in nets.values()} == {study.settings.pretrain_epochs}  # the stated principle
    table1 = {c.run_id for _, c in notebook_plans(study, "02_series_vs_parallel")["table1"]}
    assert {c.run_id for labels, c in plan if labels["source_fraction"] == 1.0} <= table1  # trained once


def test_notebook_09_runs_before_the_report_reads_it():
    order = list(SERIES)
    assert order.index("09_source_strength") < order.index("08_table1_figure4")
    assert ("09_source_strength", "source_strength") in PARTS["source_strength"]


@pytest.mark.parametrize("profile", ["smoke", "mini"])
def test_source_images_follow_the_stratified_subset(profile):
    from paperlib.data.mini.counts import resolve_counts

    study = Study(profile=profile)
    counts = resolve_counts(study.settings.mini_scale)["imagenet12"]
    labels = torch.arange(counts.classes).repeat_interleave(counts.train)
    for fraction in (1 / 16, 1 / 4, 1.0):
        assert source_images(study.settings, fraction) == len(stratified_subset(labels, fraction, seed=0))


def _runs(gaps_by_fraction: dict[float, list[float]], replicates: int = 3) -> pd.DataFrame:
    """Three replicates, each the gaps given plus a small shift of its own."""
    rows = []
    for r in range(replicates):
        for fraction, gaps in gaps_by_fraction.items():
            for domain, gap in zip(("ucf101", "cifar100", "svhn"), gaps):
                shift = 0.1 * r * (1 + fraction)
                rows += [{"source_fraction": fraction, "domain": domain, "method": m, "replicate": r, "accuracy": a}
                         for m, a in (("finetune", 50.0), ("parallel", 50.0 + gap + shift), ("bn", 10.0))]
    return pd.DataFrame(rows)


def test_source_strength_claim_follows_its_criterion():
    growing = _runs({1 / 16: [-9, -8, -7], 1 / 4: [-5, -4, -3], 1.0: [-1, 0, 1]})
    gaps = source_strength_gaps(growing)
    assert list(gaps.columns) == ["ucf101", "cifar100", "svhn"] and gaps.loc[1 / 16, "ucf101"] == pytest.approx(-9 + 0.1 * (1 + 1 / 16))
    claim, _, test, shown, steps = source_strength_claim(growing)
    assert combined(steps) == "reproduced" and "slope" in test and "-7.89" in shown and steps[0].n == 3
    assert combined(source_strength_claim(_runs({1 / 16: [-9, -8, -7], 1.0: [-1, 0, 1]}, replicates=1))[-1]) == \
        "unresolved"  # one replicate cannot resolve a claim
    assert combined(source_strength_claim(_runs({1 / 16: [0, 0, 0], 1.0: [-1, -1, -1]}))[-1]) == "not reproduced"
    assert source_strength_claim(_runs({1.0: [1, 1, 1]})) is None  # one source: nothing to compare
    assert source_strength_claim(pd.DataFrame()) is None


def test_source_strength_figure_is_returned_and_written(tmp_path):
    gaps = source_strength_gaps(_runs({1 / 16: [-9, -6, -3], 1.0: [-1, 0, 1]}))
    gaps.index = [3072, 51200]
    fig = source_strength(gaps, profile="mini", path=tmp_path / "source_strength_mini.png")
    assert len(fig.axes[0].lines) == 3 + 1 + 1  # one per target, their mean, the zero line
    assert (tmp_path / "source_strength_mini.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accuracy_curve_prefers_validation_and_falls_back_to_training():
    with_val = [{"epoch": e, "train_acc": {"imagenet12": 10.0 * e}, "val_acc": {"imagenet12": 9.0 * e}}
                for e in (1, 2)]
    fig = accuracy_curve(with_val, "imagenet12", title="t")
    assert [line.get_label() for line in fig.axes[0].lines][0] == "validation accuracy"
    old = [{"epoch": e, "train_acc": {"imagenet12": 10.0 * e}} for e in (1, 2)]
    fig = accuracy_curve(old, "imagenet12", title="t")
    assert [line.get_label() for line in fig.axes[0].lines] == ["training accuracy (augmented batches)"]
    assert "training accuracy shown" in fig.axes[0].texts[0].get_text()
