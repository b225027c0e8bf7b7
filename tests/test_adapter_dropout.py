"""Dropout on the adapters (sec. 3.3, 4.1): dropout2d on the input of the second parallel adapter
of each residual block, perturbing the adapter branch only, in training only. Figure 4a's dropout
rows rest on it."""

import warnings

import pytest
import torch
from torch import nn

from paperlib.model.adapters import AdaptedConv, adapted_convs
from paperlib.model.resnet import ResNet26

P = 0.5  # the authors' p (docs/authors_code.md, "Dropout")


def _identity_adapter(channels: int, *, p: float) -> AdaptedConv:
    """f = 0 and alpha = I: the layer's output is the adapter's input as the branch sees it."""
    conv = AdaptedConv(nn.Conv2d(channels, channels, 3, padding=1, bias=False), ["d"], dropout=p)
    with torch.no_grad():
        conv.base.weight.zero_()
        conv.adapters["d"].weight.copy_(torch.eye(channels)[:, :, None, None])
    conv.active_domain = "d"
    return conv


def test_training_drops_whole_channels_at_rate_p_and_rescales_the_rest():
    x = torch.rand(64, 16, 5, 5, generator=torch.Generator().manual_seed(0)) + 0.5  # no zero pixel
    conv = _identity_adapter(16, p=P).train()
    with torch.random.fork_rng():
        torch.manual_seed(1)
        y = conv(x)
    dropped = (y == 0).all(dim=(2, 3))  # N x C: dropout2d zeroes whole feature maps
    kept = ~dropped
    torch.testing.assert_close(y[kept], x[kept] / (1 - P))
    assert ((y == 0) == dropped[:, :, None, None]).all()  # a map is all zero or none of it
    rate = dropped.float().mean().item()  # 1024 maps: sd of the rate 0.016
    assert abs(rate - P) < 0.08, rate


def test_evaluation_runs_without_dropout():
    x = torch.rand(8, 16, 5, 5, generator=torch.Generator().manual_seed(2))
    conv = _identity_adapter(16, p=P).eval()
    torch.testing.assert_close(conv(x), x)


def test_unbatched_image_dropout_drops_whole_channels():
    """Sec. 3.3 / AdaptedConv: dropout2d on the adapter branch's input drops whole feature maps; an
    unbatched (C, H, W) image, which AdaptedConv accepts as nn.Conv2d does, must get the same
    channel-wise dropout as the batched image, not a per-row one."""
    p = 0.5
    conv = _identity_adapter(8, p=p)
    x = torch.rand(8, 6, 6, generator=torch.Generator().manual_seed(86)) + 0.5
    with torch.random.fork_rng(), warnings.catch_warnings():
        torch.manual_seed(87)
        warnings.simplefilter("error")  # torch warns when dropout2d reads (C, H, W) as (N, C, L)
        y = conv.train()(x)
    zeroed = (y == 0).all(dim=(1, 2))
    kept = (y != 0).all(dim=(1, 2))
    assert (zeroed | kept).all(), "some channel is partly dropped"
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))


def test_dropout_rate_and_eval_in_the_two_branch_forward():
    """Sec. 3.3: dropout2d at the configured p (not torch's default 0.5) on the adapter branch in
    training; none in evaluation, also when the two-branch forward runs (fused_training off)."""
    p = 0.2
    conv = _identity_adapter(8, p=p)
    x = torch.rand(16, 8, 3, 3, generator=torch.Generator().manual_seed(7)) + 0.5
    with torch.random.fork_rng():
        torch.manual_seed(8)
        y = conv.train()(x)
    kept = ~(y == 0).all(dim=(2, 3))
    assert kept.any() and (~kept).any()
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    conv.fused_training = False
    conv.eval()
    torch.testing.assert_close(conv(x), x)  # in evaluation dropout draws nothing


def test_dropout_of_a_batched_or_unbatched_image_drops_channels_at_its_rate_and_only_in_training():
    """Sec. 3.3: dropout2d drops whole channels of each image at the configured p (not torch's
    default 0.5), per image and channel (not whole images), in training only, batched or not."""
    p, channels = 0.2, 64
    conv = _identity_adapter(channels, p=p)
    x = torch.rand(16, channels, 4, 4, generator=torch.Generator().manual_seed(88)) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fused in (True, False):  # evaluation: the one-convolution form, or the two branches
            conv.fused_training = fused
            torch.testing.assert_close(conv.eval()(x[0]), x[0])
            torch.testing.assert_close(conv(x), x)
        with torch.random.fork_rng():
            torch.manual_seed(89)
            batched, unbatched = conv.train()(x), torch.stack([conv(image) for image in x])
    for y in (batched, unbatched):
        dropped = (y == 0).all(dim=(2, 3))  # image x channel
        assert ((y != 0).all(dim=(2, 3)) | dropped).all()
        assert 0.1 < dropped.float().mean() < 0.3  # 1,024 draws at p = 0.2; p = 0.5 lies far outside
        assert not dropped.all(dim=1).any()  # no image dropped whole


def test_dropout_changes_training_outputs_and_leaves_the_shared_filters_alone():
    g = torch.Generator().manual_seed(3)
    conv = AdaptedConv(nn.Conv2d(8, 8, 3, padding=1, bias=False), ["d"], dropout=P)
    conv.active_domain = "d"
    x = torch.randn(4, 8, 6, 6, generator=g)
    conv.train()
    assert not torch.equal(conv(x), conv(x))  # two draws of the mask
    conv.eval()
    torch.testing.assert_close(conv(x), conv(x))
    without = AdaptedConv(conv.base, ["d"], dropout=0.0)
    without.load_state_dict(conv.state_dict())
    without.active_domain = "d"
    torch.testing.assert_close(conv(x), without.eval()(x))
    with torch.no_grad():
        conv.adapters["d"].weight.zero_()
    torch.testing.assert_close(conv.train()(x), conv.base(x))  # alpha = 0: nothing for dropout to touch


@pytest.mark.parametrize("placement, stages", [("all", {1, 2, 3}), ("late", {3}), ("half", {1, 2, 3})])
def test_dropout_sits_before_the_second_parallel_adapter_of_each_block_only(placement, stages):
    model = ResNet26.build([("d", 3)], width=0.25, adapter="parallel", placement=placement, dropout=0.3)
    with_dropout = {name for name, conv in adapted_convs(model) if conv.dropout > 0}
    expected = {f"blocks.{4 * (s - 1) + b}.unit2.conv" for s in stages for b in range(4)}
    assert with_dropout == expected
    assert all(conv.dropout == 0.3 for name, conv in adapted_convs(model) if name in expected)


def test_series_adapters_get_no_dropout():
    model = ResNet26.build([("d", 3)], width=0.25, adapter="series", dropout=0.3)
    assert [name for name, conv in adapted_convs(model) if conv.dropout > 0] == []


def test_a_network_with_dropout_is_random_in_training_and_equal_to_one_without_in_evaluation():
    torch.manual_seed(4)  # the networks' own initialisation
    model = ResNet26.build([("d", 3)], width=0.25, adapter="parallel", dropout=P)
    plain = ResNet26.build([("d", 3)], width=0.25, adapter="parallel", dropout=0.0)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    model.train(), plain.train()
    assert not torch.equal(model(x, "d"), model(x, "d"))
    torch.testing.assert_close(plain(x, "d"), plain(x, "d"))
    plain.load_state_dict(model.state_dict())  # the BNs' running statistics moved apart in training
    model.eval(), plain.eval()
    torch.testing.assert_close(model(x, "d"), plain(x, "d"))
