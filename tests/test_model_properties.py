"""Properties of the adapters (paper sec. 3.1) and of the multi-domain ResNet-26 (sec. 3.2) that
the design states: exact geometry of the parallel branch for any padding and dilation, the series
formula, He initialisation, fuse/unfuse as exact inverses that work on a copy, per-domain
independence of what `add_domain` and `add_parallel_adapters` create, the mixed-domain batch,
adapter files, and the one-line errors that name what is wrong.

Tiny widths and inputs: every test runs in well under a second on one core.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from paperlib.model.adapter_files import AdapterFileError, file_header
from paperlib.model.adapters import (
    AdaptedConv,
    DomainBatchNorm,
    DomainLinear,
    LowRankAdapter,
    ParallelAdapter,
    SeriesAdapter,
    UnknownDomainError,
    adapted_convs,
    add_parallel_adapters,
    domain_modules,
    fuse_adapters,
    model_domains,
    set_domain,
    unfuse_adapters,
)
from paperlib.model.resnet import ConvUnit, ModelConfig, ResNet26, _shortcut, conv3x3

TINY = dict(width=0.125)  # stem 4, stages 8 / 16 / 32 channels


@contextlib.contextmanager
def seeded(seed: int):
    """Module constructors draw from torch's global generator: fork it so the test is hermetic."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def randomize_domain_state(model: nn.Module, seed: int) -> nn.Module:
    """Every per-domain tensor (adapters, BN affine and running stats, heads) away from its
    initial value, so that a fresh module could never pass for a copied one."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if any(k in name for k in (".adapters.", ".norms.", ".heads.")) and t.is_floating_point():
                noise = torch.rand(t.shape, generator=g)
                t.copy_(0.5 + noise if name.endswith("running_var") else 0.2 * (noise - 0.5) + t)
    return model


def tiny(domains=(("a", 5), ("b", 3)), seed: int = 0, **kw) -> ResNet26:
    with seeded(seed):
        return ResNet26.build(list(domains), **{**TINY, **kw})


def reference_g(base: nn.Conv2d, alpha: torch.Tensor) -> torch.Tensor:
    """g = f + diag_L(alpha), written independently of `diag_embed`: alpha added at the centre tap."""
    g = base.weight.detach().clone()
    kh, kw = base.kernel_size
    g[:, :, kh // 2, kw // 2] += alpha.detach()[:, :, 0, 0]
    return g


# ---------------------------------------------------------------- initialisation


def assert_he(weight: torch.Tensor, fan: int):
    """Sample mean ~ 0 and sample std ~ sqrt(2 / fan) (He et al.; the authors' k*k*C_out)."""
    std = math.sqrt(2.0 / fan)
    w = weight.detach().flatten()
    assert abs(w.std().item() / std - 1) < 0.05, (w.std().item(), std)
    assert abs(w.mean().item()) < 5 * std / math.sqrt(w.numel())


def test_he_initialisation_of_convolutions_and_adapters():
    """He init as in the authors' code, std = sqrt(2 / (k k C_out)), for the shared 3x3 filters and
    for the 1x1 adapters built with their default init ("he"), directly or through a ConvUnit:
    the scale of the starting point decides how far a fresh adapter moves the pretrained network."""
    with seeded(1):
        conv = conv3x3(32, 128)
        parallel = ParallelAdapter(128, 64)
        series = SeriesAdapter(96)
        unit = ConvUnit(32, 96, 1, ["a"], "parallel")
    assert_he(conv.weight, 3 * 3 * 128)
    assert_he(parallel.weight, 128)
    assert_he(series.conv.weight, 96)
    assert_he(unit.conv.adapters["a"].weight, 96)
    assert_he(unit.conv.base.weight, 3 * 3 * 96)
    x = randn(1, 32, 5, 7, seed=2)
    assert conv(x).shape == (1, 128, 5, 7)  # conv3x3 keeps the size by default (stride 1, padding 1)
    with pytest.raises(ValueError, match="unknown adapter init 'xavier'; choose 'he' or 'zeros'"):
        ParallelAdapter(4, 4, init="xavier")


# ---------------------------------------------------------------- the parallel adapter's geometry

GEOMETRY = [
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=3, padding="valid", stride=2),
    dict(kernel_size=5, padding="same", dilation=2),
    dict(kernel_size=5, padding="same"),
    dict(kernel_size=3, padding="same", dilation=(1, 2)),
    dict(kernel_size=3, padding=(1, 2), dilation=(1, 2)),
    dict(kernel_size=3, padding=(0, 1), stride=2),
    dict(kernel_size=3, padding=(2, 0)),
    dict(kernel_size=3, padding=(0, 2)),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "two-branch"])
