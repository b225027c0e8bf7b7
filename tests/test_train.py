"""The training engine on tiny models and random data: every method trains, frozen weights stay
put, weight decay goes to the right groups, several domains alternate, bad input stops the run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import random_loader, random_split

from paperlib.model.resnet import ResNet26
from paperlib.model.roles import parameter_roles
from paperlib.model.weights import load_model, save_model
from paperlib.train.build import build_model
from paperlib.train.checkpoint import load_checkpoint
from paperlib.train.decay import param_groups
from paperlib.train.engine import NonFiniteLossError, train
from paperlib.train.evaluation import evaluate
from paperlib.train.run_data import stratified_subset
from paperlib.train.runtime import Runtime
from paperlib.train.spec import TrainConfig

CPU = Runtime(device="cpu")

TINY = dict(width=0.125, epochs=4, batch_size=16, lr=0.05, profile="smoke",
            train_limit_batches=None, eval_limit_batches=None)


def tiny(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


@pytest.fixture(scope="module")
def loader():
    return random_loader()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, loader):
    """A network 'pretrained' from scratch on imagenet12 (random data), saved as the store does."""
    config = tiny(method="scratch", domains=("imagenet12",), epochs=2)
    path = tmp_path_factory.mktemp("pre") / "imagenet12.safetensors"
    save_model(path, train(config, CPU, loader=loader).model, config)
    return str(path)


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, loader, pretrained):
    """Parallel adapters trained on two domains from the pretrained network (the input of SVD)."""
    folder = tmp_path_factory.mktemp("adapted")
    paths = []
    for domain in ("cifar100", "dtd"):
        config = tiny(method="parallel", domains=(domain,), pretrained=(pretrained,), epochs=2)
        paths.append(str(folder / f"{domain}.safetensors"))
        save_model(paths[-1], train(config, CPU, loader=loader).model, config)
    return tuple(paths)


def _frozen_unchanged(config: TrainConfig, loader, result) -> tuple[int, int]:
    """Every parameter that was not trainable is bit-identical to the initial model's; returns
    (frozen count, trainable-and-changed count)."""
    initial = build_model(config, {d: loader(d, "train").num_classes for d in config.domains})
    trainable = {n for g in param_groups_after(config, loader) for n in g}
    start, end = initial.state_dict(), result.model.state_dict()
    frozen = changed = 0
    for name, _ in initial.named_parameters():
        if name in trainable:
            changed += not torch.equal(start[name], end[name])
        else:
            assert torch.equal(start[name], end[name]), f"frozen {name} moved"
            frozen += 1
    return frozen, changed


def param_groups_after(config: TrainConfig, loader) -> list[list[str]]:
    from paperlib.model.roles import set_trainable

    model = build_model(config, {d: loader(d, "train").num_classes for d in config.domains})
    names = set()
    for d in config.domains:
        names |= set(set_trainable(model, config.method, d))
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    return [g["names"] for g in param_groups(model, config)]


@pytest.mark.parametrize("method", ["scratch", "finetune", "bn", "series", "parallel"])
def test_each_method_trains_and_freezes_what_it_should(method, loader, pretrained):
    config = tiny(method=method, domains=("cifar100",), pretrained=() if method == "scratch" else (pretrained,))
    result = train(config, CPU, loader=loader)
    losses = [h["loss"]["cifar100"] for h in result.history]
    assert len(losses) == config.epochs and losses[-1] < losses[0] * 0.9, losses
    val = loader("cifar100", "val")  # the reported accuracy is that of the reported predictions
    ids, predicted = result.predictions["cifar100"]["val"]
    assert len(ids) > 0 and torch.equal(ids, val.image_ids[:len(ids)])
    correct = (predicted == val.labels[:len(predicted)]).double().mean().item()
    assert result.metrics["cifar100"]["val"] == pytest.approx(100.0 * correct)
    frozen, changed = _frozen_unchanged(config, loader, result)
    roles = parameter_roles(result.model)
    shared = [n for n, (role, _) in roles.items() if role == "shared"]
    if method in ("bn", "series", "parallel"):
        assert frozen >= len(shared) > 0  # the 3x3 convolutions did not move
    else:
        assert frozen == 0
    assert changed > 0
    if method in ("scratch", "finetune", "bn"):
        assert result.model.config.adapter is None
    else:
        assert result.model.config.adapter == method


def test_transfer_starts_from_the_pretrained_network(loader, pretrained):
    config = tiny(method="bn", domains=("cifar100",), pretrained=(pretrained,))
    model = build_model(config, {"cifar100": 4})
    source = load_model(pretrained)
    assert torch.equal(model.state_dict()["blocks.3.unit2.conv.weight"], source.state_dict()["blocks.3.unit2.conv.weight"])
    assert torch.equal(model.state_dict()["blocks.3.unit2.bn.norms.cifar100.running_var"],
                       source.state_dict()["blocks.3.unit2.bn.norms.imagenet12.running_var"])


def test_svd_trains_gammas_only(loader, adapted):
    config = tiny(method="svd", domains=("cifar100", "dtd"), pretrained=adapted)
    result = train(config, CPU, loader=loader)
    for d in config.domains:
        losses = [h["loss"][d] for h in result.history]
        assert losses[-1] < losses[0], (d, losses)
    frozen, changed = _frozen_unchanged(config, loader, result)
    roles = parameter_roles(result.model)
    assert any(role == "basis" for role, _ in roles.values())
    trainable = {n for names in param_groups_after(config, loader) for n in names}
    assert not any(roles[n][0] in ("shared", "basis") for n in trainable)
    assert any(n.endswith(".gamma") for n in trainable) and changed > 0 and frozen > 0


def test_svd_starts_from_each_domains_own_adapters(adapted):
    config = tiny(method="svd", domains=("cifar100", "dtd"), pretrained=adapted, svd_rank_abs=4096)  # K capped at the full rank
    model = build_model(config, {"cifar100": 4, "dtd": 4})
    for path, d in zip(adapted, config.domains):
        source = load_model(path)
        x = torch.randn(2, 3, 16, 16)
        model.eval(), source.eval()
        torch.testing.assert_close(model(x, domain=d), source(x, domain=d), atol=1e-4, rtol=1e-4)


def test_several_domains_alternate_with_their_own_heads(loader, pretrained):
    config = tiny(method="parallel", domains=("cifar100", "svhn", "dtd"), pretrained=(pretrained,), epochs=2)
    result = train(config, CPU, loader=loader)
    for h in result.history:
        assert set(h["loss"]) == set(config.domains)
        assert set(h["train_acc"]) == set(config.domains)
    assert set(result.metrics) == set(config.domains)
    initial = build_model(config, {d: 4 for d in config.domains}).state_dict()
    final = result.model.state_dict()
    for d in config.domains:  # every domain's head and adapters were trained
        assert not torch.equal(initial[f"classifier.heads.{d}.weight"], final[f"classifier.heads.{d}.weight"])
        assert not torch.equal(initial[f"blocks.5.unit1.conv.adapters.{d}.weight"],
                               final[f"blocks.5.unit1.conv.adapters.{d}.weight"])


def test_round_robin_order(loader, monkeypatch):
    """Batches alternate domain by domain; an epoch is T x the smallest domain's batch count."""
    seen = []
    original = ResNet26.set_domain

    def spy(self, name):
        seen.append(name)
        return original(self, name)

    monkeypatch.setattr(ResNet26, "set_domain", spy)
    small = {("dtd", "train"): random_split("dtd", "train", n=32, size=18, seed=1)}
    load = lambda d, s: small.get((d, s)) or loader(d, s)  # noqa: E731
    config = tiny(method="bn", domains=("cifar100", "dtd"), epochs=1, eval_splits=())
    train(config, CPU, loader=load)
    assert seen == ["cifar100", "dtd"] * 2  # min(64 // 16, 32 // 16) = 2 batches of each


