"""The GPU check of issue 12, run on a lent GPU (the `device` tool) before `paperlib bench --device cuda`:
fused parallel-adapter training (paperlib.fused) is as close to a float64 step as the two-branch
form, on CUDA, in float32 and under bf16 autocast + channels_last, on a whole ResNet-26 at the
full setting (width 1, 64-pixel crops). Prints one line per case; exits 1 if a case is off.

    python benchmarks/gpu_check.py            # seconds; then: paperlib bench --device cuda ...
"""

from __future__ import annotations

import copy
import sys

import torch
from torch import nn

from paperlib.model.adapters import set_fused_training
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import set_trainable


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-300))


def loss_and_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, amp: bool, channels_last: bool,
                       dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """[loss, each trainable parameter's gradient] of one step on a copy of `net` in `dtype`."""
    net = copy.deepcopy(net).to("cuda", dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        logits = net(x.to(dtype).contiguous(memory_format=memory_format), "d")
    loss = nn.functional.cross_entropy(logits.to(dtype), y)
    loss.backward()
    return [loss.detach()] + [p.grad for p in net.parameters() if p.requires_grad]


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    torch.manual_seed(0)
    model = ResNet26.build([("d", 100)], width=1.0, adapter="parallel").train()
    set_trainable(model, "parallel", "d")
    two_branch = set_fused_training(copy.deepcopy(model), False)
    x = torch.randn(32, 3, 64, 64, device="cuda")
    y = torch.randint(0, 100, (32,), device="cuda")
    exact = loss_and_gradients(two_branch, x, y, amp=False, channels_last=False, dtype=torch.float64)
    ok = True
    # Each form against float64: the BN gradients of a fresh ResNet-26 are ill-conditioned (on the
    # CPU, float32 lands 2e-3 to 4e-3 from float64 and bf16 autocast 0.66, fused and two-branch
    # alike), so the test is that the fused form is no further from float64 than 3x the two-branch form
    # (a wrong gradient lands near 1 in float32).
    for amp, channels_last in ((False, False), (False, True), (True, True)):
        errors = {}
        for name, net in (("fused", model), ("two-branch", two_branch)):
            got = loss_and_gradients(net, x, y, amp=amp, channels_last=channels_last)
            errors[name] = max(relative_error(a, b) for a, b in zip(got, exact))
        good = errors["fused"] == errors["fused"] and errors["fused"] <= 3 * errors["two-branch"] + 1e-5
        ok &= good
        print(f"bf16={amp}, channels_last={channels_last}: largest relative error against float64: fused "
              f"{errors['fused']:.2e}, two-branch {errors['two-branch']:.2e} {'ok' if good else 'OFF'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
