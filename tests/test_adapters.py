"""Parallel adapters are additive (sec. 3.1.2): g = f + diag_L(alpha), fusable and unfusable."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from paperlib.model.adapters import (
    AdaptedConv,
    adapted_convs,
    add_parallel_adapters,
    diag_embed,
    fuse_adapters,
    set_domain,
    unfuse_adapters,
)
from paperlib.model.resnet import ResNet26


def randomize_adapters(model, scale=0.1):
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".adapters." in name:
                p.copy_(torch.randn_like(p) * scale)
    return model


def test_diag_embed_puts_alpha_at_the_kernel_centre():
    alpha = torch.randn(4, 2, 1, 1)
    k = diag_embed(alpha, (5, 5))
    assert k.shape == (4, 2, 5, 5)
    assert torch.equal(k[:, :, 2, 2], alpha[:, :, 0, 0])
    assert torch.count_nonzero(k) == torch.count_nonzero(alpha)  # nothing but the centre tap


CONV_CASES = [
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=5, stride=2, padding=2),
    dict(kernel_size=3, stride=1, padding=0),
    dict(kernel_size=3, stride=2, padding=0),
    dict(kernel_size=3, stride=1, padding=2),
    dict(kernel_size=3, stride=1, padding=2, dilation=2),
    dict(kernel_size=7, stride=2, padding=3, bias=True),
    dict(kernel_size=3, stride=1, padding="same"),
    dict(kernel_size=3, stride=1, padding=1, groups=4),
    dict(kernel_size=3, stride=2, padding=1, groups=8),  # depthwise
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_parallel_branch_equals_convolution_with_g(case):
    """y = f * x + diag_1(alpha) * x = (f + diag_L(alpha)) * x, for any stride/padding/groups."""
    torch.manual_seed(0)
    base = nn.Conv2d(8, 8, **{"bias": False, **case})
    conv = AdaptedConv(base, ["d"], mode="parallel")
    conv.active_domain = "d"
    x = torch.randn(2, 8, 11, 11)
    g = base.weight + conv.delta_weight("d")
    expected = F.conv2d(x, g, base.bias, stride=base.stride, padding=base.padding, dilation=base.dilation,
                        groups=base.groups)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel", [2, (3, 5)])
def test_even_or_non_square_kernels_are_refused_with_the_layer_name(kernel):
    with pytest.raises(ValueError, match="layer4.conv"):
        AdaptedConv(nn.Conv2d(4, 4, kernel), ["d"], name="layer4.conv")


def test_fuse_then_unfuse_gives_back_the_weights_and_fused_equals_unfused():
    model = randomize_adapters(ResNet26.build([("a", 5), ("b", 3)], width=0.125, adapter="parallel")).eval()
    x = torch.randn(2, 3, 16, 16)
    unfused_out = model(x, "b")
    original = {k: v.clone() for k, v in model.state_dict().items()}
    fused = fuse_adapters(model, "b")
    assert torch.equal(model.state_dict()["stem.conv.base.weight"], original["stem.conv.base.weight"])  # copy
    torch.testing.assert_close(fused(x, "b"), unfused_out, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="fused for 'b'"):
        fused(x, "a")
    restored = unfuse_adapters(fused)
    for k, v in restored.state_dict().items():
        torch.testing.assert_close(v, original[k], rtol=0, atol=1e-6)
    torch.testing.assert_close(restored(x, "a"), model(x, "a"), rtol=1e-5, atol=1e-5)


def test_fused_convolutions_run_no_adapter_branch():
    model = randomize_adapters(ResNet26.build([("a", 5)], width=0.125, adapter="parallel")).eval()
    fused = fuse_adapters(model, "a")
    calls = []
    for _, conv in adapted_convs(fused):
        conv._parallel_branch = lambda *a, **k: calls.append(1)
    fused(torch.randn(1, 3, 16, 16), "a")
    assert calls == []


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_off_the_shelf_torchvision_models(arch):
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    reference = net(x)
    adapted = add_parallel_adapters(net, ["cars", "birds"]).eval()
    n_convs = sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1))
    assert sum(1 for _ in adapted_convs(adapted)) == n_convs
    set_domain(adapted, "cars")
    torch.testing.assert_close(adapted(x), reference, rtol=1e-4, atol=1e-4)  # zero adapters: the same net
    randomize_adapters(adapted, scale=0.01)
    moved = adapted(x)
    assert not torch.allclose(moved, reference)
    torch.testing.assert_close(fuse_adapters(adapted, "cars")(x), moved, rtol=1e-4, atol=1e-4)


def test_grouped_series_adapter_is_refused_clearly():
    with pytest.raises(ValueError, match="grouped conv blk.dw"):
        AdaptedConv(nn.Conv2d(8, 8, 3, padding=1, groups=8), ["d"], mode="series", name="blk.dw")


def test_off_the_shelf_depthwise_model_is_exact():
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None).eval()
    adapted = randomize_adapters(add_parallel_adapters(net, ["d"]), scale=0.01).eval()
    set_domain(adapted, "d")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(fuse_adapters(adapted, "d")(x), adapted(x), rtol=1e-4, atol=1e-4)


def test_dropout_only_on_the_adapter_branch_and_only_in_training():
    torch.manual_seed(0)
    base = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    conv = AdaptedConv(base, ["d"], dropout=0.5)
    conv.active_domain = "d"
    x = torch.randn(2, 4, 8, 8)
    conv.eval()
    torch.testing.assert_close(conv(x), F.conv2d(x, base.weight + conv.delta_weight("d"), padding=1))
    conv.train()
    with torch.no_grad():
        conv.adapters["d"].weight.zero_()
    torch.testing.assert_close(conv(x), base(x))  # with alpha = 0 dropout cannot touch f * x
