"""How many parameters LoRA-conv adds, and the largest rank within a budget, counted from the
modules' shapes without peft (whose import takes seconds: paperlib.model.lora applies LoRA).

peft's `lora.Conv2d` on a k x k convolution C_in -> C_out stores r * (C_in k k + C_out)
parameters per adapter (a k x k lora_A to rank r, a 1x1 lora_B back; tests/test_lora.py checks
this against peft-built modules). The size of a LoRA network is linear in r, so the largest rank
within a budget is a division, not a search.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from paperlib.model.adapters import model_domains
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import multi_domain_size

LORA_KERNEL = (3, 3)  # LoRA goes where the parallel adapters go: every 3x3 convolution


def lora_targets(model: nn.Module) -> list[str]:
    """Module paths of the plain 3x3 convolutions of `model` (the stem and both convs of every block)
    not yet adapted: the base convolution and the k x k lora_A inside a peft LoRA layer (a module
    with a `lora_A` ModuleDict) do not count."""
    inside = tuple(f"{name}." for name, m in model.named_modules()
                   if isinstance(getattr(m, "lora_A", None), nn.ModuleDict))
    return [name for name, m in model.named_modules()
            if type(m) is nn.Conv2d and m.kernel_size == LORA_KERNEL and not name.startswith(inside)]


def lora_size_per_domain(model: nn.Module, rank: int) -> int:
    """Parameters of one domain's LoRA adapters, from the target convolutions' shapes:
    sum over targets of r * (C_in k k + C_out), as peft builds lora_A and lora_B."""
    convs = dict(model.named_modules())
    total = 0
    for name in lora_targets(model):
        conv = convs[name]
        kh, kw = conv.kernel_size
        total += rank * (conv.in_channels * kh * kw + conv.out_channels)
    return total


def rank_for_size(model: nn.Module, size: int) -> int:
    """The largest rank r (at least 1) whose LoRA network (`model` plus one adapter per domain at
    rank r on every 3x3 conv) has a multi-domain size of at most `size`; `model` is the LoRA-free
    network (its shared convs, BNs and heads). "At most", not "nearest": LoRA never gets more
    parameters than the budget it is compared at."""
    per_rank = len(model_domains(model)) * lora_size_per_domain(model, 1)
    return max(1, (int(size) - multi_domain_size(model)) // per_rank)


@functools.lru_cache(maxsize=16)
def matched_rank(domains: tuple[tuple[str, int], ...], width: float) -> int:
    """r of the `LoRA-conv (peft)` row: the largest rank whose network over `domains` ((name,
    classes), every domain with its adapter) is no larger than the parallel adapters' at `width`
    (Table 1's "#par"). The networks are built on the meta device: only their shapes are counted."""
    with torch.device("meta"):
        parallel = ResNet26.build(list(domains), width=width, adapter="parallel")
        bare = ResNet26.build(list(domains), width=width)
    return rank_for_size(bare, multi_domain_size(parallel))