@pytest.mark.parametrize("case", GEOMETRY, ids=[str(c) for c in GEOMETRY])
def test_parallel_adapter_is_a_convolution_with_f_plus_diag_alpha(case, fused):
    """Sec. 3.1.2: f * x + diag_1(alpha) * x = (f + diag_L(alpha)) * x, for every padding ('valid',
    'same', numeric, asymmetric) and dilation (also different per axis), in both the one-convolution
    and the two-branch forward: the 1x1 branch must read the pixel under the kernel centre."""
    with seeded(3):
        base = nn.Conv2d(4, 6, bias=False, **case)
        conv = AdaptedConv(base, ["d"])
    conv.fused_training = fused
    conv.active_domain = "d"
    x = randn(2, 4, 9, 10, seed=4)
    expected = F.conv2d(x, reference_g(base, conv.adapters["d"].weight), stride=base.stride,
                        padding=base.padding, dilation=base.dilation)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_unbatched_image_like_nn_conv2d():
    """AdaptedConv replaces an nn.Conv2d in any network, so it takes an unbatched (C, H, W) image as
    nn.Conv2d does, in both forwards, with the batched result, and (as nn.Conv2d) without warnings."""
    with seeded(5):
        conv = AdaptedConv(nn.Conv2d(3, 4, 3, padding=1, bias=False), ["d"])
    conv.active_domain = "d"
    x = randn(2, 3, 6, 7, seed=6)
    for fused in (True, False):
        conv.fused_training = fused
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            torch.testing.assert_close(conv(x[1]), conv(x)[1], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- series adapters


def test_series_adapter_formula_and_any_base_convolution():
    """Sec. 3.1.1: z = y + alpha * BN1(y), y = f * x, with BN1 the adapter's own batch norm. It acts
    on the convolution's output, so any convolution can carry one (even non-square kernels and
    reflect padding, which a parallel 1x1 branch cannot express). Its alpha is the 1x1 kernel, and
    it has no additive delta weight: fusing is for parallel adapters only."""
    with seeded(10):
        conv = AdaptedConv(nn.Conv2d(4, 6, (1, 3), padding=(0, 1), padding_mode="reflect", bias=False),
                           ["d"], mode="series")
    randomize_domain_state(conv, 11).eval()
    conv.active_domain = "d"
    x = randn(2, 4, 5, 5, seed=12)
    adapter = conv.adapters["d"]
    y = conv.base(x)
    bn = adapter.norm
    normed = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    normed = normed * bn.weight[:, None, None] + bn.bias[:, None, None]
    expected = y + torch.einsum("oi,nihw->nohw", adapter.conv.weight[:, :, 0, 0], normed)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
    assert conv.alpha("d") is adapter.conv.weight and conv.alpha("d").shape == (6, 6, 1, 1)
    with pytest.raises(ValueError, match="^only parallel adapters are additive and can be fused"):
        conv.delta_weight("d")


# ---------------------------------------------------------------- one-line errors naming the culprit


def test_adapter_errors_name_the_layer_and_the_problem():
    """A bad input gets a one-line error naming it; a layer built without a name is called 'conv'."""
    with pytest.raises(ValueError, match=r"^cannot adapt conv: kernel \(2, 2\) is not odd and square"):
        AdaptedConv(nn.Conv2d(4, 4, 2), ["d"])
    with pytest.raises(ValueError, match=r"^cannot adapt conv: kernel \(1, 3\) is not odd and square"):
        AdaptedConv(nn.Conv2d(4, 4, (1, 3), padding=(0, 1)), ["d"])
    reflect = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"^cannot adapt conv: padding_mode 'reflect' \(only 'zeros'\)"):
        AdaptedConv(reflect, ["d"])
    with pytest.raises(ValueError, match=r"^cannot adapt layer2\.conv: padding_mode 'reflect'"):
        AdaptedConv(reflect, ["d"], name="layer2.conv")
    with pytest.raises(ValueError, match=r"^cannot add a series adapter to grouped conv conv \(groups=2\)"):
        AdaptedConv(nn.Conv2d(4, 4, 3, padding=1, groups=2), ["d"], mode="series")
    with pytest.raises(ValueError, match="unknown adapter mode 'diagonal'; choose one of"):
        AdaptedConv(nn.Conv2d(4, 4, 3, padding=1), ["d"], mode="diagonal")
    conv = AdaptedConv(nn.Conv2d(3, 4, 3, padding=1), ["d"])
    with pytest.raises(RuntimeError, match=r"^no active domain on AdaptedConv; call set_domain\(model, name\)"):
        conv(randn(1, 3, 4, 4, seed=13))
    with pytest.raises(RuntimeError, match="^a jointly compressed adapter needs its layer's shared basis$"):
        LowRankAdapter(torch.zeros(4, 2)).alpha()
    with pytest.raises(UnknownDomainError) as err:
        set_domain(nn.Conv2d(1, 1, 1), "a")
    assert str(err.value) == "unknown domain 'a'; this model knows: (none)"
    with pytest.raises(ValueError, match=r"^domain 'x' needs num_classes >= 1, got 0"):
        DomainLinear(8).add_domain("x")


