"""Fused parallel-adapter training (sec. 3.1.2): one convolution with f + diag_L(alpha) gives
the outputs and every gradient of the two-branch form, skips the 3x3 weight gradient of frozen
filters, and is what the engine runs when the 3x3 filters are frozen."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import random_loader
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from paperlib.model.adapters import AdaptedConv, LowRankAdapter, adapted_convs, set_fused_training
from paperlib.model.fused import FusedParallelConv, fused_parallel_conv
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable
from paperlib.train.engine import train
from paperlib.train.spec import TrainConfig

CASES = [
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=5, stride=2, padding=2),
    dict(kernel_size=3, stride=1, padding=0),  # centre offset (1, 1): 'valid'
    dict(kernel_size=3, stride=2, padding=0),
    dict(kernel_size=3, stride=1, padding=2),  # padding beyond 'same': offset (-1, -1)
    dict(kernel_size=3, stride=3, padding=4),
    dict(kernel_size=3, stride=2, padding=2, dilation=2),
    dict(kernel_size=7, stride=2, padding=3, bias=True),
    dict(kernel_size=3, stride=1, padding="same"),
    dict(kernel_size=3, stride=1, padding=1, groups=4),
    dict(kernel_size=3, stride=2, padding=1, groups=8),  # depthwise
]


def pair(case: dict, *, frozen: bool, seed: int = 0) -> tuple[AdaptedConv, AdaptedConv]:
    """The same adapted conv twice, fused and two-branch; alpha is far from zero (he init)."""
    torch.manual_seed(seed)
    base = nn.Conv2d(8, 8, **{"bias": False, **case})
    base.weight.requires_grad_(not frozen)
    fused = AdaptedConv(base, ["d"], mode="parallel", init="he")
    fused.active_domain = "d"
    unfused = set_fused_training(copy.deepcopy(fused), False)
    return fused, unfused


def run(conv: nn.Module, x: torch.Tensor, grad_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
    x = x.clone().requires_grad_()
    y = conv(x)
    y.backward(grad_y)
    return y, x.grad, {n: p.grad for n, p in conv.named_parameters()}


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "trainable"])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_fused_equals_two_branches_outputs_and_gradients(case, frozen):
    fused, unfused = pair(case, frozen=frozen)
    x = torch.randn(2, 8, 11, 12)
    y_ref = unfused(x)
    grad_y = torch.randn_like(y_ref)
    y, gx, grads = run(fused, x, grad_y)
    y_ref, gx_ref, grads_ref = run(unfused, x, grad_y)
    assert y.grad_fn.name() == "FusedParallelConvBackward"
    assert y_ref.grad_fn.name() != "FusedParallelConvBackward"
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-5)
    assert grads.keys() == grads_ref.keys()
    for name, g in grads.items():
        if name == "base.weight" and frozen:
            assert g is None and grads_ref[name] is None
            continue
        assert g is not None and g.abs().sum() > 0, name
        torch.testing.assert_close(g, grads_ref[name], rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("x_layout", ["channels_last", "plain"])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_channels_last_alpha_gradient_equals_the_plain_layout_one(case, x_layout):
    """fused.alpha_grad with grad_y channels-last (groups 1), x channels-last (one matrix product)
    or plain (the first conv reading the images: per image), agrees with the plain layout's."""
    fused, _ = pair(case, frozen=True)
    x = torch.randn(3, 8, 11, 12)
    grad_y = torch.randn_like(fused(x))
    _, _, plain = run(fused, x, grad_y)
    cl = copy.deepcopy(fused).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last) if x_layout == "channels_last" else x
    _, _, grads = run(cl, x_cl, grad_y.contiguous(memory_format=torch.channels_last))
    alpha = "adapters.d.weight"
    assert plain[alpha] is not None and plain[alpha].abs().sum() > 0
    torch.testing.assert_close(grads[alpha], plain[alpha], rtol=1e-4, atol=1e-5)


