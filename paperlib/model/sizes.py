"""Parameter and compute accounting, counted from the modules themselves: parameters by role and
domain, Table 1's "#par" (a multi-domain network's size over the plain network's, rounded as the
paper prints it), and multiply-accumulates per image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from paperlib.model.adapters import AdaptedConv, SeriesAdapter, model_domains
from paperlib.model.resnet import ResNet26
from paperlib.model.roles import parameter_roles


def count_parameters(model: nn.Module, domains: Sequence[str] | None = None) -> dict[str, int]:
    """Parameters by role, counted from the modules themselves, for a subset of domains
    (shared parameters are counted once). Keys: shared, adapter, basis, norm, head, total."""
    wanted = None if domains is None else set(domains)
    counts = dict.fromkeys(("shared", "adapter", "basis", "norm", "head"), 0)
    roles = parameter_roles(model)
    for name, p in model.named_parameters():
        role, d = roles[name]
        if d is None or wanted is None or d in wanted:
            counts[role] += p.numel()
    counts["total"] = sum(counts.values())
    return counts


def multi_domain_size(model: nn.Module, *, finetuned: bool = False) -> int:
    """Parameters needed to store the model for all its domains.

    With `finetuned`, every domain keeps its own copy of the shared weights (one network per
    domain, Table 1's "Finetuning" row); otherwise they are stored once.
    """
    counts = count_parameters(model)
    shared_copies = len(model_domains(model)) if finetuned else 1
    return counts["total"] + (shared_copies - 1) * counts["shared"]


def round_multiplier(ratio: float) -> float:
    """Table 1 prints sizes at the precision that tells the models apart: nearest half below
    5x, nearest integer from 5x up (9.7 -> 10, 2.16 -> 2, 1.67 -> 1.5)."""
    return float(round(ratio)) if ratio >= 5 else round(ratio * 2) / 2


def size_multiplier(model: nn.Module, reference: nn.Module, *, finetuned: bool = False) -> float:
    """Table 1's "#par": the multi-domain size over the plain network's (unrounded)."""
    return multi_domain_size(model, finetuned=finetuned) / count_parameters(reference)["total"]


def plain_reference(width: float = 1.0, num_classes: int = 1000) -> ResNet26:
    """The vanilla network pretrained on ImageNet, the denominator of Table 1's "#par"."""
    return ResNet26.build([("imagenet12", num_classes)], width=width)


def count_macs(model: nn.Module, x: torch.Tensor, **forward_kwargs) -> dict[str, int]:
    """Multiply-accumulates per image of conv and linear layers, read from the shapes seen by
    forward hooks on one forward pass (eval mode, no grad; the model's mode is restored).

    conv: output elements x (C_in / groups) x kh x kw; linear: output elements x in_features;
    adapters (1x1, run through F.conv2d inside AdaptedConv / SeriesAdapter): output elements
    x C_in / groups, none once fused. FLOPs = 2 x MACs; a training step ~ 3 x forward.
    """
    counts = {"conv": 0, "linear": 0, "adapter": 0}
    per_image = x.shape[0]

    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        n = output.numel() // per_image
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counts["conv"] += n * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            counts["linear"] += n * module.in_features
        elif isinstance(module, AdaptedConv) and module.mode == "parallel" and module.fused_domain is None:
            counts["adapter"] += n * (module.base.in_channels // module.base.groups)
            if module.runs_fused():  # one convolution with f + diag_L(alpha): base's own hook did not run
                kh, kw = module.base.kernel_size
                counts["conv"] += n * (module.base.in_channels // module.base.groups) * kh * kw
        elif isinstance(module, SeriesAdapter):
            counts["adapter"] += n * module.conv.weight.shape[1]

    kinds = (nn.Conv2d, nn.Linear, AdaptedConv, SeriesAdapter)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x, **forward_kwargs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {**counts, "total": sum(counts.values())}


def frozen_network_size(model: ResNet26, source: str) -> int:
    """Parameters stored for a frozen feature extractor over all the model's domains: the network
    once, with the BNs of the `source` domain only (no domain adapts them), and one head per domain."""
    counts = count_parameters(model)
    return counts["total"] - counts["norm"] + count_parameters(model, [source])["norm"]
