"""Method "lora" end to end: the spec, what trains and with which decay, evaluation on
the merged network, save / load, resume after a kill; the Table 1 row's size from the modules,
the front's plan and figure, the claim's criterion."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import random_loader

from paperlib.data.domains import SOURCE, TARGETS
from paperlib.model.lora import apply_lora, lora_layers
from paperlib.model.lora_budget import matched_rank
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import parameter_roles, set_trainable
from paperlib.model.sizes import multi_domain_size, plain_reference, round_multiplier
from paperlib.model.weights import load_model, save_model
from paperlib.report.pareto import lora_claim, pareto_figure
from paperlib.report.table1 import size_column
from paperlib.series.lora_front import LORA_ROW, PARALLEL_ROW, ten_domains
from paperlib.series.notebooks import notebook_plans
from paperlib.series.plans import table1_plan
from paperlib.series.study import Study
from paperlib.train.build import build_model
from paperlib.train.checkpoint import save_checkpoint
from paperlib.train.decay import param_groups
from paperlib.train.engine import train
from paperlib.train.profiles import profile_classes
from paperlib.train.run import run_or_load
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig
from paperlib.train.store import ResultStore

CPU = Runtime(device="cpu")
TINY = dict(width=0.125, epochs=2, batch_size=16, lr=0.05, profile="smoke", train_limit_batches=None,
            eval_limit_batches=None, eval_splits=("val",))


@pytest.fixture(scope="module")
def loader():
    return random_loader()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, loader) -> str:
    config = TrainConfig(**{**TINY, "method": "scratch", "domains": ("imagenet12",), "epochs": 1})
    path = tmp_path_factory.mktemp("pre") / "imagenet12.safetensors"
    save_model(path, train(config, CPU, loader=loader).model, config)
    return str(path)


def lora_config(pretrained: str, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "method": "lora", "lora_rank": 2, "domains": ("cifar100",),
                          "pretrained": (pretrained,), **changes})


def test_spec_needs_a_rank_with_lora_only_and_keeps_other_run_ids():
    with pytest.raises(ValueError, match="lora_rank"):
        TrainConfig(method="lora", domains=("cifar100",), pretrained=("x.safetensors",))
    with pytest.raises(ValueError, match="lora_rank"):
        TrainConfig(method="parallel", lora_rank=4)
    plain = TrainConfig(method="parallel")
    assert "lora_rank" not in plain.to_dict()  # runs without LoRA keep the ids they had
    a, b = (TrainConfig(method="lora", lora_rank=r, pretrained=("x.safetensors",)) for r in (2, 3))
    assert a.to_dict()["lora_rank"] == 2 and a.run_id != b.run_id
    assert TrainConfig.from_dict(a.to_dict()) == a


def test_lora_trains_only_the_lora_factors_bns_and_head_with_the_paper_decay(pretrained, loader):
    config = lora_config(pretrained)
    before = build_model(config, {"cifar100": 4}).state_dict()
    model = train(config, CPU, loader=loader).model
    assert any(True for _ in lora_layers(model))
    moved = {n for n, t in model.state_dict().items() if not torch.equal(t, before[n])}
    changed_params = {n for n, _ in model.named_parameters()} & moved
    roles = parameter_roles(model)
    assert changed_params and all(roles[n] in {("adapter", "cifar100"), ("norm", "cifar100"), ("head", "cifar100")}
                                  for n in changed_params), sorted(changed_params)
    assert all(".lora_" in n for n in changed_params if roles[n][0] == "adapter")
    assert any(".lora_B." in n for n in changed_params)  # B left zero: the update B A would never move
    assert not any("base_layer" in n for n in moved)  # the frozen 3x3 convs
    built = build_model(config, {"cifar100": 4})
    for name, p in built.named_parameters():
        p.requires_grad_(name in set(set_trainable(built, "lora", "cifar100")))
    groups = {g["group"]: g for g in param_groups(built, config)}
    assert groups["adapter:cifar100"]["weight_decay"] == config.adapter_decay("cifar100") == 0.0001
    assert all(".lora_" in n for n in groups["adapter:cifar100"]["names"])


def test_a_lora_run_is_saved_loaded_and_evaluated_merged(pretrained, loader, tmp_path):
    config = lora_config(pretrained, epochs=1)
    store = ResultStore(tmp_path / "store")
    record = run_or_load(config, store, CPU, loader=loader)
    loaded = load_model(store.weights_path(config))
    assert sum(1 for _ in lora_layers(loaded)) > 0
    result = train(config, CPU, loader=loader)  # the same run again: deterministic on the CPU
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    x = torch.randn(3, 3, 16, 16)
    assert torch.allclose(loaded.eval()(x, domain="cifar100"), result.model.eval()(x, domain="cifar100"))
    assert record["metrics"]["cifar100"]["val"] == result.metrics["cifar100"]["val"]


def test_a_killed_lora_run_resumes_to_the_uninterrupted_result(pretrained, loader, tmp_path, monkeypatch):
    config = lora_config(pretrained, epochs=2)
    clean = train(config, CPU, loader=loader)
    save = save_checkpoint

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt("killed after the first checkpoint")

    path = tmp_path / "run.ckpt"
    monkeypatch.setattr("paperlib.train.engine.save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(config, CPU, loader=loader, checkpoint=path)
    monkeypatch.setattr("paperlib.train.engine.save_checkpoint", save)
    resumed = train(config, CPU, loader=loader, checkpoint=path)
    assert resumed.resumed_from_epoch == 1
    for name, tensor in clean.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.metrics == clean.metrics


def test_the_rows_multiplier_and_rank_are_computed_from_the_modules():
    study = Study(replicates=1, profile="smoke")
    width, classes = study.settings.width, profile_classes(study.settings)
    domains = [(d, classes[d]) for d in (SOURCE, *TARGETS)]
    parallel = multi_domain_size(ResNet26.build(domains, width=width, adapter="parallel"))
    r = matched_rank(ten_domains(classes), width)
    size = lambda rank: multi_domain_size(apply_lora(ResNet26.build(domains, width=width), rank))  # noqa: E731
    assert size(r) <= parallel < size(r + 1)  # the largest rank within the parallel row's size
    reference = multi_domain_size(plain_reference(width, classes[SOURCE]))
    assert size_column(width, classes)[LORA_ROW] == round_multiplier(size(r) / reference)
    plan = table1_plan(study, [LORA_ROW, "Parallel Res. adapt."], ["svhn"])
    assert [(c.method, c.lora_rank) for _, c in plan] == [("lora", r), ("parallel", None)]


def test_the_fronts_plan_shape_and_reuse():
    study = Study(replicates=1, profile="mini")
    parts = notebook_plans(study, "05_svd")
    plan, targets = parts["front"], set(study.settings.transfer_domains)
    points = pd.DataFrame([{**labels, "domain": c.domains[0], "run_id": c.run_id, "method": c.method}
                           for labels, c in plan])
    assert set(points["domain"]) == targets
    assert points.groupby("family")["point"].nunique().to_dict() == {"parallel": 1, "svd": 3, "lora": 3}
    assert (points.groupby("point")["domain"].nunique() == 3).all() and len(points) == 21
    reused = {c.run_id for name in ("parallel", "svd", "lora") for _, c in parts[name] if c.domains[0] in targets}
    row_rank = matched_rank(ten_domains(profile_classes(study.settings)), study.settings.width)
    assert reused == set(points.loc[points["point"].isin(["parallel K = C", "SVD K = C/2", f"LoRA r = {row_rank}"]),
                                               "run_id"])
    size = points.drop_duplicates("point").set_index("point")["size_x"]
    loras = sorted(size[[p for p in size.index if p.startswith("LoRA")]])
    partners = sorted(size[["SVD K = C/4", "SVD K = C/2", "parallel K = C"]])
    assert all(lo <= hi for lo, hi in zip(loras, partners)) and len(set(loras)) == 3


def test_the_claim_criterion_and_the_front_figure(tmp_path):
    ours = pd.DataFrame({"model": [PARALLEL_ROW, LORA_ROW], "params_x": [2.0, 2.0],
                         "ImNet": [50.0, 50.0], "SVHN": [90.0, 91.0], "DTD": [40.0, 30.0], "mean": [60.0, 57.0],
                         "S": [300.0, 250.0]})
    def long(gap: float) -> pd.DataFrame:  # parallel - LoRA = gap on every (replicate, domain), with some noise
        return pd.DataFrame([{"model": m, "domain": d, "replicate": s, "accuracy": 60.0 + (gap if m == PARALLEL_ROW else 0)
                              + 0.1 * ((s + i) % 3)} for m in (PARALLEL_ROW, LORA_ROW) for s in range(3)
                             for i, d in enumerate(("svhn", "dtd"))])

    claim, _, test, text, (diff,) = lora_claim(long(3.0), ours)
    assert diff.verdict == "reproduced" and "1/2 targets" in text and test == "parallel mean > LoRA mean"
    assert lora_claim(long(-3.0), ours)[4][0].verdict == "not reproduced"
    frame = pd.DataFrame({"domain": ["svhn"] * 3, "family": ["parallel", "svd", "lora"],
                          "point": ["parallel K = C", "SVD K = C/4", "LoRA r = 1"], "size_x": [2.2, 1.4, 1.3],
                          "accuracy": [90.0, 88.0, 87.0]})
    pareto_figure(frame, profile="smoke", path=tmp_path / "pareto_smoke.png")
    assert (tmp_path / "pareto_smoke.png").read_bytes()[:4] == b"\x89PNG"
