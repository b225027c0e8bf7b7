"""LoRA through peft on ResNet-26's 3x3 convolutions (paperlib.model.lora): identity at init, merge exact,
peft's parameter count, the budget rank, and what trains."""

import pytest
import torch
from peft.tuners.lora import LoraLayer

from paperlib.data.facts import decathlon_counts
from paperlib.data.mini.counts import default_counts
from paperlib.model.lora import apply_lora, lora_layers, merge_lora, parallel_matched_rank, unmerge_lora
from paperlib.model.lora_budget import lora_size_per_domain, lora_targets, rank_for_size
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import parameter_roles, set_trainable
from paperlib.model.sizes import multi_domain_size, plain_reference, round_multiplier
from paperlib.train.decay import param_groups
from paperlib.train.spec import TrainConfig

DOMAINS = (("cifar100", 5), ("svhn", 3), ("ucf101", 4))


def tiny(domains=DOMAINS, width=0.125) -> ResNet26:
    torch.manual_seed(0)
    return ResNet26.build(list(domains), width=width)


def images(n=4, side=16) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(1))


def perturb_lora_b(model: ResNet26, std: float = 0.3) -> None:
    """peft starts with B = 0 (an identity adapter): move every B away from it, differently per domain."""
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            for b in layer.lora_B.values():
                b.weight.copy_(torch.randn(b.weight.shape, generator=gen) * std)


def outputs(model: ResNet26, x: torch.Tensor) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        return {d: model(x, domain=d) for d in model.domains}


def test_every_3x3_conv_is_a_peft_lora_layer_with_one_adapter_per_domain():
    model = apply_lora(tiny(), rank=2)
    names = [n for n, _ in lora_layers(model)]
    assert len(names) == 25 and names[0] == "stem.conv"  # stem + 12 blocks x 2 convs
    assert lora_targets(model) == []  # nothing plain is left to adapt
    for _, layer in lora_layers(model):
        assert isinstance(layer, LoraLayer)
        assert list(layer.lora_A) == list(layer.lora_B) == [d for d, _ in DOMAINS]
        assert layer.scaling == {d: 1.0 for d, _ in DOMAINS}
    assert type(model) is ResNet26 and model.domains == dict(DOMAINS)
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(model, rank=2)


def test_adapted_network_equals_its_base_at_initialisation():
    base = tiny()
    x = images()
    expected = outputs(base, x)
    adapted = apply_lora(tiny(), rank=3)
    a_weights = [a.weight.detach() for _, layer in lora_layers(adapted) for a in layer.lora_A.values()]
    assert all(bool(w.abs().sum() > 0) for w in a_weights)  # only B = 0 makes it the identity
    for d, y in outputs(adapted, x).items():
        torch.testing.assert_close(y, expected[d], rtol=0, atol=0)