def test_weight_decay_per_group():
    config = tiny(method="parallel", domains=("aircraft", "cifar100", "omniglot"))
    model = build_model(config, {"aircraft": 4, "cifar100": 4, "omniglot": 4})
    from paperlib.model.roles import set_trainable

    names = set()
    for d in config.domains:
        names |= set(set_trainable(model, "parallel", d))
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    groups = {g["group"]: g for g in param_groups(model, config)}
    domains = ("aircraft", "cifar100", "omniglot")
    assert set(groups) == {f"{kind}:{d}" for kind in ("adapter", "norm_head") for d in domains}
    assert groups["adapter:aircraft"]["weight_decay"] == 0.002  # paper sec. 4.1
    assert groups["adapter:omniglot"]["weight_decay"] == 0.0005
    assert groups["adapter:cifar100"]["weight_decay"] == 0.0001
    for d in domains:  # the authors' sgd.py: BNs and heads take the decay of the adapter before them
        assert groups[f"norm_head:{d}"]["weight_decay"] == groups[f"adapter:{d}"]["weight_decay"]
    roles = parameter_roles(model)
    for key, group in groups.items():
        for name in group["names"]:
            role, d = roles[name]
            assert (role == "adapter") == key.startswith("adapter:")
            if role == "adapter":
                assert key == f"adapter:{d}"
            else:
                assert role in ("norm", "head") and key == f"norm_head:{d}"
    # overrides, and the shared 3x3 convolutions when they train
    config = tiny(method="finetune", domains=("aircraft",), adapter="parallel", shared_weight_decay=1e-4,
                  adapter_weight_decay={"aircraft": 0.01})
    model = build_model(config, {"aircraft": 4})
    set_trainable(model, "finetune", "aircraft")
    groups = {g["group"]: g for g in param_groups(model, config)}
    assert groups["shared"]["weight_decay"] == 1e-4 and groups["adapter:aircraft"]["weight_decay"] == 0.01
    assert all(roles_[0] == "shared" for roles_ in (parameter_roles(model)[n] for n in groups["shared"]["names"]))