def test_model_domains_are_those_every_module_knows():
    """model_domains is the intersection over the domain-specific modules, in insertion order:
    a domain only some layers know cannot be run."""
    net = nn.Sequential(DomainBatchNorm(2, ["c", "a", "b"]), DomainBatchNorm(2, ["b", "c", "z"]),
                        DomainBatchNorm(2, ["a", "b", "c"]))
    assert model_domains(net) == ["c", "b"]


# ---------------------------------------------------------------- fuse / unfuse


def mixed_net(seed: int) -> nn.Sequential:
    with seeded(seed):
        net = nn.Sequential(
            AdaptedConv(nn.Conv2d(3, 4, 3, padding=1, bias=False), ["a", "b"], mode="series"),
            AdaptedConv(nn.Conv2d(4, 4, 3, padding=1, bias=False), ["a", "b"]),
            AdaptedConv(nn.Conv2d(4, 4, 3, padding=1, bias=False), ["a", "b"]),
        )
    return randomize_domain_state(net, seed + 1).eval()


def test_fuse_skips_series_layers_is_idempotent_and_unfuse_works_on_a_copy():
    """fuse_adapters folds every parallel adapter (g = f + diag_L(alpha)) past any series layer,
    leaves series ones alone, fusing twice for the same domain changes nothing, and unfuse_adapters
    (f = g - diag_L(alpha)) returns a copy by default: the fused network stays deployable."""
    net = mixed_net(20)
    x = randn(2, 3, 6, 6, seed=22)
    set_domain(net, "a")
    reference = net(x)
    fused = fuse_adapters(net, "a")
    assert [c.fused_domain for _, c in adapted_convs(fused)] == [None, "a", "a"]
    for i in (1, 2):
        torch.testing.assert_close(fused[i].base.weight, reference_g(net[i].base, net[i].adapters["a"].weight))
    torch.testing.assert_close(fused(x), reference, rtol=1e-5, atol=1e-5)
    g = [c.base.weight.clone() for _, c in adapted_convs(fused)]
    again = fuse_adapters(fused, "a")
    for (_, c), w in zip(adapted_convs(again), g):
        assert torch.equal(c.base.weight, w)
    restored = unfuse_adapters(fused)
    assert [c.fused_domain for _, c in adapted_convs(fused)] == [None, "a", "a"]  # the argument is untouched
    for (_, c), w in zip(adapted_convs(fused), g):
        assert torch.equal(c.base.weight, w)
    for (_, c), (_, o) in zip(adapted_convs(restored), adapted_convs(net)):
        assert c.fused_domain is None
        torch.testing.assert_close(c.base.weight, o.base.weight, rtol=0, atol=1e-6)