def test_gradcheck_float64():
    """Against finite differences: stride 2, groups 2, bias, and a centre offset (padding 0)."""
    torch.manual_seed(0)
    for padding, offset in ((1, (0, 0)), (0, (1, 1)), (2, (-1, -1))):
        x = torch.randn(2, 4, 7, 6, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(6, 2, 3, 3, dtype=torch.float64, requires_grad=True)
        alpha = torch.randn(6, 2, 1, 1, dtype=torch.float64, requires_grad=True)
        bias = torch.randn(6, dtype=torch.float64, requires_grad=True)
        args = ((2, 2), (padding, padding), (1, 1), 2, offset)
        assert torch.autograd.gradcheck(lambda *t: FusedParallelConv.apply(*t, *args), (x, weight, alpha, bias))
        weight.requires_grad_(False)  # frozen filters: alpha's gradient from the 1x1 path
        assert torch.autograd.gradcheck(lambda *t: FusedParallelConv.apply(t[0], weight, t[1], None, *args),
                                        (x, alpha))


class ConvBackwardLog(TorchDispatchMode):
    """Records (weight shape, output_mask) of every convolution_backward."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket is torch.ops.aten.convolution_backward:
            self.calls.append((tuple(args[2].shape), tuple(args[10])))
        return func(*args, **(kwargs or {}))


def test_frozen_filters_get_no_3x3_weight_gradient():
    fused, _ = pair(dict(kernel_size=3, stride=2, padding=1), frozen=True)
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    with ConvBackwardLog() as log:
        fused(x).sum().backward()
    assert log.calls == [((8, 8, 3, 3), (True, False, False))]  # input gradient only, through g
    assert fused.base.weight.grad is None and fused.adapters["d"].weight.grad is not None


def test_low_rank_adapters_train_through_the_fused_form():
    """alpha = beta gamma^T (sec. 3.4): the gradient reaches gamma (and beta when it trains)."""
    fused, unfused = pair(dict(kernel_size=3, stride=1, padding=1), frozen=True)
    for conv in (fused, unfused):
        torch.manual_seed(1)
        conv.adapters["d"] = LowRankAdapter(torch.randn(8, 3), torch.randn(8, 3))
    x, grad_y = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)
    _, _, grads = run(fused, x, grad_y)
    _, _, grads_ref = run(unfused, x, grad_y)
    for name in ("adapters.d.gamma", "adapters.d.beta"):
        torch.testing.assert_close(grads[name], grads_ref[name], rtol=1e-4, atol=1e-4)


def test_dropout_falls_back_to_two_branches_in_training_only():
    """dropout2d perturbs the adapter branch's input only (sec. 3.3): the identity needs one x."""
    conv = AdaptedConv(nn.Conv2d(4, 4, 3, padding=1, bias=False), ["d"], dropout=0.5)
    conv.active_domain = "d"
    x = torch.randn(2, 4, 6, 6)
    assert not conv.train().runs_fused()
    assert conv(x).grad_fn.name() != "FusedParallelConvBackward"
    assert conv.eval().runs_fused()  # dropout is the identity in eval
    assert conv(x).grad_fn.name() == "FusedParallelConvBackward"


def test_bf16_autocast_on_cpu_keeps_float32_gradients():
    fused, unfused = pair(dict(kernel_size=3, stride=1, padding=1), frozen=True)
    x = torch.randn(2, 8, 6, 6)
    outs = []
    for conv in (fused, unfused):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        y.float().sum().backward()
        outs.append((y, conv.adapters["d"].weight.grad))
    (y, g), (y_ref, g_ref) = outs
    assert y.dtype == y_ref.dtype == torch.bfloat16 and g.dtype == torch.float32
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=2e-2, atol=5e-2)
    torch.testing.assert_close(g, g_ref, rtol=2e-2, atol=2e-1)