def test_weight_decay_reaches_the_optimizer(loader, monkeypatch):
    """The groups built above are the ones SGD steps with."""
    captured = {}
    original = torch.optim.SGD.__init__

    def spy(self, params, **kwargs):
        params = list(params)
        captured["groups"] = {g["group"]: g["weight_decay"] for g in params}
        original(self, params, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "__init__", spy)
    train(tiny(method="series", domains=("dtd",), epochs=1, eval_splits=()), CPU, loader=loader)
    # the series stem adapter's BN1 comes before any 1x1 kernel: --wd, as in the authors' SGD
    assert captured["groups"] == {"adapter:dtd": 0.002, "norm_head:dtd": 0.002, "norm_head:dtd:0.0005": 5e-4}


def test_non_finite_loss_names_step_domain_and_lr_and_keeps_the_checkpoint(loader, tmp_path, monkeypatch):
    config = tiny(method="bn", domains=("cifar100", "dtd"), epochs=3, lr=0.05, milestones=(0.34, 0.9))
    calls = {"n": 0}
    original = F.cross_entropy

    def poisoned(logits, target, *args, **kwargs):
        calls["n"] += 1
        loss = original(logits, target, *args, **kwargs)
        return loss * float("nan") if calls["n"] == 18 else loss  # 8 steps per epoch: step 17, epoch 3, dtd

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    path = tmp_path / "run.ckpt"
    with pytest.raises(NonFiniteLossError) as err:
        train(config, CPU, loader=loader, checkpoint=path)
    message = str(err.value)
    assert "step 17" in message and "'dtd'" in message and "learning rate 0.005" in message
    assert "epoch 3" in message and str(path) in message
    state = load_checkpoint(path)
    assert state["epoch"] == 2  # the last good one
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_a_real_divergence_is_caught(loader):
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss .* at step \d+ .*'cifar100' with learning rate 1e\+20"):
        train(tiny(method="scratch", domains=("cifar100",), lr=1e20, epochs=2), CPU, loader=loader)


def test_train_fraction_is_a_seeded_stratified_subset():
    labels = torch.arange(400) % 7
    labels = labels[torch.randperm(400, generator=torch.Generator().manual_seed(3))]
    sub = stratified_subset(labels, 0.25, seed=0)
    counts = torch.bincount(labels[sub], minlength=7)
    expected = torch.round(torch.bincount(labels, minlength=7).double() * 0.25).long()
    assert torch.equal(counts, expected)
    assert torch.equal(sub, stratified_subset(labels, 0.25, seed=0))
    assert not torch.equal(sub, stratified_subset(labels, 0.25, seed=1))
    assert torch.equal(sub, torch.sort(sub).values) and len(set(sub.tolist())) == len(sub)
    assert len(stratified_subset(labels, 0.001, seed=0)) == 7  # at least one image per class
    assert torch.equal(stratified_subset(labels, 1.0, seed=0), torch.arange(400))


def test_fraction_changes_the_steps(loader):
    full = train(tiny(method="bn", domains=("cifar100",), epochs=1, eval_splits=()), CPU, loader=loader)
    half = train(tiny(method="bn", domains=("cifar100",), train_fraction=0.5, epochs=1, eval_splits=()),
                 CPU, loader=loader)
    assert full.history[0]["steps"] == 4 and half.history[0]["steps"] == 2  # 64 and 32 images, batch 16