def test_fuse_refusals_name_the_layer():
    """Fusing for another domain, a layer whose 1x1 branch is not at the kernel centre, or adapters
    that give non-finite weights: each refused in one line naming the layer (and the domain)."""
    fused = fuse_adapters(mixed_net(30), "a")
    with pytest.raises(RuntimeError, match=r"^1 is fused for 'a'; unfuse first"):
        fuse_adapters(fused, "b")
    valid = nn.Sequential(AdaptedConv(nn.Conv2d(3, 4, 3, padding=0), ["a"]))
    with pytest.raises(ValueError, match=r"^0: fusing needs 'same' padding"):
        fuse_adapters(valid, "a")
    bad = mixed_net(31)
    with torch.no_grad():
        bad[2].adapters["b"].weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"^fusing 2 for 'b' gives non-finite weights"):
        fuse_adapters(bad, "b")


# ---------------------------------------------------------------- off-the-shelf networks


class SmallNet(nn.Module):
    def __init__(self, padding_mode: str = "zeros"):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                   nn.Conv2d(4, 4, 3, padding=1, bias=False, padding_mode=padding_mode),
                                   nn.BatchNorm2d(4))
        self.proj = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.proj(self.block(self.bn1(self.conv1(x)))).mean(dim=(2, 3))


def small_net(seed: int, **kw) -> SmallNet:
    with seeded(seed):
        return SmallNet(**kw)


def randomize_adapters(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".adapters." in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return model


def test_add_parallel_adapters_defaults():
    """Defaults: a copy (the original network is untouched), every odd square conv but 1x1 adapted,
    every BN made per domain from the original's statistics and independent per domain, no dropout
    (training computes f + diag_L(alpha) exactly), and each domain module can take a new domain."""
    net = small_net(40)
    adapted = add_parallel_adapters(net, ["a", "b"])
    assert not any(isinstance(m, (AdaptedConv, DomainBatchNorm)) for m in net.modules())
    assert [n for n, _ in adapted_convs(adapted)] == ["conv1", "block.0", "block.3"]
    assert [n for n, m in domain_modules(adapted) if isinstance(m, DomainBatchNorm)] == ["bn1", "block.1",
                                                                                         "block.4"]
    assert type(adapted.proj) is nn.Conv2d
    x = randn(4, 3, 6, 6, seed=41)
    set_domain(adapted, "a").train()
    adapted(x)  # a training step's forward updates a's running statistics only
    assert not torch.equal(adapted.bn1.norms["a"].running_mean, net.bn1.running_mean)
    assert torch.equal(adapted.bn1.norms["b"].running_mean, net.bn1.running_mean)
    randomize_adapters(adapted, 42)
    fused = fuse_adapters(adapted, "a").train()
    torch.testing.assert_close(adapted(x), fused(x), rtol=1e-5, atol=1e-5)
    for _, module in domain_modules(adapted):
        module.add_domain("new")
    # a domain added later starts like the others: its adapters at zero (the layer's init)
    assert all(torch.count_nonzero(c.adapters["new"].weight) == 0 for _, c in adapted_convs(adapted))
    set_domain(adapted, "new").eval()
    assert adapted(x).shape == (4, 2)


def test_add_parallel_adapters_skip_names_dropout_and_errors():
    """`skip` takes module paths at any depth and skips only those; the dropout argument reaches the
    adapters (training is then random, evaluation is not); a conv that cannot be adapted is named by
    its path; no domain is a clear error."""
    adapted = add_parallel_adapters(small_net(50), ["a"], skip=["conv1", "block.0"])
    assert [n for n, _ in adapted_convs(adapted)] == ["block.3"]
    assert type(adapted.conv1) is nn.Conv2d and type(adapted.block[0]) is nn.Conv2d
    assert isinstance(adapted.bn1, DomainBatchNorm) and isinstance(adapted.block[1], DomainBatchNorm)

    dropped = randomize_adapters(add_parallel_adapters(small_net(51), ["a"], dropout=0.5), 52)
    set_domain(dropped, "a").eval()
    x = randn(4, 3, 6, 6, seed=53)
    fused = fuse_adapters(dropped, "a")
    torch.testing.assert_close(dropped(x), fused(x), rtol=1e-5, atol=1e-5)
    dropped.train(), fused.train()
    with seeded(54):
        assert not torch.allclose(dropped(x), fused(x), rtol=1e-4, atol=1e-4)

    with pytest.raises(ValueError, match=r"^cannot adapt block\.3: padding_mode 'reflect'"):
        add_parallel_adapters(small_net(55, padding_mode="reflect"), ["a"])
    with pytest.raises(ValueError, match="^add_parallel_adapters needs at least one domain name"):
        add_parallel_adapters(small_net(56), [])


# ---------------------------------------------------------------- ResNet-26


def test_stage_geometry_and_number_of_features():
    """Sec. 3.2 / the authors' ResNet-26: three stages of four blocks at 64w, 128w, 256w channels,
    each halving the resolution in its first block only; num_features is the head's input width."""
    model = tiny(adapter="parallel").eval()
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for b in model.blocks]
    features = model.set_domain("a").forward_features(randn(1, 3, 16, 16, seed=60))
    for h in hooks:
        h.remove()
    expected = [(c, s, s) for c, s in ((8, 8), (16, 4), (32, 2)) for _ in range(4)]
    assert shapes == expected
    assert model.num_features == features.shape[1] == 32