def test_merged_equals_unmerged_and_unmerge_restores_the_others():
    model = apply_lora(tiny(), rank=2)
    perturb_lora_b(model)
    x = images()
    before = outputs(model, x)
    base = outputs(tiny(), x)
    assert not torch.allclose(before["cifar100"], base["cifar100"], atol=1e-3)  # the adapter does something
    weights = {n: p.clone() for n, p in model.named_parameters()}

    merged = merge_lora(model, "cifar100")
    assert all(layer.merged_adapters == ["cifar100"] for _, layer in lora_layers(merged))
    merged.eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(x), before["cifar100"], rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="merged"):
        merged.set_domain("svhn")
    assert all(torch.equal(p, weights[n]) for n, p in model.named_parameters())  # a copy by default

    restored = unmerge_lora(merged)
    for d, y in outputs(restored, x).items():
        torch.testing.assert_close(y, before[d], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rank", [1, 3])
def test_parameter_count_per_conv_is_r_times_cin_k_k_plus_cout(rank):
    model = apply_lora(tiny(), rank=rank)
    for name, layer in lora_layers(model):
        conv = layer.get_base_layer()
        k = conv.kernel_size[0]
        expected = rank * (conv.in_channels * k * k + conv.out_channels)
        for d, _ in DOMAINS:
            built = sum(p.numel() for part in (layer.lora_A[d], layer.lora_B[d]) for p in part.parameters())
            assert built == expected, name
    per_domain = sum(p.numel() for n, p in model.named_parameters() if ".lora_A.svhn." in n or ".lora_B.svhn." in n)
    assert per_domain == lora_size_per_domain(tiny(), rank)


def test_budget_rank_is_the_largest_within_the_parallel_size_measured_on_peft_networks():
    domains = [(d, c.classes) for d, c in default_counts().items()]
    budget = parallel_matched_rank(domains, width=0.125)
    parallel = multi_domain_size(ResNet26.build(domains, width=0.125, adapter="parallel"))
    reference = multi_domain_size(plain_reference(0.125, dict(domains)["imagenet12"]))

    def lora_size(r):
        return multi_domain_size(apply_lora(ResNet26.build(domains, width=0.125), r))

    assert lora_size(budget.rank) <= parallel < lora_size(budget.rank + 1)
    assert budget.multiplier == pytest.approx(lora_size(budget.rank) / reference)
    assert budget.parallel_multiplier == pytest.approx(parallel / reference)
    # the heads and BNs are the same in both networks: the class counts cannot change the rank
    assert parallel_matched_rank([(d, 7) for d, _ in domains], width=0.125).rank == budget.rank


@pytest.mark.parametrize("width, classes", [
    (1.0, {d: c["classes"] for d, c in decathlon_counts().items()}),  # full: the Visual Decathlon
    (0.25, {d: c.classes for d, c in default_counts().items()}),  # mini: the MiniDecathlon
])
def test_budget_rank_gives_the_parallel_rows_table1_size_at_the_profiles(width, classes):
    budget = parallel_matched_rank(list(classes.items()), width=width)
    assert round_multiplier(budget.multiplier) == round_multiplier(budget.parallel_multiplier)
    one_rank = lora_size_per_domain(ResNet26.build(list(classes.items()), width=width), 1)
    assert budget.lora_per_domain <= budget.parallel_per_domain < budget.lora_per_domain + one_rank


def test_rank_for_size_inverts_the_size():
    bare = tiny()
    target = multi_domain_size(apply_lora(tiny(), rank=4))
    assert rank_for_size(bare, target) == rank_for_size(bare, target + 1) == 4
    assert rank_for_size(bare, target - 1) == 3
    assert rank_for_size(bare, multi_domain_size(bare)) == 1  # never below one


def test_roles_and_what_trains():
    model = apply_lora(tiny(), rank=2)
    roles = parameter_roles(model)
    assert roles["blocks.3.unit2.conv.lora_A.svhn.weight"] == ("adapter", "svhn")
    assert roles["blocks.3.unit2.conv.lora_B.svhn.weight"] == ("adapter", "svhn")
    assert roles["blocks.3.unit2.conv.base_layer.weight"] == ("shared", None)
    names = set(set_trainable(model, "lora", "svhn"))
    assert names == {n for n, (role, d) in roles.items() if d == "svhn"}
    assert {roles[n][0] for n in names} == {"adapter", "norm", "head"}
    with pytest.raises(ValueError, match="apply_lora"):
        set_trainable(tiny(), "lora", "svhn")


def test_short_training_moves_only_the_trained_domains_lora_bns_and_heads():
    model = apply_lora(tiny(), rank=2)
    config = TrainConfig(method="lora", lora_rank=2, domains=("cifar100", "svhn"), width=0.125)
    trainable = set()
    for d in config.domains:
        trainable |= set(set_trainable(model, "lora", d))
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    groups = param_groups(model, config)
    decay = {g["group"]: g["weight_decay"] for g in groups}
    assert decay["adapter:cifar100"] == config.adapter_decay("cifar100")  # the paper's per-domain decay
    assert any(".lora_B.svhn." in n for g in groups if g["group"] == "adapter:svhn" for n in g["names"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    model.train()
    gen = torch.Generator().manual_seed(3)
    for step in range(4):
        domain = config.domains[step % 2]
        x = torch.randn(4, 3, 16, 16, generator=gen)
        y = torch.randint(0, model.domains[domain], (4,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x, domain=domain), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # switching kept them
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    for k in moved:
        assert ".svhn." in k or ".cifar100." in k, k
    assert not any("base_layer" in k or ".ucf101." in k for k in moved)
    for d in config.domains:
        for part in ("lora_A", "lora_B", "norms", "heads"):
            assert any(f".{part}.{d}." in k for k in moved), (part, d)


def test_state_dict_round_trip_and_add_domain():
    model = apply_lora(tiny(), rank=2)
    perturb_lora_b(model)
    x = images()
    expected = outputs(model, x)
    rebuilt = apply_lora(tiny(), rank=2)  # how a saved LoRA network is loaded back
    rebuilt.load_state_dict(model.state_dict())
    for d, y in outputs(rebuilt, x).items():
        torch.testing.assert_close(y, expected[d], rtol=0, atol=0)

    rebuilt.add_domain("dtd", 6, init_from="svhn")
    assert model.domains.keys() < rebuilt.domains.keys()
    assert all("dtd" in layer.lora_A for _, layer in lora_layers(rebuilt))
    rebuilt.eval()
    with torch.no_grad():
        copied = rebuilt.set_domain("dtd").forward_features(x)
        torch.testing.assert_close(copied, rebuilt.set_domain("svhn").forward_features(x), rtol=0, atol=0)


def test_readme_states_the_rank_and_multiplier_the_modules_give():
    """The README's LoRA budget block is `front.budget_markdown()` (written by notebook 08), not typed."""
    from pathlib import Path

    from paperlib.report.pareto import budget_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("<!-- begin:lora-budget -->\n")[1].split("<!-- end:lora-budget -->")[0]
    assert block == budget_markdown()
    assert "| full | 1 | 19 | x2.1618 | x2.1642 |" in block