def test_evaluate_returns_predictions_and_no_accuracy_without_labels(loader):
    model = build_model(tiny(method="bn", domains=("cifar100",)), {"cifar100": 4})
    split = loader("cifar100", "val")
    acc, ids, pred = evaluate(model, split, crop=16, batch_size=10)
    assert ids.tolist() == split.image_ids.tolist() and pred.shape == (len(split),)
    assert acc == pytest.approx(float((pred == split.labels).double().mean() * 100))
    stripped = type(split)(split.domain, "test", split.images, torch.full_like(split.labels, -1), split.image_ids, 4)
    acc, _, pred2 = evaluate(model, stripped, crop=16, batch_size=10, limit_batches=2)
    assert acc is None and torch.equal(pred2, pred[:20])


def test_bad_crop_and_unknown_things_are_reported(loader, tmp_path):
    with pytest.raises(ValueError, match="multiple of 8"):
        train(tiny(method="bn", domains=("cifar100",), crop=12), CPU, loader=loader)
    with pytest.raises(ValueError, match="valid domains: aircraft"):
        tiny(method="bn", domains=("cifar10",))
    only_cifar = tiny(method="scratch", domains=("cifar100",))
    save_model(tmp_path / "c.safetensors", build_model(only_cifar, {"cifar100": 4}), only_cifar)
    with pytest.raises(ValueError, match="no pretrained network has domain 'imagenet12'"):
        build_model(tiny(method="bn", domains=("svhn",), pretrained=(str(tmp_path / "c.safetensors"),)), {"svhn": 4})


def test_adapters_of_different_backbones_are_not_combined(tmp_path):
    paths = []
    for seed, domain in ((0, "cifar100"), (1, "dtd")):  # two unrelated "backbones"
        config = tiny(method="parallel", domains=(domain,), seed=seed)
        paths.append(str(tmp_path / f"{domain}.safetensors"))
        save_model(paths[-1], build_model(config, {domain: 4}), config)
    with pytest.raises(ValueError, match="disagree on the shared weight"):
        build_model(tiny(method="svd", domains=("cifar100", "dtd"), pretrained=tuple(paths)), {"cifar100": 4, "dtd": 4})


def test_svd_domains_compress_together_but_only_domains_train(loader, adapted):
    config = tiny(method="svd", domains=("dtd",), svd_domains=("cifar100", "dtd"), pretrained=adapted, epochs=2)
    result = train(config, CPU, loader=loader)
    assert set(result.metrics) == {"dtd"} and set(result.model.domains) == {"dtd", "cifar100"}
    initial = build_model(config, {"dtd": 4}).state_dict()
    final = result.model.state_dict()
    gammas = [k for k in final if k.endswith(".gamma")]
    assert any(not torch.equal(initial[k], final[k]) for k in gammas if ".dtd." in k)
    assert all(torch.equal(initial[k], final[k]) for k in final if ".cifar100." in k or k.endswith(".basis"))
    with pytest.raises(ValueError, match="must include domains"):
        tiny(method="svd", domains=("svhn",), svd_domains=("cifar100", "dtd"), pretrained=adapted)


def test_class_fraction_trains_and_evaluates_on_a_seeded_subset_of_classes(loader):
    from paperlib.train.run_data import class_subset

    config = tiny(method="scratch", domains=("imagenet12",), class_fraction=0.5, epochs=1, batch_size=8)
    kept = class_subset(4, 0.5, seed=0)
    assert kept.tolist() == sorted(kept.tolist()) and len(kept) == 2
    result = train(config, CPU, loader=loader)
    train_split, val = loader("imagenet12", "train"), loader("imagenet12", "val")
    in_kept = torch.isin(train_split.labels, kept)
    assert result.history[0]["steps"] == int(in_kept.sum()) // 8
    ids, pred = result.predictions["imagenet12"]["val"]
    assert torch.equal(ids, val.image_ids[torch.isin(val.labels, kept)])
    assert class_subset(4, 1.0, seed=0) is None


def test_train_step_calls_a_wrapper_that_has_no_truth_value():
    """torch.compile's OptimizedModule forwards len() to the model, which has none: the step
    must call the wrapper it is given, never test its truth (a compiled run once failed so)."""
    import torch

    from paperlib.model.resnet import ResNet26
    from paperlib.train.step import train_step

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def __len__(self):
            raise TypeError("no len()")

        def forward(self, x):
            self.calls += 1
            return self.inner(x)

    model = ResNet26.build([("cifar100", 4)], width=0.125, adapter="parallel")
    wrapper = Wrapper(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 3])
    loss, logits = train_step(model, optimizer, x, y, "cifar100", net=wrapper, autocast=False)
    assert wrapper.calls == 1 and logits.shape == (2, 4) and torch.isfinite(loss)