@pytest.mark.parametrize("channels,out_channels,stride", [(3, 4, 1), (3, 4, 2), (2, 5, 2), (4, 4, 1)])
def test_shortcut_is_average_pool_then_zero_channels(channels, out_channels, stride):
    """The parameter-free shortcut: 2x2 average pooling where the block strides, then zero channels
    up to the block's width (also when one channel is missing)."""
    x = randn(2, channels, 4, 6, seed=61)
    pooled = x.reshape(2, channels, 2, 2, 3, 2).mean(dim=(3, 5)) if stride == 2 else x
    expected = torch.zeros(2, out_channels, *pooled.shape[2:])
    expected[:, :channels] = pooled
    torch.testing.assert_close(_shortcut(x, out_channels, stride), expected)


def test_model_config_validation_names_the_value():
    """ModelConfig refuses dropout outside [0, 1) and a width that is not positive, naming the value."""
    for p in (1.0, 1.5):
        with pytest.raises(ValueError, match=rf"^dropout must be in \[0, 1\), got {p}"):
            ModelConfig(domains=(("a", 2),), dropout=p)
    with pytest.raises(ValueError, match="^width must be positive, got 0"):
        ModelConfig(domains=(("a", 2),), width=0)
    assert ModelConfig(domains=(("a", 2),), dropout=0.0).dropout == 0.0
    with pytest.raises(ValueError, match=r"^duplicate domain names in \['a', 'b', 'a'\]"):
        ResNet26.build([("a", 2), ("b", 2), ("a", 3)], **TINY)


def test_add_domain_copies_independently_and_updates_config():
    """add_domain(init_from=a) starts the new domain at a's BNs and adapters (the pretrained point)
    as independent copies: training it leaves a bit-identical. The config records the domain so the
    model can be rebuilt from it; a one-class head is allowed; bad names are clear errors."""
    model = randomize_domain_state(tiny(adapter="parallel"), 70).eval()
    x = randn(2, 3, 16, 16, seed=71)
    before = {d: model(x, d).clone() for d in ("a", "b")}
    features_a = model.set_domain("a").forward_features(x)
    model.add_domain("c", 7, init_from="a")
    assert torch.equal(model.set_domain("c").forward_features(x), features_a)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if any(f".{k}.c." in name for k in ("adapters", "norms")) and t.is_floating_point():
                t.add_(0.25)
    assert not torch.equal(model.set_domain("c").forward_features(x), features_a)
    for d in ("a", "b"):
        assert torch.equal(model(x, d), before[d])
    assert model.config.domains == (("a", 5), ("b", 3), ("c", 7))
    assert ResNet26(model.config).domains == {"a": 5, "b": 3, "c": 7}
    model.add_domain("one", 1)
    assert model(x, "one").shape == (2, 1)
    with pytest.raises(ValueError, match="^domain 'a' already exists"):
        model.add_domain("a", 3)
    with pytest.raises(UnknownDomainError, match="^unknown domain 'zzz'; this model knows: a, b, c, one$"):
        model.add_domain("d", 3, init_from="zzz")


def mixed_model() -> ResNet26:
    return randomize_domain_state(tiny((("a", 5), ("b", 3), ("c", 4)), adapter="parallel"), 80).eval()


