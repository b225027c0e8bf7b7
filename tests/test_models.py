"""ResNet-26 as docs/authors_code.md specifies it, and the paper's invariants of sec. 3.1-3.2."""

import pytest
import torch

from paperlib.model.adapters import UnknownDomainError
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable
from paperlib.model.sizes import count_parameters, multi_domain_size, plain_reference, round_multiplier, size_multiplier
from paperlib.model.weights import load_matching, transfer_from
from paperlib.report.score import DOMAIN_ORDER

DECATHLON_CLASSES = {"imagenet12": 1000, "aircraft": 100, "cifar100": 100, "daimlerpedcls": 2, "dtd": 47,
                     "gtsrb": 43, "vgg-flowers": 102, "omniglot": 1623, "svhn": 10, "ucf101": 101}
TEN = [(d, DECATHLON_CLASSES[d]) for d in DOMAIN_ORDER]
TINY = dict(width=0.125)


def tiny(domains=(("a", 5), ("b", 3)), **kw):
    torch.manual_seed(0)
    return ResNet26.build(list(domains), **{**TINY, **kw})


def test_authors_parameter_counts_exact():
    plain = count_parameters(plain_reference())
    assert plain == {"shared": 5_806_944, "adapter": 0, "basis": 0, "norm": 7_744, "head": 257_000,
                     "total": 6_071_688}
    parallel = count_parameters(ResNet26.build([("imagenet12", 1000)], adapter="parallel"))
    series = count_parameters(ResNet26.build([("imagenet12", 1000)], adapter="series"))
    assert parallel["adapter"] == 645_216
    assert series["adapter"] == 689_152
    assert series["norm"] - plain["norm"] == 7_232  # the series adapters' own BN1, one per conv


def test_ten_domain_totals_and_table1_par_column():
    reference = plain_reference()
    bn_only = ResNet26.build(TEN)
    parallel = ResNet26.build(TEN, adapter="parallel")
    series = ResNet26.build(TEN, adapter="series")
    half = ResNet26.build(TEN, adapter="parallel", placement="half")
    assert multi_domain_size(bn_only) == 6_688_280
    assert multi_domain_size(parallel) == 13_140_440
    assert multi_domain_size(series) == 13_652_120
    par = {
        "Finetuning": round_multiplier(size_multiplier(bn_only, reference, finetuned=True)),
        "Series": round_multiplier(size_multiplier(series, reference)),
        "Parallel": round_multiplier(size_multiplier(parallel, reference)),
        "Parallel (half)": round_multiplier(size_multiplier(half, reference)),
    }
    assert par == {"Finetuning": 10.0, "Series": 2.0, "Parallel": 2.0, "Parallel (half)": 1.5}


@pytest.mark.parametrize("placement,stages", [("early", {"blocks.0", "blocks.1", "blocks.2", "blocks.3"}),
                                              ("mid", {"blocks.4", "blocks.5", "blocks.6", "blocks.7"}),
                                              ("late", {"blocks.8", "blocks.9", "blocks.10", "blocks.11"})])
def test_placement_puts_adapters_only_in_its_stage(placement, stages):
    model = ResNet26.build([("a", 3)], adapter="parallel", placement=placement, **TINY)
    adapted = {".".join(n.split(".")[:2]) for n, _ in model.named_parameters() if ".adapters." in n}
    assert adapted == stages


def test_half_placement_adapts_second_conv_only():
    model = ResNet26.build([("a", 3)], adapter="parallel", placement="half", **TINY)
    names = [n for n, _ in model.named_parameters() if ".adapters." in n]
    # the authors' proj='01': the second conv of each block, and the stem (their stem always has one)
    assert len(names) == 13 and all(".unit2." in n or n.startswith("stem.") for n in names)


@pytest.mark.parametrize("adapter", [None, "series", "parallel"])
@pytest.mark.parametrize("placement", ["all", "early", "half"])
def test_forward_shapes_finite_and_every_trainable_param_gets_gradient(adapter, placement):
    model = tiny(adapter=adapter, placement=placement)
    set_trainable(model, "parallel" if adapter else "bn", "a")
    out = model(torch.randn(4, 3, 16, 16), domain="a")
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("adapter", ["series", "parallel"])
def test_identity_at_alpha_zero(adapter):
    plain = tiny()
    adapted = tiny(adapter=adapter, adapter_init="zeros")
    load_matching(adapted, plain.state_dict())
    x = torch.randn(3, 3, 16, 16)
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(adapted, mode)()
        torch.testing.assert_close(adapted(x, "b"), plain(x, "b"), rtol=0, atol=1e-6)


def test_adapters_away_from_zero_change_the_function():
    plain = tiny().eval()
    adapted = tiny(adapter="parallel").eval()
    load_matching(adapted, plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(adapted(x, "a"), plain(x, "a"))


def test_adding_a_domain_leaves_old_domains_bit_identical():
    model = tiny(adapter="parallel").eval()
    x = torch.randn(2, 3, 16, 16)
    before = {d: model(x, d).clone() for d in ("a", "b")}
    model.add_domain("c", 7, init_from="a")
    assert model.domains == {"a": 5, "b": 3, "c": 7}
    for d in ("a", "b"):
        assert torch.equal(model(x, d), before[d])
    assert model(x, "c").shape == (2, 7)


def test_unknown_domain_lists_known_ones():
    model = tiny()
    with pytest.raises(UnknownDomainError, match="unknown domain 'zzz'.*a, b"):
        model(torch.randn(1, 3, 16, 16), domain="zzz")
    with pytest.raises(UnknownDomainError, match="a, b"):
        set_trainable(model, "parallel", "zzz")


def test_wrong_number_of_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\), got \(2, 1, 16, 16\)"):
        tiny()(torch.randn(2, 1, 16, 16), domain="a")


def test_bad_model_arguments_list_the_valid_ones():
    with pytest.raises(ValueError, match="early"):
        tiny(placement="everywhere")
    with pytest.raises(ValueError, match="parallel"):
        tiny(adapter="diagonal")
    with pytest.raises(ValueError, match="method"):
        set_trainable(tiny(), "lora", "a")


@pytest.mark.parametrize("adapter", ["series", "parallel"])
def test_frozen_convs_get_no_gradient_and_do_not_move(adapter):
    model = tiny(adapter=adapter)
    trainable = set_trainable(model, adapter, "a")
    assert trainable and all(".base." not in n for n in trainable)
    assert all(".b." not in n and not n.endswith(".b") for n in trainable)  # the other domain stays frozen
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9,
                          weight_decay=1e-3)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16), "a"), torch.arange(4)).backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert p.grad is None, n
            assert torch.equal(p, frozen[n]), n
    assert any(".heads.a." in n for n in trainable) and any(".adapters.a" in n for n in trainable)


def test_transfer_copies_shared_convs_and_source_bn_into_every_domain():
    torch.manual_seed(1)
    source = ResNet26.build([("imagenet12", 10)], **TINY)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
    target = ResNet26.build([("a", 3), ("b", 4)], adapter="parallel", **TINY)
    transfer_from(source, target, source_domain="imagenet12")
    s, t = source.state_dict(), target.state_dict()
    for name, tensor in s.items():
        if ".norms.imagenet12." in name:
            for d in ("a", "b"):
                assert torch.equal(t[name.replace("imagenet12", d)], tensor), name
    shared = [n for n in s if n.endswith("conv.weight")]
    assert shared
    for n in shared:
        assert torch.equal(t[n.replace("conv.weight", "conv.base.weight")], s[n]), n
