"""Fair protocols: equal SGD budgets where a claim compares two rows, the authors'
effective weight decays, and both the last and the best-on-validation accuracy in a record."""

from __future__ import annotations

import pytest
import torch
from conftest import random_loader

from paperlib.data.domains import TARGETS
from paperlib.data.mini.counts import resolve_counts
from paperlib.model.compress import compress_jointly
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import parameter_roles, set_trainable
from paperlib.report.budget import budget_rows, budget_table, steps_by
from paperlib.series.plans import TABLE1_ROWS, svd_plan
from paperlib.series.study import Study
from paperlib.train.decay import param_groups
from paperlib.train.engine import train
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig, paper_adapter_weight_decay


def balanced_labels(profile: str):
    """(domain, split) -> labels with the MiniDecathlon's per-class counts of `profile` (the
    full profile: the same per-class shape, big enough for its batch size)."""
    scale = Study(profile=profile).settings.mini_scale or 8.0
    counts = resolve_counts(scale)

    def labels(domain: str, split: str) -> torch.Tensor:
        c = counts[domain]
        per = c.train + c.val if split == "trainval" else getattr(c, split)
        return torch.arange(c.classes).repeat_interleave(per)

    return labels


# ---------------------------------------------------------------- budgets


@pytest.mark.parametrize("profile", ["mini", "full"])
def test_svd_row_gets_the_parallel_rows_steps_per_domain(profile):
    study = Study(profile=profile)
    table = budget_table(study, balanced_labels(profile))
    t1 = table[table.experiment == "table1"]
    for d in TARGETS:
        parallel = steps_by(t1, {"row": "Parallel Res. adapt.", "domain": d}).tolist()
        svd = steps_by(t1, {"row": "Parallel SVD", "domain": d}).tolist()
        assert parallel and svd == parallel, d
    # the split: parallel adapters up to the first milestone, gamma_t after it, lr continuing
    svd = svd_plan(study)[0][1]
    upstream = svd.upstream[0]
    epochs = study.settings.adapt_epochs
    assert upstream.epochs + svd.epochs == epochs and svd.schedule_start == upstream.epochs
    assert svd.initial_lr == pytest.approx(svd.lr * svd.lr_decay)  # past the first milestone, not 0.1
    assert [m + svd.schedule_start for m in svd.milestone_epochs()] == upstream.milestone_epochs()[1:]


def test_transfer_equal_steps_per_method_and_at_least_half_the_full_run():
    study = Study(replicates=1, profile="mini")
    table = budget_table(study, balanced_labels("mini"))
    tr = table[table.experiment == "transfer"]
    s = study.settings
    for d in s.transfer_domains:
        full = steps_by(tr, {"domain": d, "fraction": 1.0})
        assert full.nunique() == 1
        for f in s.transfer_fractions:
            steps = steps_by(tr, {"domain": d, "fraction": f})
            assert sorted(tr.loc[steps.index, "row"]) == ["finetune", "parallel", "series"]
            assert steps.nunique() == 1, (d, f)  # finetuning and adapters: the same steps
            assert steps.iloc[0] >= 0.5 * full.iloc[0], (d, f, steps.iloc[0], full.iloc[0])


def test_budget_counts_steps_as_the_engine_does():
    loader = random_loader(n=50)  # 50 images, batch 16: 3 steps per epoch per domain
    config = TrainConfig(method="parallel", domains=("cifar100", "dtd"), width=0.125, epochs=2, batch_size=16,
                         profile="smoke", eval_splits=(), pretrained=())
    rows = budget_rows("table1", [({"model": "x"}, config)], lambda d, s: loader(d, s).labels)
    assert [r["sgd_steps"] for r in rows] == [2 * 2 * 3] * 2
    result = train(config.replace(method="bn", adapter=None), Runtime(device="cpu"), loader=loader)
    assert sum(e["steps"] for e in result.history) == 2 * 2 * 3


# ---------------------------------------------------------------- weight decay


def authors_decay(method: str, role: str, domain: str, name: str = "") -> float:
    """The decay the authors' sgd.py gives (docs/authors_code.md, "Weight decay in the authors'
    code"): 3x3 1e-4; adapters the domain's; BNs and heads that of the last 4-d tensor trained
    before them; --wd 5e-4 when none trains (bn), and for a series network's stem-adapter BN1 in
    adapter runs, the first parameter, which no 1x1 kernel precedes."""
    if method == "series" and name.startswith("stem.conv.adapters.") and role == "norm":
        return 5e-4
    if role in ("shared", "basis"):
        return 1e-4
    if role == "adapter":
        return paper_adapter_weight_decay()[domain]
    if method in ("scratch", "finetune"):
        return 1e-4
    if method in ("series", "parallel", "svd"):
        return paper_adapter_weight_decay()[domain]
    return 5e-4