def test_mixed_batch_equals_per_domain_passes_stitched_together():
    """forward_mixed: image i through domain names[i] equals the per-image call, padded with -inf
    beyond its head; the active domain is left as it was; a model with none active runs it too."""
    model = mixed_model()
    x = randn(5, 3, 16, 16, seed=81)
    names = ["b", "a", "c", "b", "a"]
    model.set_domain("b")  # not the last group run ("c")
    out = model(x, names)
    assert out.shape == (5, 5) and out.dtype == x.dtype
    assert all(m.active_domain == "b" for _, m in domain_modules(model))
    for i, d in enumerate(names):
        k = model.domains[d]
        torch.testing.assert_close(out[i, :k], model(x[i:i + 1], d)[0], rtol=1e-5, atol=1e-5)
        assert torch.isneginf(out[i, k:]).all()
    fresh = mixed_model()
    torch.testing.assert_close(fresh.forward_mixed(x, names), out, rtol=1e-5, atol=1e-5)


def test_mixed_batch_under_bf16_autocast():
    """The CPU runs use bf16 autocast (study option cpu_bf16): a mixed batch gives x's dtype with each
    group's logits as its own domain's call."""
    model = mixed_model()
    x = randn(4, 3, 16, 16, seed=82)
    names = ["a", "b", "b", "a"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, names)
        per = {d: model(x[[i for i, n in enumerate(names) if n == d]], d).float() for d in ("a", "b")}
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[[0, 3]], per["a"], rtol=0, atol=0)
    torch.testing.assert_close(out[[1, 2], :3], per["b"], rtol=0, atol=0)


def test_mixed_batch_errors_name_the_problem():
    """A list of names of the wrong length, or an unknown name, is a one-line error naming it and,
    for a name, the domains the model knows."""
    model = mixed_model()
    x = randn(5, 3, 16, 16, seed=83)
    with pytest.raises(ValueError, match="^4 domain names for a batch of 5 images"):
        model(x, ["a", "b", "c", "a"])
    with pytest.raises(UnknownDomainError, match="^unknown domain 'zzz'; this model knows: a, b, c$"):
        model(x, ["a", "zzz", "b", "a", "c"])


def test_save_and_load_adapter_round_trip(tmp_path):
    """An adapter file carries one domain (and the header info given); loaded into the same base
    under another name it gives the same function. A file that is not one is refused naming it."""
    model = randomize_domain_state(tiny(adapter="parallel"), 90).eval()
    path = model.save_adapter("a", tmp_path / "a.safetensors", info={"val_accuracy": 0.75})
    assert file_header(path)["val_accuracy"] == 0.75
    assert model.load_adapter(path, domain="a2") == "a2"
    x = randn(2, 3, 16, 16, seed=91)
    assert torch.equal(model(x, "a2"), model(x, "a"))
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(AdapterFileError, match="junk.safetensors"):
        model.load_adapter(bad, domain="z")


def test_a_domain_added_to_an_eval_network_runs_in_eval_mode(tmp_path):
    """Regression (found by these tests): `paperlib predict` loads adapters into a base in eval mode;
    the new domain's BNs were built in training mode, so its predictions used batch statistics (they
    depended on the other images of the batch) and did not match the saved domain. A domain added
    to a network runs in that network's mode."""
    source = randomize_domain_state(tiny(adapter="parallel"), 92).eval()
    path = source.save_adapter("a", tmp_path / "a.safetensors")
    base = tiny(adapter="parallel").eval()  # the same shared weights (same seed)
    base.load_adapter(path, domain="t")
    base.add_domain("fresh", 2)
    assert not any(m.training for m in base.modules())
    x = randn(3, 3, 16, 16, seed=93)
    torch.testing.assert_close(base(x, "t"), source(x, "a"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(base(x[:1], "t"), base(x, "t")[:1], rtol=1e-5, atol=1e-5)
    training = tiny(adapter="series").train()
    training.add_domain("new", 2)
    assert all(m.training for m in training.modules())


def test_mixed_batch_leaves_no_active_domain_when_there_was_none():
    """forward_mixed's docstring: "The active domain is left as it was", also when none was set: a
    model with no active domain must still refuse a plain forward afterwards instead of silently
    running whichever domain happened to be the last group of the mixed batch."""
    model = mixed_model()
    assert all(m.active_domain is None for _, m in domain_modules(model))
    model(randn(3, 3, 16, 16, seed=84), ["a", "c", "a"])
    assert [m.active_domain for _, m in domain_modules(model)] == [None] * len(list(domain_modules(model)))
    with pytest.raises(RuntimeError, match="^no active domain on"):
        model(randn(1, 3, 16, 16, seed=85))