def test_resnet26_step_matches_and_channels_last_works():
    """A whole ResNet-26 with parallel adapters and frozen filters: same loss and gradients."""
    torch.manual_seed(0)
    model = ResNet26.build([("a", 5)], width=0.125, adapter="parallel").train()
    set_trainable(model, "parallel", "a")
    reference = set_fused_training(copy.deepcopy(model), False)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 5, (4,))
    for net, memory_format in ((model, torch.contiguous_format), (reference, torch.contiguous_format),
                               (copy.deepcopy(model).to(memory_format=torch.channels_last), torch.channels_last)):
        nn.functional.cross_entropy(net(x.contiguous(memory_format=memory_format), "a"), y).backward()
    cl = net
    for (name, p), p_ref, p_cl in zip(model.named_parameters(), reference.parameters(), cl.parameters()):
        if p.requires_grad:
            torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-4, atol=1e-5, msg=name)
            torch.testing.assert_close(p_cl.grad, p_ref.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_engine_trains_parallel_adapters_through_the_fused_function(monkeypatch):
    calls = []
    original = fused_parallel_conv

    def counting(x, conv, alpha, offset=(0, 0)):
        calls.append((torch.is_grad_enabled(), conv.weight.requires_grad))
        return original(x, conv, alpha, offset)

    monkeypatch.setattr("paperlib.model.adapters.fused_parallel_conv", counting)
    config = TrainConfig(method="parallel", domains=("cifar100",), width=0.125, epochs=1, batch_size=16,
                         profile="smoke", train_limit_batches=2, eval_limit_batches=1)
    train(config, loader=random_loader())
    convs = sum(1 for _ in adapted_convs(ResNet26.build([("a", 2)], width=0.125, adapter="parallel")))
    training_calls = [c for c in calls if c[0]]
    assert len(training_calls) == 2 * convs  # every adapted conv, every step
    assert not any(trainable for _, trainable in training_calls)  # the 3x3 filters were frozen


def test_runtime_picks_the_form_measured_faster_on_each_device():
    from paperlib.train.runtime import Runtime

    assert Runtime().fused_training_for("cpu", 32) and Runtime().fused_training_for("cpu", 4096)
    assert not Runtime().fused_training_for("cuda", 256)  # the H100 bench: two branches faster
    assert Runtime().fused_training_for("cuda", 512) and Runtime().fused_training_for("cuda", 1024)  # fused faster
    assert not Runtime(fused_adapters=False).fused_training_for("cpu", 32)
    assert Runtime(fused_adapters=True).fused_training_for("cuda", 128)


def test_engine_runs_two_branches_when_the_runtime_says_so(monkeypatch):
    calls = []
    monkeypatch.setattr("paperlib.model.adapters.fused_parallel_conv", lambda *args, **kwargs: calls.append(args))
    config = TrainConfig(method="parallel", domains=("cifar100",), width=0.125, epochs=1, batch_size=16,
                         profile="smoke", train_limit_batches=2, eval_limit_batches=1)
    from paperlib.train.runtime import Runtime

    record = train(config, Runtime(fused_adapters=False), loader=random_loader())
    assert calls == [] and record is not None


def test_channels_last_on_the_cpu_trains_the_same_function():
    """Runtime.channels_last_cpu: the model's weights channels-last on the CPU; the record is the
    default run's up to float rounding."""
    from paperlib.train.runtime import Runtime

    config = TrainConfig(method="parallel", domains=("cifar100",), width=0.125, epochs=1, batch_size=16,
                         profile="smoke", train_limit_batches=2, eval_limit_batches=1)
    plain = train(config, Runtime(device="cpu", channels_last_cpu=False), loader=random_loader())
    cl = train(config, Runtime(device="cpu"), loader=random_loader())
    assert not plain.model.blocks[0].unit1.conv.base.weight.is_contiguous(memory_format=torch.channels_last)
    assert cl.model.blocks[0].unit1.conv.base.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.history, cl.history):
        assert a["loss"]["cifar100"] == pytest.approx(b["loss"]["cifar100"], rel=1e-4)