@pytest.mark.parametrize("method", ["scratch", "finetune", "parallel", "series", "bn", "svd"])
def test_each_parameter_gets_the_authors_effective_decay(method):
    domains = ("aircraft", "omniglot")
    adapter = {"parallel": "parallel", "series": "series", "svd": "parallel"}.get(method)
    model = ResNet26.build([(d, 3) for d in domains], width=0.125, adapter=adapter)
    if method == "svd":
        model = compress_jointly(model, list(domains), inplace=True)[0]
    config = TrainConfig(method=method, domains=domains, width=0.125, profile="smoke",
                         pretrained=("x",) if method == "svd" else ())
    trainable = set()
    for d in domains:
        trainable |= set(set_trainable(model, method, d))
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    roles = parameter_roles(model)
    seen = set()
    for group in param_groups(model, config):
        for name in group["names"]:
            role, d = roles[name]
            assert group["weight_decay"] == pytest.approx(authors_decay(method, role, d, name)), (name, group["group"])
            seen.add(role)
    assert {"norm", "head"} <= seen


def test_the_old_uniform_rule_stays_available():
    model = ResNet26.build([("aircraft", 3)], width=0.125, adapter="parallel")
    set_trainable(model, "parallel", "aircraft")
    config = TrainConfig(method="parallel", domains=("aircraft",), width=0.125, norm_head_decay="weight_decay")
    groups = {g["group"]: g["weight_decay"] for g in param_groups(model, config)}
    assert groups == {"adapter:aircraft": 0.002, "other": 5e-4}


# ---------------------------------------------------------------- placement, series init


def test_half_keeps_the_stem_adapter_as_the_authors_proj_01():
    model = ResNet26.build([("a", 3)], width=0.125, adapter="parallel", placement="half")
    adapted = {n.split(".adapters.")[0] for n, _ in model.named_parameters() if ".adapters." in n}
    assert adapted == {"stem.conv"} | {f"blocks.{b}.unit2.conv" for b in range(12)}


def test_series_adapters_restart_from_their_init_on_the_series_network():
    from paperlib.model.weights import transfer_from

    torch.manual_seed(1)
    source = ResNet26.build([("imagenet12", 5)], width=0.125, adapter="series")
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    torch.manual_seed(2)
    target = ResNet26.build([("dtd", 3)], width=0.125, adapter="series")
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    transfer_from(source, target, source_domain="imagenet12")
    roles, state, src = parameter_roles(target), target.state_dict(), source.state_dict()
    adapters = [n for n, (r, _) in roles.items() if r == "adapter"]
    assert adapters and all(torch.equal(state[n], fresh[n]) for n in adapters)  # not copied: He init kept
    norms = [n for n, (r, d) in roles.items() if r == "norm" and ".adapters." in n]
    assert norms and all(torch.equal(state[n], src[n.replace(".dtd.", ".imagenet12.")]) for n in norms)


# ---------------------------------------------------------------- last and best-on-validation


def test_record_holds_last_and_best_on_validation(tmp_path):
    from paperlib.train.run import run_or_load
    from paperlib.train.store import ResultStore

    config = TrainConfig(method="scratch", domains=("dtd",), width=0.125, epochs=3, batch_size=16, lr=0.05,
                         profile="smoke", eval_splits=("val", "test"))
    record = run_or_load(config, ResultStore(tmp_path), Runtime(device="cpu"), loader=random_loader())
    vals = [e["val_acc"]["dtd"] for e in record["history"]]
    assert len(vals) == 3 and record["best_epoch"] == 1 + vals.index(max(vals))
    assert set(record["metrics_best"]["dtd"]) == set(record["metrics"]["dtd"]) == {"val", "test"}
    assert record["metrics_best"]["dtd"]["val"] == pytest.approx(max(vals))
    assert record["metrics"]["dtd"]["val"] == pytest.approx(vals[-1])  # last epoch's weights
    # a run without a val split has no best
    plain = run_or_load(config.replace(eval_splits=("test",), epochs=1), ResultStore(tmp_path),
                        Runtime(device="cpu"), loader=random_loader())
    assert plain["metrics_best"] is None and "val_acc" not in plain["history"][0]


def test_budget_csv_is_written_from_the_plans(tmp_path):
    import pandas as pd

    from paperlib.report.budget import BUDGET_COLUMNS, write_budget_csv

    study = Study(profile="mini")
    path = write_budget_csv(study, tmp_path, balanced_labels("mini"))
    frame = pd.read_csv(path)
    assert path.name == "budget_mini.csv" and tuple(frame.columns) == BUDGET_COLUMNS
    assert set(frame.experiment) == {"table1", "transfer"}
    assert set(TABLE1_ROWS) | {"Parallel SVD"} == set(frame[frame.experiment == "table1"].row)
    assert (frame.sgd_steps > 0).all()


@pytest.mark.parametrize("placement", ["early", "mid", "late"])
def test_placements_outside_the_authors_code_give_every_bn_the_adapter_decay(placement):
    """Early / mid / late are not in the authors' code: every BN and head of the domain takes its
    adapter decay, also those of the stages before the first adapter (a literal walk would give 5e-4)."""
    model = ResNet26.build([("aircraft", 3)], width=0.125, adapter="parallel", placement=placement)
    set_trainable(model, "parallel", "aircraft")
    config = TrainConfig(method="parallel", domains=("aircraft",), width=0.125, placement=placement)
    decays = {g["weight_decay"] for g in param_groups(model, config)}
    assert decays == {0.002}
